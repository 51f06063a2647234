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
folder is deleted and the removal logged (source, date, counts; never values). A folder that cannot be deleted
does not stop the others: the purge deletes the rest, then fails with one line naming it and counting the others.
The next purge finishes what an earlier one left beside the partitions (``<source>/.purge-<date>-<hex>``): a
folder whose removal was recorded is deleted, one whose removal never committed is put back.

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
import re
import shutil
import tarfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

import duckdb

from pipeline.errors import PipelineError
from pipeline.ingest.contract import SOURCES
from pipeline.ingest.landing import FILE_SUFFIXES, Partition, discover_partitions, partition_day
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
PURGE_PREFIX = ".purge-"  # what a purge renames a folder to until it is deleted (see SetAside)
SET_ASIDE = re.compile(re.escape(PURGE_PREFIX) + r"(?P<name>.+)-[0-9a-f]{8}")  # a name SetAside.move gives


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
    leftovers: list[str] = field(default_factory=list)  # an earlier purge's folders finished or put back

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
    _leftovers(con, landing, summary, dry_run=dry_run)
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


class SetAside:
    """Files and folders removed with a transaction: renamed aside (``.purge-<name>-<hex>`` beside each) inside
    it, put back if it rolls back, deleted once it has committed.

    Args:
        paths: What to remove.
        prune: Whether a path's parent directory is removed once :meth:`delete` has emptied it (a release's date
            directory); never by default (a landing source folder stays).
    """

    def __init__(self, paths: Sequence[Path], *, prune: Callable[[Path], bool] | None = None) -> None:
        self.paths = list(paths)
        self.moved: list[tuple[Path, Path]] = []
        self._prune = prune

    @classmethod
    def left_by_earlier_purge(
        cls, place: Path, aside: Path, *, prune: Callable[[Path], bool] | None = None
    ) -> SetAside:
        """What an earlier purge moved from ``place`` to ``aside`` and recorded as removed: :meth:`delete` finishes
        it."""
        found = cls([place], prune=prune)
        found.moved.append((place, aside))
        return found

    @property
    def count(self) -> int:
        """Files among the paths (a folder counts its files)."""
        return sum(sum(1 for p in path.rglob("*") if p.is_file()) if path.is_dir() else 1 for path in self.paths)

    @property
    def bytes(self) -> int:
        files = [q for p in self.paths for q in ([p] if p.is_file() else p.rglob("*"))]
        return sum(q.stat().st_size for q in files if q.is_file())

    def move(self) -> None:
        """Rename every path aside (inside the transaction); stops at the first that cannot be moved."""
        for path in self.paths:
            trash = path.parent / f"{PURGE_PREFIX}{path.name}-{uuid.uuid4().hex[:8]}"
            os.rename(path, trash)
            self.moved.append((path, trash))

    def restore(self) -> None:
        """Put back what was moved, last first (the transaction rolled back)."""
        for path, trash in reversed(self.moved):
            if trash.exists() and not path.exists():
                os.rename(trash, path)
        self.moved.clear()

    def delete(self, done: Callable[[int], None] | None = None) -> None:
        """Delete everything moved aside, each even when another cannot be deleted, calling ``done(i)`` after the
        ``i``-th path's; then one error if any is left.

        Raises:
            RetentionError: some could not be deleted; names the first, counts the others (each stays as a
                ``.purge-*`` entry beside its place).
        """
        left: list[tuple[Path, str]] = []
        for index, (path, trash) in enumerate(self.moved):
            try:
                shutil.rmtree(trash) if trash.is_dir() else trash.unlink()
            except OSError as exc:
                left.append((trash, exc.strerror or type(exc).__name__))
                continue
            if done is not None:
                done(index)
            if self._prune is not None and self._prune(path.parent):
                with contextlib.suppress(OSError):
                    if not any(path.parent.iterdir()):
                        path.parent.rmdir()
        total = len(self.moved)
        self.moved.clear()
        if left:
            (first, why), more = left[0], len(left) - 1
            others = f" and {more} other{'s' if more > 1 else ''} beside their places" if more else ""
            raise RetentionError(
                f"{len(left)} of {total} removals are recorded but could not be deleted: {first} ({why}){others}; "
                f"delete the {PURGE_PREFIX}* entries by hand"
            )


def _remove(
    con: duckdb.DuckDBPyConnection, batch: list[tuple[Path, PartitionAction]], run_id: str, by: str | None
) -> None:
    """Record the removals of ``batch`` (folder, action) and move their folders out of the landing zone in one
    transaction, then delete the folders. A failure before the commit puts every folder moved back."""
    aside = SetAside([folder for folder, _action in batch])
    try:
        with transaction(con):
            for _folder, action in batch:
                _record(con, action, run_id, by)
            aside.move()
    except BaseException:
        aside.restore()  # the records were rolled back: put the partitions back
        raise

    def deleted(index: int) -> None:
        action = batch[index][1]
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

    aside.delete(deleted)


def _leftovers(con: duckdb.DuckDBPyConnection, landing: Path, summary: PurgeSummary, *, dry_run: bool) -> None:
    """Finish what an earlier purge left beside its partitions (``<source>/.purge-<date>-<hex>``): a folder whose
    removal was recorded (its latest ``meta_retention`` row says deleted or archived) is deleted; one whose removal
    never committed (the purge was stopped inside its transaction) is put back, unless its place is taken again."""
    for source in SOURCES:
        folder = landing / source
        for entry in sorted(folder.glob(f"{PURGE_PREFIX}*")) if folder.is_dir() else []:
            match = SET_ASIDE.fullmatch(entry.name)
            day = partition_day(match["name"]) if match else None
            if day is None or not entry.is_dir() or entry.is_symlink():  # not a partition set aside by a purge
                continue
            name, place = f"{source}/{day}", folder / day.isoformat()
            latest = con.execute(
                "SELECT action FROM meta_retention WHERE source = ? AND partition_date = ? "
                "ORDER BY recorded_at DESC LIMIT 1",
                [source, day],
            ).fetchall()
            if latest and latest[0][0] in ("deleted", "archived"):
                what = f"deleted what is left of {name} (recorded as {latest[0][0]} by an earlier purge)"
                if not dry_run:
                    SetAside.left_by_earlier_purge(place, entry).delete()
            elif place.exists():
                summary.kept_unsafe[f"{source}/{entry.name}"] = (
                    f"an earlier purge set it aside without recording it, and {name} exists again; compare the two"
                )
                log.warning("kept %s/%s: %s", source, entry.name, summary.kept_unsafe[f"{source}/{entry.name}"])
                continue
            else:
                what = f"put {name} back (an earlier purge set it aside but was stopped before recording it)"
                if not dry_run:
                    os.rename(entry, place)
            summary.leftovers.append(("would have " if dry_run else "") + what)
            log.info("%s%s", "dry run: " if dry_run else "", what)


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
