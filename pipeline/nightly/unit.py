"""A night as one unit: every step commits, or the warehouse is as it was before the night.

``migralink run`` chains ingest, linkage and histories. Each step commits its own DuckDB transaction (training a
first model cannot run inside one: Splink's sampling aborts an enclosing transaction), so the night as a whole
is made atomic at the file level:

* before anything is written, what can be checked is checked: the warehouse directory is writable, ``reports``
  is a directory (or can be made), there is room for a snapshot;
* the warehouse is checkpointed and copied to ``.night-snapshot.duckdb`` beside it;
* reports are written to ``.night-reports/`` and moved into ``reports/`` only when every step has committed;
* on any failure the snapshot is put back (a warehouse the night created is removed), the staged reports are
  dropped, and a ``failed`` row is added to ``meta_runs`` so that ``status`` shows the night as failed;
* a snapshot left by a night that was killed is put back by the next night before it starts (and recorded).

The Airflow DAG runs the steps as separate tasks, each atomic on its own, and is cleared and re-run task by task.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from pipeline.errors import WarehouseError, environment_problem
from pipeline.warehouse.connection import DB_FILE, connect, transaction

SNAPSHOT = ".night-snapshot.duckdb"
STAGING = ".night-reports"
REPORTS = "reports"

log = logging.getLogger(__name__)


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def check_writable(warehouse: Path) -> None:
    """Refuse, before any work, a warehouse directory or reports directory the night could not write.

    Raises:
        WarehouseError: naming the directory and the problem.
    """
    reports = warehouse / REPORTS
    if warehouse.exists() and not warehouse.is_dir():
        raise WarehouseError(f"the warehouse path {warehouse} is not a directory")
    if warehouse.is_dir() and not os.access(warehouse, os.W_OK | os.X_OK):
        raise WarehouseError(f"the warehouse directory {warehouse} is not writable by this user")
    if reports.exists() and not reports.is_dir():
        raise WarehouseError(f"the reports path {reports} is not a directory: move it away")
    if reports.is_dir() and not os.access(reports, os.W_OK | os.X_OK):
        raise WarehouseError(f"the reports directory {reports} is not writable by this user")
    db = warehouse / DB_FILE
    if db.exists():
        need = db.stat().st_size + (_wal(db).stat().st_size if _wal(db).exists() else 0)
        free = shutil.disk_usage(warehouse).free
        if free < 2 * need:
            raise WarehouseError(
                f"not enough free disk space under {warehouse}: {free / 2**30:.1f} GiB free, the night needs about "
                f"{2 * need / 2**30:.1f} GiB (a snapshot of the warehouse and room to grow)"
            )


def _record_failed(warehouse: Path, run_date: dt.date, reason: str) -> None:
    con = connect(warehouse, create=False)
    try:
        with transaction(con):
            con.execute(
                "INSERT INTO meta_runs VALUES (?, ?, now(), now(), ?, NULL, NULL, NULL, NULL)",
                [uuid.uuid4().hex, run_date, f"failed: {reason}"[:200]],
            )
    finally:
        con.close()


def _put_back(warehouse: Path, *, existed: bool) -> None:
    db, snapshot = warehouse / DB_FILE, warehouse / SNAPSHOT
    _wal(db).unlink(missing_ok=True)
    if existed:
        os.replace(snapshot, db)
    else:
        db.unlink(missing_ok=True)


def recover_interrupted(warehouse: Path) -> bool:
    """Put back the snapshot a killed night left behind (its steps may have committed halfway); True if one was."""
    snapshot = warehouse / SNAPSHOT
    if not snapshot.exists():
        return False
    log.warning("a night was interrupted: the warehouse is put back as it was before that night")
    _put_back(warehouse, existed=True)
    _record_failed(warehouse, dt.datetime.now(dt.UTC).date(), "interrupted, rolled back by the next night")
    shutil.rmtree(warehouse / STAGING, ignore_errors=True)
    return True


@contextlib.contextmanager
def night_unit(warehouse: Path, run_date: dt.date) -> Iterator[Path]:
    """Run the block as one unit over ``warehouse``; yields the directory the night's reports go to (published
    into ``reports/`` when the block succeeds). See the module docstring."""
    check_writable(warehouse)
    recover_interrupted(warehouse)
    db, snapshot, staging = warehouse / DB_FILE, warehouse / SNAPSHOT, warehouse / STAGING
    existed = db.exists()
    if existed:
        con = connect(warehouse, create=False)
        try:
            con.execute("CHECKPOINT")
        finally:
            con.close()
        shutil.copyfile(db, snapshot)
    shutil.rmtree(staging, ignore_errors=True)
    warehouse.mkdir(mode=0o700, parents=True, exist_ok=True)
    staging.mkdir()
    try:
        yield staging
        reports = warehouse / REPORTS
        reports.mkdir(exist_ok=True)
        for staged in sorted(staging.iterdir()):
            os.replace(staged, reports / staged.name)
    except BaseException as exc:
        _put_back(warehouse, existed=existed)
        if existed:
            with contextlib.suppress(Exception):  # the original error is the one to report
                problem = environment_problem(exc)  # its name only, without the file: "the disk is full"
                _record_failed(warehouse, run_date, re.split(r" \(|;", problem)[0] if problem else type(exc).__name__)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        snapshot.unlink(missing_ok=True)
