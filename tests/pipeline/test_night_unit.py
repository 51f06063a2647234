"""A night is one unit: a failure at any step leaves the warehouse as it was, reports appear only for a
committed night, and status shows the failed night."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from pipeline.cli.main import main
from pipeline.nightly.unit import SNAPSHOT, STAGING
from pipeline.warehouse.connection import DB_FILE


def _tables(warehouse: Path) -> dict[str, object]:
    """Every table's rows (sorted), except the run log and the privacy log."""
    con = duckdb.connect(str(warehouse / DB_FILE), read_only=True)
    try:
        names = [n for (n,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        return {
            n: con.execute(f'SELECT * FROM "{n}" ORDER BY ALL').fetchall()
            for n in names
            if n != "meta_runs" and not n.startswith("audit_")  # a failed night is logged as such
        }
    finally:
        con.close()


def _runs(warehouse: Path) -> list[str]:
    con = duckdb.connect(str(warehouse / DB_FILE), read_only=True)
    try:
        return [s for (s,) in con.execute("SELECT status FROM meta_runs ORDER BY started_at").fetchall()]
    finally:
        con.close()


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("unit")
    window = ["--start", "2024-01-01", "--end", "2024-03-31"]
    assert main(["synth", "--out", str(root / "landing"), "--persons", "1500", *window, "--seed", "3"]) == 0
    return root / "landing"


def _argv(landing: Path, warehouse: Path, key_file: Path, date: str) -> list[str]:
    where = ["--landing", str(landing), "--warehouse", str(warehouse), "--key-file", str(key_file)]
    return ["run", "--date", date, *where, "--quiet"]


def _spy_on_the_open_database(monkeypatch: pytest.MonkeyPatch, warehouse: Path) -> list[str]:
    """The publish step, first opening its own connection and noting the DuckDB setting a night over an existing
    warehouse sets on the database it holds open (a connection that joins it sees it; a database of its own
    would not)."""
    from pipeline.nightly import steps
    from pipeline.warehouse.connection import connect

    seen: list[str] = []
    real = steps.publish_step

    def publish_step(*args: object, **kwargs: object) -> object:
        con = connect(warehouse)
        try:
            seen.append(con.execute("SELECT current_setting('checkpoint_threshold')").fetchall()[0][0])
        finally:
            con.close()
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(steps, "publish_step", publish_step)
    return seen


def _held_setting() -> str:
    from pipeline.nightly.unit import NIGHT_CHECKPOINT_THRESHOLD

    con = duckdb.connect()
    try:
        default = con.execute("SELECT current_setting('checkpoint_threshold')").fetchall()[0][0]
        con.execute(f"SET checkpoint_threshold = '{NIGHT_CHECKPOINT_THRESHOLD}'")
        held = con.execute("SELECT current_setting('checkpoint_threshold')").fetchall()[0][0]
    finally:
        con.close()
    assert held != default
    return str(held)


@pytest.mark.slow
def test_a_step_that_fails_after_others_committed_leaves_the_warehouse_as_it_was(
    landing: Path, tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse = tmp_path / "wh"
    assert main(_argv(landing, warehouse, key_file, "2024-02-29")) == 0
    before, reports = _tables(warehouse), sorted(p.name for p in (warehouse / "reports").iterdir())

    def fail(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the histories step failed")

    monkeypatch.setattr("pipeline.nightly.steps.history_step", fail)  # after ingest and linkage committed
    assert main(_argv(landing, warehouse, key_file, "2024-03-31")) == 1
    assert "unexpected RuntimeError" in capsys.readouterr().err
    assert _tables(warehouse) == before
    assert sorted(p.name for p in (warehouse / "reports").iterdir()) == reports  # no report of the failed night
    assert _runs(warehouse)[-1] == "failed: RuntimeError"
    assert not (warehouse / SNAPSHOT).exists() and not (warehouse / STAGING).exists()
    assert main(["status", "--warehouse", str(warehouse)]) == 0
    assert "failed: RuntimeError" in capsys.readouterr().out

    monkeypatch.undo()
    seen = _spy_on_the_open_database(monkeypatch, warehouse)
    assert main(_argv(landing, warehouse, key_file, "2024-03-31")) == 0  # the same night, once fixed
    assert seen == [_held_setting()]  # the step's connection joined the database the night held open
    assert not (warehouse / (DB_FILE + ".wal")).exists()  # let go: checkpointed, nothing left open
    assert _runs(warehouse)[-1] == "success"
    assert any(name.startswith("statistics-2024-03-31") for name in (p.name for p in (warehouse / "reports").iterdir()))


@pytest.mark.slow
def test_a_reports_path_that_is_a_file_is_refused_before_any_work(
    landing: Path, tmp_path: Path, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse = tmp_path / "wh"
    assert main(_argv(landing, warehouse, key_file, "2024-01-31")) == 0
    shutil.rmtree(warehouse / "reports")
    (warehouse / "reports").write_text("not a directory")
    before = _tables(warehouse)
    assert main(_argv(landing, warehouse, key_file, "2024-02-29")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"migralink: error: the reports path {warehouse / 'reports'} is not a directory: move it away"]
    assert _tables(warehouse) == before


@pytest.mark.slow
def test_a_night_killed_halfway_is_rolled_back_by_the_next(
    landing: Path, tmp_path: Path, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse = tmp_path / "wh"
    assert main(_argv(landing, warehouse, key_file, "2024-01-31")) == 0
    before = _tables(warehouse)
    shutil.copyfile(warehouse / DB_FILE, warehouse / SNAPSHOT)  # as a night leaves it before its first step
    con = duckdb.connect(str(warehouse / DB_FILE))
    con.execute("DELETE FROM person_keys")  # ... and then half of its work, when it was killed
    con.close()
    assert main(["status", "--warehouse", str(warehouse)]) == 0
    capsys.readouterr()
    assert main(_argv(landing, warehouse, key_file, "2024-01-31")) == 0
    assert _tables(warehouse) == before
    assert "failed: interrupted, rolled back by the next night" in _runs(warehouse)


@pytest.mark.slow
def test_a_disk_that_fills_mid_night_is_named_and_the_warehouse_left_as_it_was(
    landing: Path, tmp_path: Path, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The night runs under a file size limit of the warehouse's current size: the snapshot fits, tonight's
    write-ahead log does not (as on a disk that fills during the night)."""
    import resource
    import signal
    import subprocess
    import sys

    warehouse = tmp_path / "wh"
    assert main(_argv(landing, warehouse, key_file, "2024-01-03")) == 0
    before, limit = _tables(warehouse), (warehouse / DB_FILE).stat().st_size

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    night = subprocess.run(  # switched as the other tests' nights: the gates' validation and the charts left out
        [sys.executable, "-m", "tests.plain_night", *_argv(landing, warehouse, key_file, "2024-03-31")],
        cwd=Path(__file__).resolve().parents[2],
        preexec_fn=limited,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert night.returncode == 1
    # The write that fails is the write-ahead log's or a checkpoint's into the warehouse file, whichever comes first.
    assert night.stderr.strip().splitlines() in [
        [
            f"migralink: error: a file reached the file size limit (writing {warehouse / DB_FILE}{suffix}); fix it "
            "and rerun (a failed night leaves the warehouse as it was)"
        ]
        for suffix in (".wal", "")
    ]
    assert _tables(warehouse) == before
    assert _runs(warehouse)[-1] == "failed: a file reached the file size limit"
