"""Re-deliveries: landing files that changed, grew or appeared after their partition was processed.

Ingest records every file's size and SHA-256 (``meta_files``). Each run compares the processed partitions of the
recent window (``redelivery_days``, default 90 days back from the run date) with what the landing zone holds
now. A file whose size or checksum differs, or a new file in a processed partition, is a re-delivery: it is
recorded once per content in ``meta_redeliveries`` (source, partition, file, kind, size, checksum), reported on
stderr by the run and listed by ``migralink status`` until ``migralink reprocess`` re-ingests the partition.
Files that are gone (purged by retention, or archived) are not re-deliveries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipeline.ingest.contract import SOURCES
from pipeline.ingest.landing import FILE_SUFFIXES

DEFAULT_WINDOW_DAYS = 90


@dataclass(frozen=True)
class Redelivery:
    """One file of a processed partition that differs from what was ingested (names and sizes only)."""

    source: str
    partition_date: dt.date
    file: str  # path relative to the landing root
    kind: str  # changed or added
    bytes: int
    sha256: str

    def describe(self) -> str:
        what = "changed since it was ingested" if self.kind == "changed" else "added after the partition was ingested"
        return (
            f"re-delivery: {self.file} {what} ({self.bytes:,} bytes); reprocess it with "
            f"`migralink reprocess --source {self.source} --date {self.partition_date} --reason ...`"
        )


def _digest(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def find_redeliveries(
    con: duckdb.DuckDBPyConnection, landing: Path, run_date: dt.date, window_days: int = DEFAULT_WINDOW_DAYS
) -> list[Redelivery]:
    """The re-deliveries among the partitions processed in the ``window_days`` before ``run_date``."""
    since = run_date - dt.timedelta(days=window_days)
    rows = con.execute(
        "SELECT source, partition_date, file, bytes, sha256 FROM meta_files WHERE partition_date BETWEEN ? AND ?",
        [since, run_date],
    ).fetchall()
    known = {file: (int(size), digest) for _s, _d, file, size, digest in rows}
    partitions = sorted(
        set(
            con.execute(
                "SELECT source, partition_date FROM meta_partitions WHERE partition_date BETWEEN ? AND ?",
                [since, run_date],
            ).fetchall()
        )
    )
    found: list[Redelivery] = []
    for source, day in partitions:
        if source not in SOURCES:
            continue
        folder = landing / source / day.isoformat()
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if not path.is_file() or path.suffix.lower() not in FILE_SUFFIXES:
                continue
            rel = path.relative_to(landing).as_posix()
            size, digest = path.stat().st_size, _digest(path)
            before = known.get(rel)
            if before == (size, digest):
                continue
            kind = "added" if before is None else "changed"
            found.append(Redelivery(source, day, rel, kind, size, digest))
    return found


def record_redeliveries(con: duckdb.DuckDBPyConnection, found: list[Redelivery], run_id: str) -> list[Redelivery]:
    """Record re-deliveries not recorded before (same file and content); returns the new ones."""
    new: list[Redelivery] = []
    for r in found:
        seen = con.execute(
            "SELECT count(*) FROM meta_redeliveries WHERE file = ? AND sha256 = ?", [r.file, r.sha256]
        ).fetchall()[0][0]
        if seen:
            continue
        con.execute(
            "INSERT INTO meta_redeliveries VALUES (?, ?, ?, ?, ?, ?, now(), ?, NULL)",
            [r.source, r.partition_date, r.file, r.kind, r.bytes, r.sha256, run_id],
        )
        new.append(r)
    return new


def open_redeliveries(con: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    """Re-deliveries not reprocessed yet: source, partition, file, kind, detected."""
    return con.execute(
        "SELECT source, partition_date, file, kind, detected_at FROM meta_redeliveries WHERE reprocessed_at IS NULL "
        "ORDER BY partition_date, source, file"
    ).fetchall()
