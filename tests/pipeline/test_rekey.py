"""Key rotation, rekey and retirement: pseudonyms move to the new version and still link the same records.

Also the schema migration of an existing warehouse: pseudonym columns added since it was built (the per-field
name encodings) appear empty and ``rekey`` fills them from the sealed identities, with or without a new version.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from linkage.input import TF_KEY_COLUMNS
from linkage.schema import STATE_DDL, STATE_TABLE
from pipeline.errors import PipelineError
from pipeline.ingest.load import ingest
from pipeline.warehouse.connection import connect, transaction
from pipeline.warehouse.rekey import rekey_warehouse, retire_check
from pipeline.warehouse.schema import migrate
from privacy.errors import InvalidCiphertext, KeyMismatchError
from privacy.keys import FileKeyProvider, retire_key_version, rotate_key_file
from privacy.sealing import Sealer
from privacy.tokens import ALL_TOKENS
from tests.conftest import WriteCsv, row

TOKEN_COLUMNS = [spec.column for spec in ALL_TOKENS]
FIELD_CLKS = ("clk_family", "clk_given")  # added to existing warehouses by a migration


def _run(landing: Path, warehouse: Path, key_file: Path, day: str) -> None:
    con = connect(warehouse)
    try:
        ingest(con, landing=landing, run_date=dt.date.fromisoformat(day), ring=FileKeyProvider(key_file).load())
    finally:
        con.close()


def _groups(warehouse: Path) -> dict[str, set[frozenset[str]]]:
    """For each token column, which records share a value (the structure linkage relies on)."""
    con = duckdb.connect(str(warehouse / "migralink.duckdb"), read_only=True)
    try:
        out = {}
        for column in TOKEN_COLUMNS:
            rows = con.execute(
                f"SELECT list(source || ':' || record_id) FROM identity_tokens WHERE {column} IS NOT NULL "
                f"GROUP BY {column}"
            ).fetchall()
            out[column] = {frozenset(r[0]) for r in rows}
        return out
    finally:
        con.close()


def _values(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse / "migralink.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def rotated(write_csv: WriteCsv, landing: Path, tmp_path: Path, key_file: Path) -> Path:
    """A warehouse built with version 1, then a rotation and a night with new records."""
    warehouse = tmp_path / "wh"
    write_csv("border", "2024-01-01", [row("border"), row("border", record_id="B2", given_names="HANS-PETER")])
    write_csv("visa", "2024-01-01", [row("visa"), row("visa", record_id="V2", sex="?")])
    _run(landing, warehouse, key_file, "2024-01-01")
    rotate_key_file(key_file)
    write_csv("border", "2024-01-02", [row("border", record_id="B3", crossing_time="2024-01-02T08:00:00")])
    write_csv("permit", "2024-01-02", [row("permit")])
    _run(landing, warehouse, key_file, "2024-01-02")
    return warehouse


def test_runs_after_rotation_keep_the_warehouse_version_so_records_still_link(rotated: Path) -> None:
    assert set(_values(rotated, "SELECT DISTINCT key_version FROM identity_tokens")) == {(1,)}
    (same,) = _values(rotated, "SELECT count(DISTINCT tok_document) FROM identity_tokens WHERE source = 'border'")
    assert same == (1,)  # B1 (night 1) and B3 (after the rotation) share the document pseudonym
    assert _values(rotated, "SELECT version FROM meta_keys ORDER BY version") == [(1,), (2,)]


def test_rekey_moves_every_pseudonym_and_keeps_who_links_with_whom(rotated: Path, key_file: Path) -> None:
    before = _groups(rotated)
    old_tokens = set(_values(rotated, "SELECT tok_family_name FROM identity_tokens"))
    con = connect(rotated)
    try:
        summary = rekey_warehouse(con, FileKeyProvider(key_file).load())
    finally:
        con.close()
    assert (summary.from_version, summary.to_version, summary.records) == (1, 2, 5)
    assert summary.quarantine_rows == 1
    assert _values(rotated, "SELECT DISTINCT key_version FROM identity_tokens") == [(2,)]
    assert _values(rotated, "SELECT DISTINCT key_version FROM identity_vault") == [(2,)]
    assert _groups(rotated) == before
    assert not old_tokens & set(_values(rotated, "SELECT tok_family_name FROM identity_tokens"))
    assert _values(rotated, "SELECT count(*) FROM identity_tokens WHERE clk_family IS NULL OR clk_given IS NULL") == [
        (0,)
    ]
    ((part, file, line, blob),) = _values(rotated, "SELECT partition_date, file, line, sealed_row FROM quarantine")
    ring = FileKeyProvider(key_file).load()
    assert b"NGUYEN" in Sealer(ring, "quarantine").open(blob, aad=f"visa|{part}|{file}|{line}".encode())

    con = connect(rotated)
    try:
        assert rekey_warehouse(con, ring).nothing_to_do
        with transaction(con):
            retire_check(con, 1)
            retire_key_version(key_file, 1)
    finally:
        con.close()
    assert [v.version for v in FileKeyProvider(key_file).load().versions] == [2]


def test_retiring_a_version_in_use_is_refused(rotated: Path, key_file: Path) -> None:
    con = connect(rotated)
    try:
        with pytest.raises(PipelineError, match="still in use"), transaction(con):
            retire_check(con, 1)
    finally:
        con.close()
    assert [v.version for v in FileKeyProvider(key_file).load().versions] == [1, 2]


def test_a_key_file_without_the_version_in_use_is_refused(rotated: Path, key_file: Path) -> None:
    retire_key_version(key_file, 1)  # behind the warehouse's back
    con = connect(rotated)
    try:
        with pytest.raises(KeyMismatchError, match="lacks version 1"):
            rekey_warehouse(con, FileKeyProvider(key_file).load())
    finally:
        con.close()


def test_tampered_sealed_identities_stop_the_rekey_and_change_nothing(rotated: Path, key_file: Path) -> None:
    con = connect(rotated)
    try:
        con.execute(
            "UPDATE identity_vault SET sealed_identities = sealed_identities || '\\x00'::BLOB WHERE source = 'visa'"
        )
        before = con.execute("SELECT * FROM identity_tokens ORDER BY ALL").fetchall()
        with pytest.raises(InvalidCiphertext):
            rekey_warehouse(con, FileKeyProvider(key_file).load())
        assert con.execute("SELECT * FROM identity_tokens ORDER BY ALL").fetchall() == before
        assert con.execute("SELECT version FROM meta_token_version").fetchall() == [(1,)]
    finally:
        con.close()


def _old_schema(warehouse: Path) -> None:
    """Make ``warehouse`` look built before the per-field encodings (and the schema registry): no such columns,
    linkage tables without them, no recorded schema version."""
    con = duckdb.connect(str(warehouse / "migralink.duckdb"))
    try:
        con.execute("DROP TABLE meta_schema")
        for column in FIELD_CLKS:
            con.execute(f"ALTER TABLE identity_tokens DROP COLUMN {column}")
        for table in ("linkage_records", "linkage_input"):
            con.execute(f"CREATE TABLE {table} AS SELECT source, record_id, clk_name FROM identity_tokens")
        con.execute(STATE_DDL)
        con.execute(f"INSERT INTO {STATE_TABLE} VALUES ('model-1', 1, now())")
    finally:
        con.close()


def test_migration_adds_empty_field_encodings_and_rekey_fills_them_without_a_new_version(
    write_csv: WriteCsv, landing: Path, tmp_path: Path, key_file: Path
) -> None:
    warehouse = tmp_path / "wh"
    write_csv("border", "2024-01-01", [row("border"), row("border", record_id="B2", given_names="HANS-PETER")])
    write_csv("visa", "2024-01-01", [row("visa"), row("visa", record_id="V2", family_name="SCHMIDT")])
    _run(landing, warehouse, key_file, "2024-01-01")
    others = [c for c in TOKEN_COLUMNS if c not in FIELD_CLKS]
    everything = f"SELECT source, record_id, {', '.join(others + list(FIELD_CLKS))} FROM identity_tokens ORDER BY ALL"
    fresh = _values(warehouse, everything)
    _old_schema(warehouse)

    con = connect(warehouse)  # migrates
    try:
        assert migrate(con) == []  # idempotent
        assert con.execute(everything).fetchall() == [(*r[:-2], None, None) for r in fresh]
        pending = con.execute("SELECT column_name FROM meta_pending_tokens ORDER BY ALL").fetchall()
        assert pending == [(c,) for c in sorted(FIELD_CLKS)]
        for table in ("linkage_records", "linkage_input"):  # incremental nights can still append to them
            columns = {c for (c,) in con.execute(f"SELECT column_name FROM (DESCRIBE {table})").fetchall()}
            assert set(FIELD_CLKS) | set(TF_KEY_COLUMNS) <= columns  # and the frequency keys of the linkage

        summary = rekey_warehouse(con, FileKeyProvider(key_file).load())
        assert (summary.from_version, summary.to_version, summary.records) == (1, 1, 4)
        assert summary.filled_columns == tuple(sorted(FIELD_CLKS)) and not summary.nothing_to_do
        assert con.execute(everything).fetchall() == fresh  # the same key version gives the same pseudonyms
        assert con.execute("SELECT count(*) FROM meta_pending_tokens").fetchall() == [(0,)]
        assert con.execute(f"SELECT token_version FROM {STATE_TABLE}").fetchall() == [(None,)]  # full relink next
        assert rekey_warehouse(con, FileKeyProvider(key_file).load()).nothing_to_do
    finally:
        con.close()


def test_a_migrated_warehouse_keeps_ingesting_and_a_rotation_rekey_fills_the_new_columns(
    write_csv: WriteCsv, landing: Path, tmp_path: Path, key_file: Path
) -> None:
    warehouse = tmp_path / "wh"
    write_csv("border", "2024-01-01", [row("border")])
    _run(landing, warehouse, key_file, "2024-01-01")
    _old_schema(warehouse)
    write_csv("border", "2024-01-02", [row("border", record_id="B3", crossing_time="2024-01-02T08:00:00")])
    _run(landing, warehouse, key_file, "2024-01-02")  # new records get the new columns at once
    nulls = "SELECT record_id, clk_family IS NULL, clk_given IS NULL FROM identity_tokens ORDER BY ALL"
    assert _values(warehouse, nulls) == [("B1", True, True), ("B3", False, False)]
    rotate_key_file(key_file)
    con = connect(warehouse)
    try:
        summary = rekey_warehouse(con, FileKeyProvider(key_file).load())
    finally:
        con.close()
    assert (summary.from_version, summary.to_version, summary.records) == (1, 2, 2)
    assert _values(warehouse, nulls) == [("B1", False, False), ("B3", False, False)]
    (shared,) = _values(warehouse, "SELECT count(DISTINCT clk_family), count(DISTINCT clk_given) FROM identity_tokens")
    assert shared == (1, 1)  # the same names, the same encodings
