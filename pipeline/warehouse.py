"""The DuckDB warehouse: schema, connection, and the key it was built with.

Tables (``meta_*`` are bookkeeping; record tables hold only pseudonyms and coarse attributes):

* ``meta_runs``: one row per run (counts, status).
* ``meta_partitions``: every processed landing partition with rows read, accepted, quarantined.
* ``meta_files``: every landing file ingested, with its size and SHA-256.
* ``meta_keys``: the key id, versions and fingerprints that produced the pseudonyms.
* ``border_crossings``, ``visa_decisions``, ``residence_permits``: accepted records.
* ``quarantine``: rejected rows with their reason; the row itself is sealed (AES-GCM). ``resolved_at`` and
  ``resolution`` are set when an operator replays or discards the row.
* ``meta_pending_tokens``: pseudonym columns added to an existing warehouse by a migration (:func:`migrate`) and
  still empty; ``migralink keys rekey`` fills them and clears the list.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import duckdb

from linkage.input import INPUT_TABLE, RECORDS_TABLE, TF_KEY_COLUMNS
from linkage.input import TOKEN_COLUMNS as LINKAGE_TOKEN_COLUMNS
from pipeline.errors import WarehouseError
from privacy.errors import KeyMismatchError
from privacy.keys import Keyring, verify_fingerprint
from privacy.tokens import ALL_TOKENS

DB_FILE = "migralink.duckdb"

log = logging.getLogger(__name__)

_COMMON = """
    birth_year INTEGER, sex VARCHAR, nationality VARCHAR, doc_issuing_country VARCHAR,
    partition_date DATE NOT NULL, run_id VARCHAR NOT NULL
"""
_TOKEN_COLUMNS = ", ".join(f"{spec.column} {spec.sql_type}" for spec in ALL_TOKENS)

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS meta_runs (
        run_id VARCHAR PRIMARY KEY, run_date DATE NOT NULL, started_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP, status VARCHAR NOT NULL, partitions INTEGER, rows_read BIGINT,
        rows_accepted BIGINT, rows_quarantined BIGINT)""",
    """CREATE TABLE IF NOT EXISTS meta_partitions (
        source VARCHAR NOT NULL, partition_date DATE NOT NULL, files INTEGER NOT NULL,
        rows_read BIGINT NOT NULL, rows_accepted BIGINT NOT NULL, rows_quarantined BIGINT NOT NULL,
        run_id VARCHAR NOT NULL, processed_at TIMESTAMP NOT NULL, PRIMARY KEY (source, partition_date))""",
    """CREATE TABLE IF NOT EXISTS meta_files (
        source VARCHAR NOT NULL, partition_date DATE NOT NULL, file VARCHAR NOT NULL,
        bytes BIGINT NOT NULL, sha256 VARCHAR NOT NULL, rows_read BIGINT NOT NULL, run_id VARCHAR NOT NULL,
        PRIMARY KEY (file))""",
    """CREATE TABLE IF NOT EXISTS meta_keys (
        key_id VARCHAR NOT NULL, version INTEGER NOT NULL, fingerprint VARCHAR NOT NULL,
        active BOOLEAN NOT NULL, registered_at TIMESTAMP NOT NULL, retired_at TIMESTAMP,
        PRIMARY KEY (key_id, version))""",
    # The key version every pseudonym in the warehouse is made with (one at a time; rekey moves it).
    """CREATE TABLE IF NOT EXISTS meta_token_version (version INTEGER NOT NULL, since TIMESTAMP NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS border_crossings (
        record_id VARCHAR PRIMARY KEY, direction VARCHAR NOT NULL, crossing_time TIMESTAMP NOT NULL,
        crossing_date DATE NOT NULL, port VARCHAR, doc_type VARCHAR, {_COMMON})""",
    f"""CREATE TABLE IF NOT EXISTS visa_decisions (
        record_id VARCHAR PRIMARY KEY, visa_category VARCHAR, decision VARCHAR NOT NULL,
        decision_date DATE NOT NULL, valid_from DATE, valid_until DATE, {_COMMON})""",
    f"""CREATE TABLE IF NOT EXISTS residence_permits (
        record_id VARCHAR PRIMARY KEY, permit_type VARCHAR, reason VARCHAR, issue_date DATE NOT NULL,
        valid_from DATE, valid_until DATE, country_of_birth VARCHAR, region VARCHAR, {_COMMON})""",
    # Linkage zone: pseudonyms per record (what linkage compares) and the sealed identifiers they came from
    # (one AES-GCM blob per source, partition and run: what a rekey re-derives the pseudonyms from).
    # (source, record_id) is unique through the record tables' primary keys; no second index is kept here.
    f"""CREATE TABLE IF NOT EXISTS identity_tokens (
        source VARCHAR NOT NULL, record_id VARCHAR NOT NULL, key_version INTEGER NOT NULL, {_TOKEN_COLUMNS})""",
    """CREATE TABLE IF NOT EXISTS identity_vault (
        source VARCHAR NOT NULL, partition_date DATE NOT NULL, run_id VARCHAR NOT NULL, records BIGINT NOT NULL,
        key_version INTEGER NOT NULL, sealed_identities BLOB NOT NULL, PRIMARY KEY (source, partition_date, run_id))""",
    """CREATE TABLE IF NOT EXISTS quarantine (
        quarantine_id VARCHAR PRIMARY KEY, source VARCHAR NOT NULL, partition_date DATE NOT NULL,
        file VARCHAR NOT NULL, line BIGINT NOT NULL, record_id VARCHAR, reason VARCHAR NOT NULL,
        sealed_row BLOB NOT NULL, key_version INTEGER NOT NULL, run_id VARCHAR NOT NULL,
        quarantined_at TIMESTAMP NOT NULL, resolved_at TIMESTAMP, resolution VARCHAR)""",
]

SCHEMA += [
    """CREATE TABLE IF NOT EXISTS meta_replays (
        run_id VARCHAR PRIMARY KEY, replayed_at TIMESTAMP NOT NULL, file VARCHAR NOT NULL,
        rows BIGINT NOT NULL, replayed BIGINT NOT NULL, still_invalid BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS meta_retention (
        source VARCHAR NOT NULL, partition_date DATE NOT NULL, action VARCHAR NOT NULL, files INTEGER NOT NULL,
        bytes BIGINT NOT NULL, archive_file VARCHAR, run_id VARCHAR NOT NULL, by_user VARCHAR NOT NULL,
        recorded_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS meta_pending_tokens (column_name VARCHAR PRIMARY KEY, added_at TIMESTAMP NOT NULL)""",
]

RECORD_TABLES = {"border": "border_crossings", "visa": "visa_decisions", "permit": "residence_permits"}


def connect(warehouse: Path, *, create: bool = True) -> duckdb.DuckDBPyConnection:
    """Open (and by default create) the warehouse database under directory ``warehouse``."""
    path = warehouse / DB_FILE
    if not create and not path.exists():
        raise WarehouseError(f"no warehouse at {warehouse} (run `migralink run` first)")
    try:
        warehouse.mkdir(mode=0o700, parents=True, exist_ok=True)
        con = duckdb.connect(str(path))
        for private in (path, path.with_name(path.name + ".wal")):
            if private.exists():
                os.chmod(private, 0o600)  # the linkage zone is for the linkage unit only
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise WarehouseError(f"the warehouse at {warehouse} is in use by another process") from None
        raise WarehouseError(f"cannot open the warehouse at {warehouse}: {exc}") from None
    except OSError as exc:
        raise WarehouseError(f"cannot create the warehouse directory {warehouse}: {exc.strerror}") from None
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # the callers draw their own
    for ddl in SCHEMA:
        con.execute(ddl)
    migrate(con)
    return con


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str] | None:
    """The column names of ``table`` in the main schema, or None when there is no such table."""
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = ? AND NOT internal",
        [table],
    ).fetchall()
    return {name for (name,) in rows} or None


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Bring the tables of an existing warehouse to the current schema (idempotent; run by :func:`connect`).

    Pseudonym columns added since a warehouse was built (the per-field name encodings ``clk_family`` and
    ``clk_given``, for instance) are added to ``identity_tokens`` and, when linkage has run, to the linkage
    tables (``linkage_records``, ``linkage_input``) so that incremental nights still append to them; so are the
    linkage's term-frequency keys (:data:`linkage.input.TF_KEY_COLUMNS`), which the next full relink fills. The new
    columns are NULL for the existing records: linkage treats a missing value as missing (a null level), and
    ``migralink keys rekey`` derives them from the sealed identities. Columns added to an ``identity_tokens``
    that holds records are listed in ``meta_pending_tokens`` until then.

    Returns:
        The ``table.column`` names added (empty when the schema was current).
    """
    types = {spec.column: spec.sql_type for spec in ALL_TOKENS} | dict.fromkeys(TF_KEY_COLUMNS, "UBIGINT")
    linkage_columns = [*LINKAGE_TOKEN_COLUMNS, *TF_KEY_COLUMNS]
    wanted = {
        "identity_tokens": [spec.column for spec in ALL_TOKENS],
        RECORDS_TABLE: linkage_columns,
        INPUT_TABLE: linkage_columns,
    }
    added: list[str] = []
    for table, columns in wanted.items():
        present = _columns(con, table)
        if present is None:
            continue
        missing = [c for c in columns if c not in present]
        if not missing:
            continue
        pending = table == "identity_tokens" and con.execute("SELECT count(*) FROM identity_tokens").fetchall()[0][0]
        with transaction(con):
            for column in missing:
                con.execute(f'ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS "{column}" {types[column]}')
                if pending:
                    con.execute("INSERT OR IGNORE INTO meta_pending_tokens VALUES (?, now())", [column])
        added += [f"{table}.{c}" for c in missing]
    if added:
        log.info("warehouse migrated: added %s", ", ".join(added))
    return added


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: commit when the block ends normally, roll back on any exception."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


@contextlib.contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, data: object) -> Iterator[str]:
    """Expose a DataFrame or Arrow table to SQL as ``name`` for the duration of the block."""
    con.register(name, data)
    try:
        yield name
    finally:
        with contextlib.suppress(duckdb.Error):  # an aborted transaction refuses it; the original error wins
            con.unregister(name)


def verify_key(con: duckdb.DuckDBPyConnection, ring: Keyring) -> set[int]:
    """Refuse a key that is not the warehouse's key, without registering anything (read only).

    Returns the key versions the warehouse knows and has not retired.

    Raises:
        KeyMismatchError: the warehouse was built with another key, or ``ring`` lacks a version in use.
    """
    rows = con.execute("SELECT key_id, version, fingerprint FROM meta_keys WHERE retired_at IS NULL").fetchall()
    for key_id, version, fingerprint in rows:
        if key_id != ring.key_id:
            raise KeyMismatchError(
                "the key offered is not the key this warehouse was built with; "
                "use the original key file (pseudonyms made with another key would not link)"
            )
        verify_fingerprint(ring, version, fingerprint)
    return {version for _k, version, _f in rows}


def check_key(con: duckdb.DuckDBPyConnection, ring: Keyring) -> int:
    """Register the key on first use; afterwards refuse any other key (constant-time comparison).

    New versions of the same key (after ``keys rotate``) are registered. Returns the key version the
    warehouse's pseudonyms are made with, which new pseudonyms must use until a rekey moves them all.
    """
    known = verify_key(con, ring)
    retired = {v for (v,) in con.execute("SELECT version FROM meta_keys WHERE retired_at IS NOT NULL").fetchall()}
    new = [v for v in ring.versions if v.version not in known | retired]
    state = con.execute("SELECT version FROM meta_token_version").fetchall()
    if new or not state:
        with transaction(con):
            for v in new:
                con.execute(
                    "INSERT INTO meta_keys VALUES (?, ?, ?, ?, now(), NULL)",
                    [ring.key_id, v.version, ring.fingerprint(v.version), v.version == ring.active_version],
                )
            if not state:
                con.execute("INSERT INTO meta_token_version VALUES (?, now())", [ring.active_version])
                state = [(ring.active_version,)]
    return int(state[0][0])
