"""Discovery and reading of landing-zone partitions (``<landing>/<source>/<YYYY-MM-DD>/*.csv|*.parquet``).

Reading keeps every row. A row that is structurally broken (wrong number of fields, bytes that are not
UTF-8, a NUL byte) or comes from a file missing a required column is returned with its problem, so the
ingest step can quarantine it with its line number. Only a file that cannot be read at all (no header,
duplicate header names, unreadable bytes on disk, a corrupt Parquet file) raises
:class:`~pipeline.errors.LandingFileError`.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from pipeline.errors import LandingFileError
from pipeline.ingest.contract import SOURCES, SourceContract

log = logging.getLogger(__name__)

FILE_SUFFIXES = (".csv", ".parquet")
META_COLUMNS = ("_file", "_line", "_partition", "_problem")
_BAD_BYTE = "\udc80"  # a lone surrogate can never come out of strict UTF-8 decoding


@dataclass(frozen=True)
class Partition:
    """One landing partition: a source and a date, with its files in name order."""

    source: str
    date: dt.date
    files: tuple[Path, ...]

    @property
    def key(self) -> tuple[str, dt.date]:
        return (self.source, self.date)


@dataclass(frozen=True)
class Discovery:
    """What a scan of the landing zone found."""

    partitions: list[Partition]
    ignored: list[str]  # entries that are not partitions or landing files, reported to the operator


def partition_day(name: str) -> dt.date | None:
    """The date a partition folder's name gives (``YYYY-MM-DD``), or ``None`` when it is not a partition's name."""
    if len(name) != 10:
        return None
    try:
        return dt.date.fromisoformat(name)
    except ValueError:
        return None


def _is_landing_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in FILE_SUFFIXES


def discover_partitions(landing: Path, until: dt.date) -> Discovery:
    """Find every partition dated on or before ``until``, in date order (then source order)."""
    if not landing.is_dir():
        raise LandingFileError(str(landing), "the landing directory does not exist")
    partitions: list[Partition] = []
    ignored: list[str] = []
    for source in SOURCES:
        source_dir = landing / source
        if not source_dir.is_dir():
            continue
        for entry in sorted(source_dir.iterdir()):
            day = partition_day(entry.name) if entry.is_dir() else None
            if day is None:
                ignored.append(f"{source}/{entry.name}")
                continue
            if day > until:
                continue
            files = []
            for f in sorted(entry.iterdir()):
                if _is_landing_file(f):
                    files.append(f)
                elif not f.name.startswith("."):
                    ignored.append(f"{source}/{entry.name}/{f.name}")
            partitions.append(Partition(source, day, tuple(files)))
    order = {s: i for i, s in enumerate(SOURCES)}
    partitions.sort(key=lambda p: (p.date, order[p.source]))
    return Discovery(partitions, ignored)


def newest_landed(landing: Path, until: dt.date) -> dt.date | None:
    """The date of the newest partition dated on or before ``until`` that holds a landing file (what
    :func:`discover_partitions` would find last among those with files), or ``None``: each source's folders are
    looked into newest first, so a night's cut-off check does not list two years of partitions."""
    if not landing.is_dir():
        raise LandingFileError(str(landing), "the landing directory does not exist")
    newest: dt.date | None = None
    for source in SOURCES:
        source_dir = landing / source
        if not source_dir.is_dir():
            continue
        days = []
        for entry in source_dir.iterdir():
            day = partition_day(entry.name) if entry.is_dir() else None
            if day is not None and day <= until and (newest is None or day > newest):
                days.append((day, entry))
        for day, entry in sorted(days, reverse=True):
            if any(_is_landing_file(f) for f in entry.iterdir()):
                newest = day
                break
    return newest


def empty_table(contract: SourceContract) -> pa.Table:
    return pa.table(_columns_dict([], contract, [], [], "", dt.date(1970, 1, 1), []))


@dataclass(frozen=True)
class LandedFile:
    """One landing file as read: its rows (text columns plus ``META_COLUMNS``) and its fingerprint."""

    rel_path: str
    table: pa.Table
    size: int
    sha256: str


def read_landing_file(path: Path, contract: SourceContract, landing: Path, day: dt.date) -> LandedFile:
    """Read one landing file; see the module docstring for what is kept and what raises."""
    rel = path.relative_to(landing).as_posix()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LandingFileError(rel, exc.strerror or "unreadable") from None
    if path.suffix.lower() == ".parquet":
        header, rows, lines, problems = _read_parquet(data, rel)
    else:
        header, rows, lines, problems = _read_csv(data, rel)
    missing = [c for c in contract.names if c not in header]
    if missing:
        reason = "missing required column(s): " + ", ".join(missing)
        problems = [p or reason for p in problems]
    index = {name: i for i, name in enumerate(header)}
    table = pa.table(_columns_dict(rows, contract, lines, problems, rel, day, [index.get(c) for c in contract.names]))
    return LandedFile(rel, table, len(data), hashlib.sha256(data).hexdigest())


def _columns_dict(
    rows: list[list[str]],
    contract: SourceContract,
    lines: list[int],
    problems: list[str | None],
    rel: str,
    day: dt.date,
    positions: Iterable[int | None],
) -> dict[str, pa.Array]:
    columns = list(zip(*rows, strict=False)) if rows else []
    out: dict[str, pa.Array] = {}
    for name, pos in zip(contract.names, positions, strict=False):
        if pos is None or pos >= len(columns):
            out[name] = pa.nulls(len(rows), pa.string())
        else:
            out[name] = pa.array(columns[pos], pa.string())
    n = len(rows)
    out["_file"] = pa.array([rel] * n, pa.string())
    out["_line"] = pa.array(lines, pa.int64())
    out["_partition"] = pa.array([day] * n, pa.date32())
    out["_problem"] = pa.array(problems, pa.string())
    return out


def _read_csv(data: bytes, rel: str) -> tuple[list[str], list[list[str]], list[int], list[str | None]]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
        suspect = False
    except UnicodeDecodeError:
        text = data.decode("utf-8", "surrogateescape")
        suspect = True
    if "\x00" in text:
        text = text.replace("\x00", _BAD_BYTE)
        suspect = True
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header_row = next(reader)
    except StopIteration:
        raise LandingFileError(rel, "the file is empty (a header row is required)") from None
    except csv.Error as exc:
        raise LandingFileError(rel, f"the header row is not valid CSV ({exc})") from None
    header = [h.strip().lower() for h in header_row]
    if _has_bad_bytes(header):
        raise LandingFileError(rel, "the header row is not valid UTF-8")
    dupes = sorted({h for h in header if header.count(h) > 1 and h})
    if dupes:
        raise LandingFileError(rel, "duplicate column(s) in the header: " + ", ".join(dupes))
    width = len(header)
    rows: list[list[str]] = []
    lines: list[int] = []
    problems: list[str | None] = []
    last = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise LandingFileError(rel, f"invalid CSV near line {last + 1} ({exc})") from None
        start, last = last + 1, reader.line_num
        if not row:
            continue  # a blank line holds no record
        problem = None
        if len(row) != width:
            problem = f"expected {width} fields, found {len(row)}"
            row = (row + [""] * width)[:width]
        if suspect and _has_bad_bytes(row):
            problem = "malformed encoding (bytes that are not UTF-8, or a NUL byte)"
            row = [_scrub(v) for v in row]
        rows.append(row)
        lines.append(start)
        problems.append(problem)
    return header, rows, lines, problems


def _has_bad_bytes(row: list[str]) -> bool:
    for value in row:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
    return False


def _scrub(value: str) -> str:
    """Keep malformed bytes as U+FFFD so the row can still be stored (encrypted) and inspected."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace").replace("\x00", "\ufffd")


def _read_parquet(data: bytes, rel: str) -> tuple[list[str], list[list[str]], list[int], list[str | None]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
    except (OSError, pa.ArrowException) as exc:
        raise LandingFileError(rel, f"not a readable Parquet file ({type(exc).__name__})") from None
    header = [n.strip().lower() for n in table.column_names]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise LandingFileError(rel, "duplicate column(s): " + ", ".join(dupes))
    columns = []
    for col in table.columns:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            columns.append(col.to_pylist())
        else:
            columns.append(
                [None if v is None else (v.isoformat() if hasattr(v, "isoformat") else str(v)) for v in col.to_pylist()]
            )
    rows = [list(r) for r in zip(*columns, strict=True)] if columns else []
    return header, rows, list(range(1, len(rows) + 1)), [None] * len(rows)
