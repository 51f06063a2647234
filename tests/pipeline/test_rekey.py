"""Key rotation, rekey and retirement: pseudonyms move to the new version and still link the same records."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from pipeline.errors import PipelineError
from pipeline.ingest import ingest
from pipeline.rekey import rekey_warehouse, retire_check
from pipeline.warehouse import connect, transaction
from privacy.errors import InvalidCiphertext, KeyMismatchError
from privacy.keys import FileKeyProvider, retire_key_version, rotate_key_file
from privacy.sealing import Sealer
from privacy.tokens import ALL_TOKENS
from tests.conftest import WriteCsv, row

TOKEN_COLUMNS = [spec.column for spec in ALL_TOKENS]


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
