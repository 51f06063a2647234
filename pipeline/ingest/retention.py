"""Retention of the landing zone: purge processed partitions past their retention period, or archive them sealed.

The retention period follows the purpose register (:mod:`privacy.register`): ``landing_days``, the longest any
registered purpose needs. A setting (``--retention-days``, ``MIGRALINK_RETENTION_DAYS``, ``retention_days``) may
only shorten it; a longer one is refused (:func:`landing_retention`).

A partition ``<landing>/<source>/<YYYY-MM-DD>/`` is removed only when all of these hold:

* its date is before ``today - retention_days`` (the last ``retention_days`` days are always kept);
* the warehouse has processed it (``meta_partitions``);
* every landing file in it was ingested unchanged (path, size and SHA-256 match ``meta_files``), and it holds
  nothing else but hidden marker files (no other files, sub-directories or links).

Anything else is kept and reported (as is a partition whose archive file already exists). Each removal is
recorded in ``meta_retention`` in the transaction that moves the folder out of the landing zone (up to
:data:`REMOVE_BATCH` deleted partitions a transaction; a failed one puts every folder it moved back), then the
folder is deleted and the removal logged (source, date, counts; never values).

With an archive directory, each partition is first written to ``<archive>/<source>/<YYYY-MM-DD>.tar.mla``:
a tar of the folder, sealed with ``Sealer(ring, "archive")`` in chunks of :data:`CHUNK_BYTES`. Each chunk's
associated data binds the source, the date, the chunk's index and whether it is the last one, so a renamed,
reordered, truncated or altered archive fails to open (:class:`~privacy.errors.InvalidCiphertext`). The
archive is read back and authenticated before the folder is deleted. :func:`restore_archive` puts a
partition back, byte for byte.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import hashlib
import logging
import os
import shutil
import tarfile
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

import duckdb

from pipeline.errors import PipelineError
from pipeline.ingest.contract import SOURCES
from pipeline.ingest.landing import FILE_SUFFIXES, Partition, discover_partitions
from pipeline.warehouse.connection import transaction, verify_key
from privacy.audit.log import append as audit
from privacy.errors import InvalidCiphertext
from privacy.keys import Keyring
from privacy.register import Register, load_register
from privacy.sealing import Sealer

log = logging.getLogger(__name__)

ARCHIVE_SUFFIX = ".tar.mla"
ARCHIVE_MAGIC = b"MLA1\n"
CHUNK_BYTES = 16 * 1024 * 1024
# Deleted partitions recorded and moved out per transaction: one commit and one pass over the privacy log's state a
# partition made the first purge of two years of landing (1,639 partitions) take 20 s.
REMOVE_BATCH = 200


class RetentionError(PipelineError):
    """A purge or restore was refused."""


@dataclass(frozen=True)
class RetentionPeriod:
    """The landing retention that applies and where it came from (for the command's output and logs)."""

    days: int
    source: str


def landing_retention(
    register: Register, requested: int | None = None, *, given_as: str = "retention_days"
) -> RetentionPeriod:
    """The landing retention: the register's ``landing_days``, or ``requested`` when that is shorter.

    Args:
        register: The purpose register; its period is the longest any purpose needs for landing files.
        requested: Days asked for by a setting, or ``None`` for the register's period.
        given_as: How the setting was given, for messages (e.g. ``--retention-days``).

    Raises:
        RetentionError: ``requested`` is below 1 or longer than the register's period (a setting may only
            shorten it).
    """
    limit = register.retention_days("landing")
    purposes = register.retention_purposes("landing")
    needed_by = f"purpose{'s' if len(purposes) > 1 else ''} {', '.join(purposes)}"
    if requested is None:
        return RetentionPeriod(limit, f"the purpose register {register.version} (landing_days of {needed_by})")
    if requested < 1:
        raise RetentionError(f"{given_as} must be at least 1 (got {requested})")
    if requested > limit:
        raise RetentionError(
            f"{given_as} {requested} is longer than the register's {limit} days for landing files ({needed_by}, "
            f"register {register.version}); a setting may only shorten it"
        )
    return RetentionPeriod(requested, f"{given_as} (the purpose register {register.version} allows up to {limit})")


@dataclass
class PartitionAction:
    """One partition removed (or, in a dry run, that would be), or restored."""

    source: str
    partition_date: str
    action: str  # deleted, archived, restored, would delete, would archive
    files: int
    bytes: int
    archive_file: str | None = None


@dataclass
class PurgeSummary:
    """What one purge did; holds names, dates and counts only."""

    run_id: str
    today: str
    cutoff: str  # partitions dated before this day are past retention
    dry_run: bool
    actions: list[PartitionAction] = field(default_factory=list)
    kept_recent: int = 0
    kept_unprocessed: list[str] = field(default_factory=list)
    kept_unsafe: dict[str, str] = field(default_factory=dict)  # source/date -> why it was kept
    retention_days: int = 0  # the period applied
    retention_source: str = ""  # where it came from (the register, or a shorter setting)

    @property
    def files(self) -> int:
        return sum(a.files for a in self.actions)

    @property
    def bytes(self) -> int:
        return sum(a.bytes for a in self.actions)

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "files": self.files, "bytes": self.bytes}


def purge_landing(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    *,
    today: dt.date,
    retention_days: int | None = None,
    register: Register | None = None,
    archive: Path | None = None,
    ring: Keyring | None = None,
    dry_run: bool = False,
    by: str | None = None,
) -> PurgeSummary:
    """Delete (or archive, then delete) landing partitions past retention; see the module docstring.

    Args:
        con: The warehouse that ingested the landing zone.
        landing: The landing-zone directory.
        today: The current day, passed in so the cut-off is testable.
        retention_days: Days of partitions to keep (at least 1, at most the register's ``landing_days``); default
            the register's period.
        register: The purpose register (default :func:`~privacy.register.load_register`).
        archive: Directory for sealed archives; without it partitions are deleted.
        ring: The warehouse's key; required with ``archive``.
        dry_run: Report what would be removed; change nothing.
        by: Who ran the purge, for ``meta_retention`` (the OS user by default).

    Raises:
        RetentionError: bad arguments (a retention longer than the register's included), or a folder could not be
            deleted after it was recorded.
        RegisterError: the purpose register cannot be used.
        KeyMismatchError: ``ring`` is not the warehouse's key.
    """
    period = landing_retention(register or load_register(), retention_days)
    if archive is not None and ring is None:
        raise RetentionError("archiving needs the key (--key-file or key_source)")
    if ring is not None:
        verify_key(con, ring)
    cutoff = today - dt.timedelta(days=period.days)
    summary = PurgeSummary(uuid.uuid4().hex, today.isoformat(), cutoff.isoformat(), dry_run)
    summary.retention_days, summary.retention_source = period.days, period.source
    processed = set(con.execute("SELECT source, partition_date FROM meta_partitions").fetchall())
    ingested = _ingested_files(con)
    pending: list[tuple[Path, PartitionAction]] = []  # removals recorded together (see _remove)
    for part in discover_partitions(landing, today).partitions:
        name = f"{part.source}/{part.date}"
        folder = landing / part.source / part.date.isoformat()
        target = archive / part.source / f"{part.date.isoformat()}{ARCHIVE_SUFFIX}" if archive else None
        if part.date >= cutoff:
            summary.kept_recent += 1
            continue
        if part.key not in processed:
            summary.kept_unprocessed.append(name)
            continue
        why = _unsafe_reason(ingested.get(part.key, {}), landing, folder)
        if why is None and target is not None and target.exists():
            why = f"an archive of it already exists ({target}); move that archive away first"
        if why:
            summary.kept_unsafe[name] = why
            log.warning("kept landing partition %s past retention: %s", name, why)
            continue
        files = sorted(folder.iterdir())
        size = sum(f.stat().st_size for f in files)
        action = PartitionAction(
            part.source, part.date.isoformat(), "archived" if target else "deleted", len(files), size
        )
        action.archive_file = str(target) if target else None
        if dry_run:
            action.action = "would " + action.action[:-1]
            log.info("dry run: %s landing partition %s", action.action, name)
        else:
            if target is not None:
                assert ring is not None
                _write_archive(files, target, Sealer(ring, "archive"), part)
            pending.append((folder, action))
            # An archived partition is recorded at once: a purge stopped between its archive and its record would
            # leave the archive's partition kept (its archive exists) until the archive is moved away by hand.
            if target is not None or len(pending) == REMOVE_BATCH:
                _remove(con, pending, summary.run_id, by)
                pending = []
        summary.actions.append(action)
    if pending:
        _remove(con, pending, summary.run_id, by)
    return summary


def restore_archive(
    archive_file: Path,
    landing: Path,
    *,
    ring: Keyring,
    con: duckdb.DuckDBPyConnection | None = None,
    by: str | None = None,
) -> PartitionAction:
    """Put an archived partition back at ``<landing>/<source>/<YYYY-MM-DD>/``, byte for byte.

    The partition is extracted beside its final place and moved there only once the whole archive has been
    authenticated. Restored partitions stay processed: ingest does not read them again.

    Args:
        archive_file: ``<archive>/<source>/<YYYY-MM-DD>.tar.mla``; the name is authenticated with the content.
        landing: The landing-zone directory.
        ring: The key the archive was sealed with.
        con: The warehouse, to record the restore in ``meta_retention`` (its key is checked first).
        by: Who restored it (the OS user by default).

    Raises:
        InvalidCiphertext: the archive was altered, truncated, renamed or sealed with another key.
        RetentionError: the name is not an archive name, or the partition folder already exists.
    """
    source, day = _archive_key(archive_file)
    if con is not None:
        verify_key(con, ring)
    target = landing / source / day.isoformat()
    if target.exists():
        raise RetentionError(f"{target} already exists; move it away before restoring {source}/{day}")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".restore-{day.isoformat()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(mode=0o700)
    try:
        with archive_file.open("rb") as fh:
            reader = _OpenedReader(fh, Sealer(ring, "archive"), _aad_prefix(source, day))
            with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]  # a stream
                tar.extractall(staging, filter="data")
            reader.drain()
        os.rename(staging, target)
    except (tarfile.TarError, EOFError):
        shutil.rmtree(staging, ignore_errors=True)
        raise RetentionError(f"{archive_file} opens but holds no valid partition archive") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    files = sorted(target.iterdir())
    action = PartitionAction(
        source, day.isoformat(), "restored", len(files), sum(p.stat().st_size for p in files), str(archive_file)
    )
    if con is not None:
        with transaction(con):
            _record(con, action, uuid.uuid4().hex, by)
    log.info("restored landing partition %s/%s (%d files, %d bytes)", source, day, action.files, action.bytes)
    return action


def _ingested_files(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, dt.date], dict[str, tuple[int, str]]]:
    """Every ingested landing file's size and SHA-256 by its path, per partition (one query, not one a partition)."""
    out: dict[tuple[str, dt.date], dict[str, tuple[int, str]]] = {}
    for source, day, file, size, digest in con.execute(
        "SELECT source, partition_date, file, bytes, sha256 FROM meta_files"
    ).fetchall():
        out.setdefault((source, day), {})[file] = (size, digest)
    return out


def _unsafe_reason(ingested: dict[str, tuple[int, str]], landing: Path, folder: Path) -> str | None:
    """Why a processed partition must not be removed, or ``None`` when every file in it was ingested unchanged
    (``ingested``: the partition's files as ``meta_files`` holds them)."""
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink() or not entry.is_file():
            return "it holds a sub-directory or link"
        if entry.name.startswith("."):
            continue  # marker files, which ingest ignores as well
        if entry.suffix.lower() not in FILE_SUFFIXES:
            return "it holds files that are not landing files"
        rel = entry.relative_to(landing).as_posix()
        if rel not in ingested:
            return "it holds a landing file the warehouse has not ingested"
        with entry.open("rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
        if (entry.stat().st_size, digest) != ingested[rel]:
            return "a landing file changed after it was ingested"
    return None


def _remove(
    con: duckdb.DuckDBPyConnection, batch: list[tuple[Path, PartitionAction]], run_id: str, by: str | None
) -> None:
    """Record the removals of ``batch`` (folder, action) and move their folders out of the landing zone in one
    transaction, then delete the folders. A failure before the commit puts every folder moved back."""
    moved: list[tuple[Path, Path]] = []
    try:
        with transaction(con):
            for _folder, action in batch:
                _record(con, action, run_id, by)
            for folder, _action in batch:
                trash = folder.parent / f".purge-{folder.name}-{uuid.uuid4().hex[:8]}"
                os.rename(folder, trash)
                moved.append((folder, trash))
    except BaseException:
        for folder, trash in reversed(moved):
            if trash.exists() and not folder.exists():
                os.rename(trash, folder)  # the records were rolled back: put the partition back
        raise
    for (_folder, trash), (_f, action) in zip(moved, batch, strict=True):
        try:
            shutil.rmtree(trash)
        except OSError as exc:
            raise RetentionError(
                f"{action.source}/{action.partition_date} is recorded as {action.action} but {trash} could not be "
                f"deleted ({exc.strerror}); delete it by hand"
            ) from None
        to = f" to {action.archive_file}" if action.archive_file else ""
        log.info(
            "%s landing partition %s/%s (%d files, %d bytes)%s",
            action.action,
            action.source,
            action.partition_date,
            action.files,
            action.bytes,
            to,
        )


def _record(con: duckdb.DuckDBPyConnection, action: PartitionAction, run_id: str, by: str | None) -> None:
    audit(
        con,
        "retention_purged",
        what=f"landing partition {action.source}/{action.partition_date}",
        partitions=1,
        files=action.files,
        bytes=action.bytes,
        action=action.action,
    )
    con.execute(
        "INSERT INTO meta_retention VALUES (?, ?, ?, ?, ?, ?, ?, ?, now())",
        [
            action.source,
            dt.date.fromisoformat(action.partition_date),
            action.action,
            action.files,
            action.bytes,
            action.archive_file,
            run_id,
            by or _os_user(),
        ],
    )


def _os_user() -> str:
    with contextlib.suppress(KeyError, OSError):
        return getpass.getuser()
    return "unknown"


def _aad_prefix(source: str, day: dt.date) -> str:
    return f"migralink-archive|{source}|{day.isoformat()}"


def _archive_key(path: Path) -> tuple[str, dt.date]:
    source, name = path.parent.name, path.name
    try:
        if source not in SOURCES or not name.endswith(ARCHIVE_SUFFIX):
            raise ValueError(name)
        return source, dt.date.fromisoformat(name.removesuffix(ARCHIVE_SUFFIX))
    except ValueError:
        raise RetentionError(
            f"{path} is not an archive name (<archive>/<source>/<YYYY-MM-DD>{ARCHIVE_SUFFIX})"
        ) from None


def _write_archive(files: list[Path], target: Path, sealer: Sealer, part: Partition) -> None:
    """Seal a tar of ``files`` to ``target`` (via a temporary file), then read it back to authenticate it."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
    prefix = _aad_prefix(part.source, part.date)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            writer = _SealedWriter(fh, sealer, prefix)
            with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                for path in files:
                    tar.add(path, arcname=path.name, recursive=False, filter=_anonymous)
            writer.finish()
            fh.flush()
            os.fsync(fh.fileno())
        with tmp.open("rb") as fh:
            _OpenedReader(fh, sealer, prefix).drain()
        if target.exists():
            raise RetentionError(f"archive {target} already exists")
        os.rename(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


class _SealedWriter:
    """A write-only stream that seals what it receives in numbered chunks; :meth:`finish` seals the last one."""

    def __init__(self, fh: BinaryIO, sealer: Sealer, prefix: str) -> None:
        self._fh, self._sealer, self._prefix = fh, sealer, prefix
        self._buffer = bytearray()
        self._index = 0
        fh.write(ARCHIVE_MAGIC)

    def write(self, data: bytes) -> int:
        self._buffer += data
        while len(self._buffer) > CHUNK_BYTES:  # keep at least one byte back: the last chunk is never empty
            self._emit(bytes(self._buffer[:CHUNK_BYTES]), last=False)
            del self._buffer[:CHUNK_BYTES]
        return len(data)

    def finish(self) -> None:
        self._emit(bytes(self._buffer), last=True)
        self._buffer.clear()

    def _emit(self, chunk: bytes, *, last: bool) -> None:
        blob = self._sealer.seal(chunk, aad=_chunk_aad(self._prefix, self._index, last))
        self._fh.write(bytes([last]) + len(blob).to_bytes(4, "big") + blob)
        self._index += 1


class _OpenedReader:
    """A read-only stream over a sealed archive; every chunk is authenticated before its bytes are returned."""

    def __init__(self, fh: BinaryIO, sealer: Sealer, prefix: str) -> None:
        self._fh, self._sealer, self._prefix = fh, sealer, prefix
        self._buffer = bytearray()
        self._index = 0
        self._done = False
        if fh.read(len(ARCHIVE_MAGIC)) != ARCHIVE_MAGIC:
            raise InvalidCiphertext("sealed data cannot be opened")

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            self._next_chunk()
        n = len(self._buffer) if size < 0 else min(size, len(self._buffer))
        out = bytes(self._buffer[:n])
        del self._buffer[:n]
        return out

    def drain(self) -> None:
        """Authenticate the remaining chunks and check that nothing follows the last one."""
        while not self._done:
            self._next_chunk()
            self._buffer.clear()
        if self._fh.read(1):
            raise InvalidCiphertext("sealed data cannot be opened")

    def _next_chunk(self) -> None:
        head = self._fh.read(5)
        blob = self._fh.read(int.from_bytes(head[1:], "big")) if len(head) == 5 and head[0] in (0, 1) else b""
        if not blob:
            raise InvalidCiphertext("sealed data cannot be opened")  # truncated before the last chunk
        last = bool(head[0])  # authenticated below: it is part of the associated data
        self._buffer += self._sealer.open(blob, aad=_chunk_aad(self._prefix, self._index, last))
        self._index += 1
        self._done = last


def _chunk_aad(prefix: str, index: int, last: bool) -> bytes:
    return f"{prefix}|{index}|{int(last)}".encode()
