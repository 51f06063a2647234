"""Per-night linkage figures (``linkage_nights``): what each night did, the baseline tonight is judged against.

One row per linkage run, counts only: records new tonight and how many of them joined a person already known,
new persons, person keys merged and split, pairs queued for and still waiting for review, the largest person and
the coherence counts (:mod:`linkage.coherence`). The linkage report's summary and the linkage quality checks
compare tonight with the nights before it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, fields

import duckdb

from linkage.coherence import Coherence
from linkage.link import LinkResult
from linkage.schema import NIGHTS_TABLE, REVIEW_TABLE, ensure_schema

RECENT_NIGHTS = 28


@dataclass(frozen=True)
class NightFigures:
    """One linkage night in counts (no identifiers)."""

    night: dt.date
    finished_at: dt.datetime
    mode: str  # full or incremental
    model_version: int
    new_records: int  # records linked for the first time
    records: int
    persons: int
    new_persons: int
    joined_existing: int
    merged_keys: int
    split_keys: int
    review_queued: int
    review_pending: int
    largest_person_records: int
    persons_incompatible_birth_dates: int
    persons_concurrent_documents: int
    persons_repeated_direction: int

    @property
    def joined_share(self) -> float | None:
        """Share of tonight's new records that joined a known person (None when nothing was new)."""
        return self.joined_existing / self.new_records if self.new_records else None


COLUMNS = tuple(f.name for f in fields(NightFigures))


def record_night(
    con: duckdb.DuckDBPyConnection,
    night: dt.date,
    result: LinkResult,
    *,
    model_version: int,
    queued: int,
    coherence: Coherence,
) -> NightFigures:
    """Append tonight's figures to ``linkage_nights`` (inside the caller's transaction) and return them."""
    ensure_schema(con)
    pending = int(con.execute(f"SELECT count(*) FROM {REVIEW_TABLE} WHERE status = 'pending'").fetchall()[0][0])
    figures = NightFigures(
        night=night,
        finished_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
        mode=result.mode,
        model_version=model_version,
        new_records=result.keys.first_keyed,
        records=result.records,
        persons=result.clusters,
        new_persons=result.keys.new_persons,
        joined_existing=result.keys.joined_existing,
        merged_keys=result.keys.merged_keys,
        split_keys=result.keys.split_keys,
        review_queued=queued,
        review_pending=pending,
        largest_person_records=coherence.largest_person_records,
        persons_incompatible_birth_dates=coherence.persons_incompatible_birth_dates,
        persons_concurrent_documents=coherence.persons_concurrent_documents,
        persons_repeated_direction=coherence.persons_repeated_direction,
    )
    values = asdict(figures)
    con.execute(
        f"INSERT INTO {NIGHTS_TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
        [values[c] for c in COLUMNS],
    )
    return figures


def night_figures(con: duckdb.DuckDBPyConnection, night: dt.date) -> NightFigures | None:
    """The last linkage run of ``night``, or None when that night was not linked."""
    ensure_schema(con)
    row = con.execute(
        f"SELECT {', '.join(COLUMNS)} FROM {NIGHTS_TABLE} WHERE night = ? ORDER BY finished_at DESC LIMIT 1",
        [night],
    ).fetchall()
    return NightFigures(*row[0]) if row else None


def recent_nights(con: duckdb.DuckDBPyConnection, before: dt.date, n: int = RECENT_NIGHTS) -> list[NightFigures]:
    """The last run of each of the ``n`` linked nights before ``before``, oldest first."""
    ensure_schema(con)
    rows = con.execute(
        f"""SELECT {", ".join(COLUMNS)} FROM {NIGHTS_TABLE} WHERE night < ?
            QUALIFY row_number() OVER (PARTITION BY night ORDER BY finished_at DESC) = 1
            ORDER BY night DESC LIMIT ?""",
        [before, n],
    ).fetchall()
    return [NightFigures(*r) for r in reversed(rows)]
