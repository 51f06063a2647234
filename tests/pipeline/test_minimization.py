"""Minimization: contract columns no registered purpose (and no step of the pipeline) needs are not stored."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipeline.cli.main import main
from pipeline.ingest.minimization import plan
from pipeline.warehouse.connection import DB_FILE
from privacy.register import load_register
from tests.conftest import WriteCsv, row

CANARIES = {"port": "QZXPORT", "doc_type": "QZXDOC", "region": "QZXREGION"}


def every_cell(warehouse: Path, leave_out: tuple[str, ...] = ()) -> str:
    """Every value of every table of the warehouse (but ``leave_out``), as one text."""
    con = duckdb.connect(str(warehouse / DB_FILE), read_only=True)
    try:
        tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall() if t not in leave_out]
        return "\n".join(str(con.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables)
    finally:
        con.close()


def test_the_default_register_drops_port_document_type_and_region_and_says_why() -> None:
    decisions = {(d.source, d.column): d for d in plan(load_register())}
    assert [k for k, d in decisions.items() if not d.kept] == [
        ("border", "port"),
        ("border", "doc_type"),
        ("permit", "region"),
    ]
    assert "no registered purpose uses it" in decisions[("border", "port")].why
    assert "order a person's crossings within a day" in decisions[("border", "crossing_time")].why
    assert "public-migration-statistics (stat_first_permits by reason)" in decisions[("permit", "reason")].why


def test_dropped_columns_exist_nowhere_in_the_warehouse(
    write_csv: WriteCsv, tmp_path: Path, landing: Path, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_csv("border", "2024-01-02", [row("border", port=CANARIES["port"], doc_type=CANARIES["doc_type"])])
    write_csv("permit", "2024-01-02", [row("permit", region=CANARIES["region"])])
    warehouse = tmp_path / "wh"
    argv = ["run", "--date", "2024-01-02", "--landing", str(landing), "--warehouse", str(warehouse)]
    assert main([*argv, "--key-file", str(key_file)]) in (0, 4)
    out = capsys.readouterr().out
    assert "minimization: not stored: border.port: no registered purpose uses it" in out
    cells = every_cell(warehouse, leave_out=("meta_feed_volumes",))
    assert not [name for name, value in CANARIES.items() if value in cells]
    con = duckdb.connect(str(warehouse / DB_FILE), read_only=True)
    try:
        # The quality gates keep one daily count per port (a place, not a person): the only trace of the column.
        assert con.execute(
            "SELECT feed_column, feed, rows_accepted FROM meta_feed_volumes WHERE source = 'border'"
        ).fetchall() == [("port", CANARIES["port"], 1)]
        recorded = con.execute(
            "SELECT source, column_name, action FROM meta_minimization ORDER BY source, column_name"
        ).fetchall()
        stored = con.execute("SELECT count(*) FROM border_crossings").fetchall()[0][0]
    finally:
        con.close()
    assert stored == 1
    assert recorded == [
        ("border", "doc_type", "dropped"),
        ("border", "port", "dropped"),
        ("permit", "region", "dropped"),
    ]


def test_a_purpose_that_needs_a_dropped_column_says_it_takes_effect_from_then_on(
    write_csv: WriteCsv,
    tmp_path: Path,
    landing: Path,
    key_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A register without first permits by reason drops the permit's reason; the default one stores it again."""
    default = load_register().path
    assert default is not None
    narrower = tmp_path / "purposes.toml"
    narrower.write_text(default.read_text().replace('reason = "full", ', ""), encoding="utf-8")
    monkeypatch.setenv("MIGRALINK_PURPOSES", str(narrower))
    warehouse = tmp_path / "wh"
    where = ["--landing", str(landing), "--warehouse", str(warehouse), "--key-file", str(key_file)]
    write_csv("permit", "2024-01-02", [row("permit", reason="family")])
    assert main(["run", "--date", "2024-01-02", *where]) in (0, 4)
    assert "permit.reason: no registered purpose uses it" in capsys.readouterr().out
    monkeypatch.delenv("MIGRALINK_PURPOSES")
    write_csv("permit", "2024-01-03", [row("permit", record_id="P9", reason="education")])
    assert main(["run", "--date", "2024-01-03", *where]) in (0, 4)
    out = capsys.readouterr().out
    assert "minimization: permit.reason is stored again from this run (2024-01-03) on, used by " in out
    assert "records ingested before were stored without it (last dropped by the run of 2024-01-02)" in out
    con = duckdb.connect(str(warehouse / DB_FILE), read_only=True)
    try:
        reasons = con.execute("SELECT record_id, reason FROM residence_permits ORDER BY 1").fetchall()
    finally:
        con.close()
    assert reasons == [(row("permit")["record_id"], None), ("P9", "education")]
