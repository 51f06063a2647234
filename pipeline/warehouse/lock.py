"""The warehouse's writer lease: one writer at a time, whether it is a ``migralink`` command or an Airflow DAG run.

DuckDB's own file lock only covers one open connection. A night is longer than that: ``migralink run`` opens the
warehouse many times, and an Airflow night is a chain of tasks, each its own process. Another writer slipping in
between two of them (a clerk's ``migralink review``, a second DAG run, a key rotation) would interleave with the
night. So the warehouse directory holds a lease, ``.writer.lock``, naming its holder:

* a **process** lease (``migralink`` commands): held for the length of the command; it is stale as soon as its
  process has gone (same host), so a killed command never blocks the next one;
* a **run** lease (a DAG run: ``migration_nightly/<run id>``): taken by ``begin_night`` and handed on from task to
  task (each task acts for it, :func:`acting_for`), released by ``commit_night`` or a held gate. It expires after
  its time to live; a DAG run that ended failed is released by the DAG's failure callback, or taken over by the
  next run of the DAG once Airflow says the holder is no longer running (:func:`acquire` with ``stale``).

Every read-write :func:`~pipeline.warehouse.connection.connect` checks the lease: while someone else holds it, the
connection waits up to ``MIGRALINK_LOCK_WAIT`` seconds (default 0) and then refuses with :class:`WarehouseLocked`,
one line naming the holder. Read-only connections (``status``, exports) never wait.

The lease file is only read and changed under an exclusive ``flock`` on it, so two writers cannot both take it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.errors import WarehouseError

LOCK_FILE = ".writer.lock"
WAIT_ENV = "MIGRALINK_LOCK_WAIT"
POLL_SECONDS = 0.5

log = logging.getLogger(__name__)

# Leases this process holds or acts for: warehouse directory -> holder -> depth of nesting.
_mine: dict[Path, dict[str, int]] = {}
# The ``migralink`` commands running in this process, and the warehouses they took on their first write.
_commands: list[tuple[str, list[Path]]] = []


class WarehouseLocked(WarehouseError):
    """Another writer holds the warehouse's lease. Transient: waiting (or retrying) is the remedy."""


@dataclass(frozen=True)
class Lease:
    """Who holds the warehouse and since when."""

    holder: str
    kind: str  # "process" or "run"
    command: str
    host: str
    pid: int
    since: str
    expires: str | None = None

    def describe(self) -> str:
        """``migralink run (pid 123 on host db1) since 02:00:04 UTC``: one line, no data."""
        since = self.since[:19].replace("T", " ")
        if self.kind == "run":
            return f"the Airflow run {self.holder} ({self.command}) since {since} UTC"
        return f"`migralink {self.command}` (pid {self.pid} on {self.host}) since {since} UTC"

    def stale(self, now: dt.datetime) -> bool:
        """A process lease whose process is gone (same host), or any lease past its expiry."""
        if self.expires is not None and dt.datetime.fromisoformat(self.expires) <= now:
            return True
        return self.kind == "process" and self.host == socket.gethostname() and not _alive(self.pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_holder() -> str:
    """The holder name of a lease held by this process."""
    return f"pid:{os.getpid()}@{socket.gethostname()}"


def default_wait() -> float:
    """Seconds a writer waits for the lease: ``MIGRALINK_LOCK_WAIT``, else 0 (refuse at once)."""
    text = os.environ.get(WAIT_ENV, "").strip()
    try:
        return max(0.0, float(text)) if text else 0.0
    except ValueError:
        raise WarehouseError(f"{WAIT_ENV} must be a number of seconds, not {text!r}") from None


@contextlib.contextmanager
def _guarded(warehouse: Path) -> Iterator[int]:
    if warehouse.exists() and not warehouse.is_dir():
        raise WarehouseError(f"the warehouse path {warehouse} is not a directory")
    try:
        warehouse.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(warehouse / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    except PermissionError:
        raise WarehouseError(f"the warehouse directory {warehouse} is not writable by this user") from None
    except OSError as exc:
        raise WarehouseError(f"cannot take the writer lock in {warehouse}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # closing releases the flock


def _read(fd: int) -> Lease | None:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 65536).decode("utf-8", errors="replace").strip()
    if not text:
        return None
    try:
        return Lease(**json.loads(text))
    except (ValueError, TypeError):
        log.warning("the warehouse's lease file is unreadable and is taken as free")
        return None


def _write(fd: int, lease: Lease | None) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    if lease is not None:
        os.write(fd, json.dumps(asdict(lease)).encode())
    os.fsync(fd)


def current(warehouse: Path) -> Lease | None:
    """The lease on ``warehouse``, if any (stale or not)."""
    if not (warehouse / LOCK_FILE).exists():
        return None
    with _guarded(warehouse) as fd:
        return _read(fd)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def acquire(
    warehouse: Path,
    *,
    command: str,
    holder: str | None = None,
    ttl: dt.timedelta | None = None,
    wait: float | None = None,
    stale: Callable[[Lease], bool] | None = None,
) -> Lease:
    """Take (or renew) the lease on ``warehouse`` for ``holder`` (this process when None).

    A lease held by the same holder is renewed; a stale one (:meth:`Lease.stale`, or ``stale(lease)`` true) is
    taken over with a warning. Otherwise the call waits up to ``wait`` seconds (:func:`default_wait` when None).

    Raises:
        WarehouseLocked: another writer still holds it after the wait; the message names the holder.
    """
    kind = "process" if holder is None else "run"
    holder = holder or process_holder()
    deadline = time.monotonic() + (default_wait() if wait is None else wait)
    while True:
        with _guarded(warehouse) as fd:
            lease = _read(fd)
            now = _now()
            if lease is not None and lease.holder != holder and (lease.stale(now) or (stale and stale(lease))):
                log.warning("the warehouse lease of %s has lapsed and is taken over", lease.describe())
                lease = None
            if lease is None or lease.holder == holder:
                since = lease.since if lease is not None else now.isoformat()
                expires = (now + ttl).isoformat() if ttl is not None else None
                taken = Lease(holder, kind, command, socket.gethostname(), os.getpid(), since, expires)
                _write(fd, taken)
                _mine.setdefault(warehouse.resolve(), {}).setdefault(holder, 0)
                _mine[warehouse.resolve()][holder] += 1
                return taken
        if time.monotonic() >= deadline:
            raise WarehouseLocked(
                f"the warehouse {warehouse} is being written by {lease.describe()}; try again when it has finished "
                f"(or set {WAIT_ENV}=SECONDS to wait for it)"
            )
        time.sleep(POLL_SECONDS)


def release(warehouse: Path, holder: str | None = None, *, force: bool = False) -> bool:
    """Give up ``holder``'s lease (this process's when None); True if it was held. Held by someone else, it is
    left alone unless ``force``. Nested acquisitions by the same process release on the outermost call."""
    holder = holder or process_holder()
    key = warehouse.resolve()
    depth = _mine.get(key, {}).get(holder, 0)
    if depth > 1 and not force:
        _mine[key][holder] = depth - 1
        return False
    _mine.get(key, {}).pop(holder, None)
    if not (warehouse / LOCK_FILE).exists():
        return False
    with _guarded(warehouse) as fd:
        lease = _read(fd)
        if lease is None or (lease.holder != holder and not force):
            return False
        _write(fd, None)
        return True


@contextlib.contextmanager
def write_lock(warehouse: Path, command: str, *, wait: float | None = None) -> Iterator[Lease]:
    """Hold the warehouse's lease for the block, as this process (``migralink`` commands, :func:`night_unit`).
    Inside a DAG task acting for a run lease (:func:`acting_for`), the run's lease is used instead."""
    key = warehouse.resolve()
    acting = [h for h in _mine.get(key, {}) if h != process_holder()]
    if acting:
        lease = current(warehouse)
        if lease is not None and lease.holder in acting:
            yield lease
            return
    lease = acquire(warehouse, command=command, wait=wait)
    try:
        yield lease
    finally:
        release(warehouse)


@contextlib.contextmanager
def acting_for(
    warehouse: Path, holder: str, command: str, *, ttl: dt.timedelta, wait: float | None = None
) -> Iterator[Lease]:
    """Run the block as ``holder`` (a DAG run): renew its lease (or take it when the warehouse is free, e.g. a
    task cleared after its night ended; then it is released again when the block ends)."""
    before = current(warehouse)
    lease = acquire(warehouse, command=command, holder=holder, ttl=ttl, wait=wait)
    took = before is None or before.holder != holder
    try:
        yield lease
    finally:
        key = warehouse.resolve()
        _mine.get(key, {}).pop(holder, None)
        if took:
            release(warehouse, holder)


@contextlib.contextmanager
def command_scope(command: str) -> Iterator[None]:
    """For the length of a ``migralink`` command: the first read-write connection to a warehouse takes its lease
    (:func:`before_write`), held until the command ends, so nothing else writes between its connections."""
    taken: list[Path] = []
    _commands.append((command, taken))
    try:
        yield
    finally:
        _commands.pop()
        for warehouse in taken:
            release(warehouse, force=False)


def before_write(warehouse: Path, *, wait: float | None = None) -> None:
    """Called by every read-write connection: inside a command (:func:`command_scope`) take the lease if this
    process does not hold it yet; otherwise only check that no one else holds it (:func:`check_free`)."""
    if _commands and not _mine.get(warehouse.resolve()):
        acquire(warehouse, command=_commands[-1][0], wait=wait)
        _commands[-1][1].append(warehouse)
        return
    check_free(warehouse, wait=wait)


def check_free(warehouse: Path, *, wait: float | None = None) -> None:
    """Before opening ``warehouse`` for writing: wait while another writer holds its lease (up to ``wait``, default
    :func:`default_wait`), then raise :class:`WarehouseLocked`. Holders this process holds or acts for pass."""
    if not (warehouse / LOCK_FILE).exists():
        return
    mine = _mine.get(warehouse.resolve(), {})
    deadline = time.monotonic() + (default_wait() if wait is None else wait)
    while True:
        lease = current(warehouse)
        if lease is None or lease.holder in mine or lease.holder == process_holder() or lease.stale(_now()):
            return
        if time.monotonic() >= deadline:
            raise WarehouseLocked(
                f"the warehouse {warehouse} is being written by {lease.describe()}; try again when it has finished "
                f"(or set {WAIT_ENV}=SECONDS to wait for it)"
            )
        time.sleep(POLL_SECONDS)
