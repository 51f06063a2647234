"""Files that change after their partition was processed are reported once and can be reprocessed."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli.main import main
from tests.conftest import query

CORE = ("border_crossings", "identity_tokens", "person_keys", "crossing_classification", "person_stays")


def _core(warehouse: Path) -> dict[str, list[tuple[object, ...]]]:
    return {
        t: query(warehouse, f"SELECT * EXCLUDE (run_id) FROM {t} ORDER BY ALL")
        if t == "border_crossings"
        else query(warehouse, f"SELECT * FROM {t} ORDER BY ALL")
        for t in CORE
    }


@pytest.mark.slow
def test_a_restored_file_is_reported_once_and_reprocessing_reads_it(
    tmp_path: Path, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    landing, warehouse = tmp_path / "landing", tmp_path / "wh"
    window = ["--start", "2024-01-01", "--end", "2024-03-31"]
    assert main(["synth", "--out", str(landing), "--persons", "1500", *window, "--seed", "5"]) == 0
    (path,) = sorted((landing / "border" / "2024-02-10").iterdir())
    full = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(full[: 1 + (len(full) - 1) // 2]), encoding="utf-8")  # half the rows arrive first
    where = ["--landing", str(landing), "--warehouse", str(warehouse), "--key-file", str(key_file)]
    assert main(["run", "--date", "2024-03-31", *where, "--quiet"]) == 0
    partition = "SELECT count(*) FROM border_crossings WHERE partition_date = DATE '2024-02-10'"
    assert query(warehouse, partition) == [((len(full) - 1) // 2,)]
    capsys.readouterr()

    path.write_text("".join(full), encoding="utf-8")  # the whole file is delivered again
    assert main(["run", "--date", "2024-03-31", *where, "--quiet"]) == 4  # complete, with a warning
    err = capsys.readouterr().err
    rel = path.relative_to(landing).as_posix()
    assert err.count("re-delivery") == 1 and f"re-delivery: {rel} changed since it was ingested" in err
    assert main(["run", "--date", "2024-03-31", *where, "--quiet"]) == 0
    assert "re-delivery" not in capsys.readouterr().err  # reported once per content
    assert main(["status", "--warehouse", str(warehouse)]) == 0
    assert rel in capsys.readouterr().out  # whole, on one line (no wrapping when not on a terminal)

    reprocess = ["reprocess", "--source", "border", "--date", "2024-02-10", "--reason", "file restored", *where]
    assert main(reprocess) == 0
    assert query(warehouse, partition) == [(len(full) - 1,)]
    assert query(warehouse, "SELECT count(*) FROM meta_redeliveries WHERE reprocessed_at IS NULL") == [(0,)]
    linked = (
        "SELECT count(*) FROM border_crossings b LEFT JOIN person_keys p "
        "ON p.source = 'border' AND p.record_id = b.record_id WHERE p.person_key IS NULL"
    )
    assert query(warehouse, linked) == [(0,)]
    classified = "SELECT (SELECT count(*) FROM border_crossings) - (SELECT count(*) FROM crossing_classification)"
    assert query(warehouse, classified) == [(0,)]
    once = _core(warehouse)
    assert main(reprocess) == 0  # idempotent
    assert _core(warehouse) == once
    assert query(warehouse, "SELECT count(*), min(reason) FROM meta_reprocessed") == [(2, "file restored")]
