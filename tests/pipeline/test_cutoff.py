"""The night's cut-off: never after today, never after the newest partition unless stated complete, never
backwards without --full; a refused cut-off leaves the warehouse as it was."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import duckdb
import pytest

from pipeline.cli.main import main
from pipeline.ingest.landing import discover_partitions, newest_landed
from pipeline.nightly.cutoff import CutoffError, check_cutoff

D = dt.date.fromisoformat
TODAY = D("2026-11-30")


@pytest.mark.parametrize(
    ("night", "kwargs", "message"),
    [
        (D("3024-01-01"), {"newest": D("2024-08-31")}, "after today (2026-11-30, UTC)"),
        (D("2024-10-01"), {"newest": D("2024-09-30")}, "after the newest partition that has arrived (2024-09-30)"),
        (D("2024-10-05"), {"newest": D("2024-09-30"), "complete_through": D("2024-10-03")}, "newest partition"),
        (D("2024-08-01"), {"newest": D("2024-09-30"), "last": D("2024-09-30")}, "before the last cut-off"),
        (D("2024-08-01"), {"newest": None, "complete_through": D("2027-01-01")}, "--complete-through 2027-01-01"),
    ],
)
def test_refused_cutoffs(night: dt.date, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(CutoffError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_cutoff(night, today=TODAY, **kwargs)  # type: ignore[arg-type]


def test_the_newest_landed_partition_is_the_newest_one_with_a_landing_file(tmp_path: Path) -> None:
    """What the cut-off check reads (newest first, without listing every partition) is what
    :func:`discover_partitions` finds last among the partitions that hold files, for every cut-off."""
    files = {
        "border/2024-09-28/a.csv": "x",
        "border/2024-09-30/notes.txt": "not a landing file",  # no landing file: not a delivery
        "border/2024-10-02/.done": "",  # a marker only
        "border/2024-10-04/b.parquet": "x",
        "visa/2024-09-29/c.CSV": "x",
        "visa/2024-10-01/": None,  # empty
        "visa/2024-13-01/d.csv": "x",  # not a date
        "visa/.purge-2024-10-03-0123abcd/e.csv": "x",  # a purge's leftover
        "permit/2024-10-03": "a file, not a partition",
    }
    for name, text in files.items():
        path = tmp_path / name
        if text is None:
            path.mkdir(parents=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    for night in [D("2024-09-27") + dt.timedelta(days=n) for n in range(10)]:
        found = [p.date for p in discover_partitions(tmp_path, night).partitions if p.files]
        assert newest_landed(tmp_path, night) == max(found, default=None), night
    assert newest_landed(tmp_path, D("2024-10-03")) == D("2024-09-29")
    assert newest_landed(tmp_path, D("2024-10-04")) == D("2024-10-04")


@pytest.mark.parametrize(
    ("night", "kwargs"),
    [
        (D("2024-09-30"), {"newest": D("2024-09-30")}),
        (D("2024-10-03"), {"newest": D("2024-09-30"), "complete_through": D("2024-10-03")}),
        (D("2024-08-01"), {"newest": D("2024-09-30"), "last": D("2024-09-30"), "full": True}),
        (D("2024-09-30"), {"newest": D("2024-09-30"), "last": D("2024-09-30")}),  # the same night again
        (D("2024-01-01"), {"newest": None}),  # nothing has arrived: nothing can be finalized
    ],
)
def test_accepted_cutoffs(night: dt.date, kwargs: dict[str, object]) -> None:
    check_cutoff(night, today=TODAY, **kwargs)  # type: ignore[arg-type]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_the_command_line_refuses_a_bad_cutoff_and_changes_nothing(
    tmp_path: Path, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    landing, warehouse = tmp_path / "landing", tmp_path / "wh"
    synth = ["synth", "--out", str(landing), "--persons", "300", "--start", "2024-01-01", "--end", "2024-09-30"]
    assert main([*synth, "--seed", "11"]) == 0
    common = ["--landing", str(landing), "--warehouse", str(warehouse), "--key-file", str(key_file), "--quiet"]
    assert main(["run", "--date", "2024-08-31", *common]) == 0
    capsys.readouterr()
    before = _digest(warehouse / "migralink.duckdb")
    for date, message in (
        ("3024-01-01", "is after today"),
        ("2024-10-03", "after the newest partition that has arrived (2024-09-30)"),
        ("2024-08-30", "before the last cut-off (2024-08-31)"),
    ):
        assert main(["run", "--date", date, *common]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
        assert _digest(warehouse / "migralink.duckdb") == before
    assert main(["histories", "--date", "3024-01-01", "--warehouse", str(warehouse)]) == 1
    assert "is after today" in capsys.readouterr().err
    assert _digest(warehouse / "migralink.duckdb") == before

    # Quiet days stated complete are accepted and recorded; a full recompute may go back.
    assert main(["run", "--date", "2024-10-03", "--complete-through", "2024-10-03", *common]) == 4
    assert "no border data for 2024-10-03" in capsys.readouterr().err  # a daily feed silent: a warning
    assert main(["histories", "--date", "2024-09-15", "--full", "--warehouse", str(warehouse)]) == 0
    con = duckdb.connect(str(warehouse / "migralink.duckdb"), read_only=True)
    try:
        runs = con.execute("SELECT cutoff, mode, complete_through FROM history_runs ORDER BY finished_at").fetchall()
    finally:
        con.close()
    assert runs[-2:] == [(D("2024-10-03"), "incremental", D("2024-10-03")), (D("2024-09-15"), "full", None)]
