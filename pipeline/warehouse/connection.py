"""The DuckDB warehouse: opening it (read-write with migrations, or read only), transactions, and the key check.

One DuckDB file (mode 0600) under the warehouse directory. The tables are declared by the packages that own
them (:mod:`pipeline.warehouse.tables`, :mod:`linkage.schema`) and migrated by :mod:`pipeline.warehouse.schema`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb

from pipeline.errors import WarehouseError, environment_problem
from pipeline.warehouse import lock, schema
from pipeline.warehouse.memory import fix_mmap_threshold, memory_limit
from privacy.audit.log import append as audit
from privacy.errors import KeyMismatchError
from privacy.keys import Keyring, verify_fingerprint

DB_FILE = "migralink.duckdb"

log = logging.getLogger(__name__)


def connect(
    warehouse: Path,
    *,
    create: bool = True,
    read_only: bool = False,
    applied: list[str] | None = None,
    wait: float | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse database under directory ``warehouse``.

    For writing (the default) it is created when missing (unless ``create`` is False) and brought to the current
    schema (:func:`pipeline.warehouse.schema.migrate`). Read only (``status``, exports) it must exist and be at
    the current schema (:func:`pipeline.warehouse.schema.check`); nothing is written. ``applied``, when given,
    receives the migrations that ran. ``wait``: seconds to wait for another writer's lease (default
    ``MIGRALINK_LOCK_WAIT``, else 0). DuckDB's memory budget is ``MIGRALINK_MEMORY_LIMIT``
    (:func:`pipeline.warehouse.memory.memory_limit`).

    Raises:
        WarehouseError: no warehouse, locked by another process, or not readable.
        ConfigError: ``MIGRALINK_MEMORY_LIMIT`` is not a size.
        pipeline.warehouse.lock.WarehouseLocked: (read-write) another writer holds the warehouse's lease
            (:mod:`pipeline.warehouse.lock`) and did not let go within ``MIGRALINK_LOCK_WAIT`` seconds.
        privacy.errors.SchemaError: the warehouse is newer than this code, or (read only) not migrated yet.
    """
    fix_mmap_threshold()  # a long-lived process's heap would otherwise grow night after night
    budget = memory_limit()  # checked before anything is opened
    path = warehouse / DB_FILE
    if (read_only or not create) and not path.exists():
        raise WarehouseError(f"no warehouse at {warehouse} (run `migralink run` first)")
    if not read_only:
        lock.before_write(warehouse, wait=wait)
    try:
        if read_only:
            con = duckdb.connect(str(path), read_only=True)
        else:
            warehouse.mkdir(mode=0o700, parents=True, exist_ok=True)
            con = duckdb.connect(str(path))
            for private in (path, path.with_name(path.name + ".wal")):
                if private.exists():
                    os.chmod(private, 0o600)  # the linkage zone is for the linkage unit only
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise WarehouseError(f"the warehouse at {warehouse} is in use by another process") from None
        problem = environment_problem(exc)  # a corrupt or cut-short database file, a full disk, ...
        raise WarehouseError(f"cannot open the warehouse at {warehouse}: {problem or exc}") from None
    except OSError as exc:
        raise WarehouseError(f"cannot create the warehouse directory {warehouse}: {exc.strerror}") from None
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # the callers draw their own
    con.execute(f"SET memory_limit = '{budget}'")  # a checked size (pipeline.warehouse.memory): spills past it
    try:
        if read_only:
            schema.check(con)
        else:
            done = schema.migrate(con)
            if applied is not None:
                applied.extend(done)
    except duckdb.Error as exc:  # the first read of a damaged file fails here, not in duckdb.connect
        con.close()
        problem = environment_problem(exc)
        if problem is None:
            raise
        raise WarehouseError(f"cannot open the warehouse at {warehouse}: {problem}") from None
    except BaseException:
        con.close()
        raise
    return con


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


INSERT_CHUNK = 500  # rows per statement of insert_rows


def insert_rows(
    con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[Sequence[object]], *, then: str = ""
) -> None:
    """Insert ``rows`` (each the same number of values) into ``table`` with one statement per
    :data:`INSERT_CHUNK` rows; ``then`` adds SQL after each row's values (``now()``). DuckDB's ``executemany``
    runs one statement per row: 92 ms for a gate's 80 results, 9 ms as one statement."""
    if not rows:
        return
    one = "(" + ", ".join(["?"] * len(rows[0])) + (f", {then}" if then else "") + ")"
    for start in range(0, len(rows), INSERT_CHUNK):
        part = rows[start : start + INSERT_CHUNK]
        if any(len(row) != len(rows[0]) for row in part):
            raise ValueError(f"insert into {table}: rows of different lengths")
        con.execute(f"INSERT INTO {table} VALUES " + ", ".join([one] * len(part)), [v for row in part for v in row])


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
                audit(con, "key_registered", key_id=ring.key_id, key_version=v.version)
            if not state:
                con.execute("INSERT INTO meta_token_version VALUES (?, now())", [ring.active_version])
                state = [(ring.active_version,)]
    return int(state[0][0])
