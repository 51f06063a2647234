"""A night as one unit: every step commits, or the warehouse is as it was before the night.

``migralink run`` chains ingest, linkage and histories. Each step commits its own DuckDB transaction (training a
first model cannot run inside one: Splink's sampling aborts an enclosing transaction), so the night as a whole
is made atomic at the file level:

* before anything is written, what can be checked is checked: the warehouse directory is writable, ``reports``
  is a directory (or can be made), there is room for a snapshot;
* the warehouse is checkpointed and its snapshot, ``.night-snapshot.duckdb`` beside it, is made from the
  warehouse's mirror (:mod:`pipeline.warehouse.mirror`: the copy kept level with the warehouse after each
  night, renamed into the snapshot, so that a night does not copy the whole file); the snapshot appears only
  whole, so a night killed while making it leaves none to put back; a night that creates the warehouse marks
  that instead (``.night-new-warehouse``);
* over an existing warehouse, one connection is held open for the whole night, so that the steps' own
  connections share one DuckDB instance (nothing is reopened or checkpointed between steps); what the night
  does last and needs no database (the quality gates' Data Docs) runs in a thread while that connection is let
  go and DuckDB checkpoints the night's changes (it lets go of the GIL meanwhile), and is done before the night
  commits: its failure fails the night;
* reports are written to ``.night-reports/`` and moved into ``reports/`` only when every step has committed;
* on any failure the snapshot is put back (a warehouse the night created is removed), the staged reports are
  dropped, the release files the night placed are removed (the ledger that recorded them is put back without
  them), and a ``failed`` row is added to ``meta_runs`` so that ``status`` shows the night as failed;
* a snapshot left by a night that was killed is put back by the next night before it starts (and recorded), its
  staged reports and release files dropped likewise; a warehouse a killed night was creating is removed.

The Airflow DAG runs the same unit across its tasks: its first task calls :func:`begin_night`, the steps write
their reports to the staging directory, and its last task calls :func:`commit_night`. A task that fails may be
retried or cleared and re-run (each step is idempotent and commits on its own); a DAG run that ends failed
leaves its snapshot, and the next night (or the run cleared as a whole) puts the warehouse back first.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
import os
import re
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb

from pipeline.errors import WarehouseError, environment_problem
from pipeline.warehouse import mirror
from pipeline.warehouse.connection import DB_FILE, connect, transaction
from pipeline.warehouse.lock import write_lock
from privacy.audit.log import append as audit

SNAPSHOT = ".night-snapshot.duckdb"
NEW_WAREHOUSE = ".night-new-warehouse"  # marks a night that creates the warehouse (it has no snapshot to put back)
STAGING = ".night-reports"
REPORTS = "reports"
NIGHT_CHECKPOINT_THRESHOLD = "1GB"  # the write-ahead log a held night lets grow before DuckDB checkpoints on its own

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
        free = shutil.disk_usage(warehouse).free + mirror.size(warehouse)  # the mirror becomes the snapshot
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
            audit(con, "run_failed", command="run", reason=reason[:200], run_date=run_date.isoformat())
    finally:
        con.close()


def _put_back(warehouse: Path, *, existed: bool) -> None:
    db, snapshot = warehouse / DB_FILE, warehouse / SNAPSHOT
    _wal(db).unlink(missing_ok=True)
    if existed:
        os.replace(snapshot, db)
    else:
        db.unlink(missing_ok=True)


def _night_began(warehouse: Path) -> int | None:
    """When the night that is open over ``warehouse`` began (its snapshot's or mark's time, in ns), or None."""
    for mark in (warehouse / SNAPSHOT, warehouse / NEW_WAREHOUSE):
        with contextlib.suppress(FileNotFoundError):
            return mark.stat().st_mtime_ns
    return None


def _drop_unrecorded_releases(warehouse: Path, since_ns: int) -> None:
    """Remove the release files a night that is rolled back placed (from ``since_ns`` on): the ledger put back
    does not record them, and a re-run, or a later night, must not find them as if released."""
    from pipeline.publish.files import discard_unrecorded

    recorded: set[str] = set()
    if (warehouse / DB_FILE).exists():
        con = connect(warehouse, create=False)
        try:
            recorded = {r for (r,) in con.execute("SELECT DISTINCT release_id FROM release_ledger").fetchall()}
        finally:
            con.close()
    for path in discard_unrecorded(warehouse / "published", recorded, since_ns):
        log.info("removed %s: a release of the night that was rolled back, not in the ledger", path)


def recover_interrupted(warehouse: Path) -> bool:
    """Put back the snapshot a killed night left behind (its steps may have committed halfway), or remove the
    warehouse a killed night was creating; True if there was such a night."""
    # a half copy left by a night killed while copying its snapshot whole (before the mirror): nothing was written
    (warehouse / f"{SNAPSHOT}.partial").unlink(missing_ok=True)
    began = _night_began(warehouse)
    if began is None:
        return False
    if (warehouse / SNAPSHOT).exists():
        log.warning("a night was interrupted: the warehouse is put back as it was before that night")
        _put_back(warehouse, existed=True)
        _record_failed(warehouse, dt.datetime.now(dt.UTC).date(), "interrupted, rolled back by the next night")
    else:  # there was no warehouse before it: nothing to put back, and nowhere to record the interruption
        log.warning("the night that was creating the warehouse was interrupted: what it had written is removed")
        _put_back(warehouse, existed=False)
    (warehouse / NEW_WAREHOUSE).unlink(missing_ok=True)
    shutil.rmtree(warehouse / STAGING, ignore_errors=True)
    _drop_unrecorded_releases(warehouse, began)
    return True


def _checkpoint(warehouse: Path) -> None:
    con = connect(warehouse, create=False)
    try:
        con.execute("CHECKPOINT")
    finally:
        con.close()


def begin_night(warehouse: Path) -> Path:
    """Open a night over ``warehouse``: check it can be written, put back a night that was interrupted, snapshot
    the warehouse and make an empty staging directory for the night's reports, which it returns."""
    check_writable(warehouse)
    recover_interrupted(warehouse)
    db, snapshot, staging = warehouse / DB_FILE, warehouse / SNAPSHOT, warehouse / STAGING
    warehouse.mkdir(mode=0o700, parents=True, exist_ok=True)
    if db.exists():
        _checkpoint(warehouse)
        written = mirror.take(warehouse, db, snapshot)  # the snapshot exists whole or not at all
        log.info("snapshot taken: %.1f MB of the %.1f MB warehouse copied", written / 1e6, db.stat().st_size / 1e6)
    else:
        (warehouse / NEW_WAREHOUSE).touch()
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return staging


def commit_night(warehouse: Path) -> list[Path]:
    """Close a night whose every step committed: move its staged reports into ``reports/``, and turn the snapshot
    into the warehouse's mirror, levelled with the warehouse as the night left it (for the next night's snapshot).

    Returns the reports published. A night that was not begun (no staging directory) publishes nothing."""
    staging, reports = warehouse / STAGING, warehouse / REPORTS
    published = []
    if staging.is_dir():
        reports.mkdir(exist_ok=True)
        for staged in sorted(staging.iterdir()):
            os.replace(staged, reports / staged.name)
            published.append(reports / staged.name)
    shutil.rmtree(staging, ignore_errors=True)
    db, snapshot, new = warehouse / DB_FILE, warehouse / SNAPSHOT, warehouse / NEW_WAREHOUSE
    opened = snapshot.exists() or new.exists()
    if opened and _wal(db).exists():
        _checkpoint(warehouse)  # while the night can still be put back: a checkpoint can fail (a full disk)
    mirror.adopt(warehouse, snapshot)  # the night is closed once neither its snapshot nor its mark is there
    new.unlink(missing_ok=True)
    if opened and db.exists():
        try:
            written = mirror.level(warehouse, db)
        except OSError as exc:  # the night stands; only the next night's snapshot costs a whole copy
            mirror.discard(warehouse)
            log.warning("the warehouse's mirror could not be levelled (%s): the next night copies it whole", exc)
        else:
            log.info("mirror levelled with the warehouse: %.1f MB written", written / 1e6)
    return published


def fail_night(warehouse: Path, run_date: dt.date, exc: BaseException) -> None:
    """Undo a night that failed: put the snapshot back (remove a warehouse the night created), drop the staged
    reports and the release files it placed, and record the failure in ``meta_runs`` (the environment problem's
    name, else the error's type)."""
    existed = (warehouse / SNAPSHOT).exists()
    began = _night_began(warehouse)
    if began is None:  # no night is open (it had committed before the failure): nothing to put back or remove
        return
    _put_back(warehouse, existed=existed)
    (warehouse / NEW_WAREHOUSE).unlink(missing_ok=True)
    shutil.rmtree(warehouse / STAGING, ignore_errors=True)
    with contextlib.suppress(Exception):  # the original error is the one to report
        _drop_unrecorded_releases(warehouse, began)
    if existed:
        with contextlib.suppress(Exception):  # the original error is the one to report
            problem = environment_problem(exc)  # its name only, without the file: "the disk is full"
            _record_failed(warehouse, run_date, re.split(r" \(|;", problem)[0] if problem else type(exc).__name__)


@contextlib.contextmanager
def night_unit(
    warehouse: Path, run_date: dt.date, command: str = "run", *, closing: Callable[[], None] | None = None
) -> Iterator[Path]:
    """Run the block as one unit over ``warehouse``; yields the directory the night's reports go to (published
    into ``reports/`` when the block succeeds). See the module docstring. The warehouse's writer lease
    (:mod:`pipeline.warehouse.lock`) is held for the whole night.

    ``closing``, called when the block has succeeded, is the night's last work: it must not use the database. It
    runs beside the night's checkpoint, and the night commits only when it has returned."""
    with write_lock(warehouse, command), _older_objects_frozen():
        staging = begin_night(warehouse)
        held = _hold_open(warehouse)
        try:
            yield staging
            _let_go_beside(held, closing)
            commit_night(warehouse)
        except BaseException as exc:
            with contextlib.suppress(Exception):  # the original error is the one to report (closing twice is a no-op)
                _let_go(held)
            fail_night(warehouse, run_date, exc)
            raise


@contextlib.contextmanager
def _older_objects_frozen() -> Iterator[None]:
    """Within the block, the objects that were there before it (the modules imported, a process's earlier nights)
    are left out of Python's cyclic garbage collection (``gc.freeze``), and given back to the collector when the
    block ends, however it ends (``gc.unfreeze``). A full collection walks every tracked object: in an increment
    against 1,000,000 records the collector took 0.28 s, most of it walking the imported libraries' objects (Great
    Expectations, Splink, Altair: one full collection of them alone takes 0.21-0.25 s), and 0.04 s with them
    frozen. Nothing is lost: garbage that arises during the night is collected as before, and garbage from before
    it is collected once the block has ended."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _hold_open(warehouse: Path) -> duckdb.DuckDBPyConnection | None:
    """A connection held open across the steps of a night over an existing warehouse (none for a night that
    creates it). Every step's connection then joins the same DuckDB database instance: no step reopens the file
    (its catalog, the schema check) or checkpoints as it closes; the night's changes are checkpointed once, when
    it lets go (the log is let grow to :data:`NIGHT_CHECKPOINT_THRESHOLD` before DuckDB checkpoints on its own). A
    night that creates the warehouse, the heaviest, holds none: each step's memory goes back to the
    system as the step closes its connection."""
    if not (warehouse / SNAPSHOT).exists():
        return None
    con = connect(warehouse, create=False)
    # Nor checkpoint when a step's commit takes the log past DuckDB's 16 MB: the history step's commit would
    # checkpoint the linkage's changes too (its step took 3.1 s instead of 1.2 s in an increment against 1M records).
    con.execute(f"SET checkpoint_threshold = '{NIGHT_CHECKPOINT_THRESHOLD}'")
    return con


def _let_go_beside(held: duckdb.DuckDBPyConnection | None, work: Callable[[], None] | None) -> None:
    """Let go of ``held`` while ``work`` runs in a thread; raise what ``work`` raised once both are done (the
    thread never outlives the call, so a failure puts the night back with nothing still writing)."""
    if work is None:
        _let_go(held)
        return
    raised: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # handed to the night's thread, which fails the night with it
            raised.append(exc)

    thread = threading.Thread(target=run, name="night-closing")
    thread.start()
    try:
        _let_go(held)
    finally:
        thread.join()
    if raised:
        raise raised[0]


def _let_go(held: duckdb.DuckDBPyConnection | None) -> None:
    """Close what :func:`_hold_open` opened (the last connection: DuckDB checkpoints the night's changes)."""
    if held is not None:
        held.close()
