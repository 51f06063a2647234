"""Coherence of the linked persons: counts that show different people merged into one person.

Common names (NGUYEN VAN AN, ZHANG JUN) make a linkage merge namesakes who share the birth year, sex and
nationality but not the full birth date or the passport. Such a person shows in the linkage tables as a
person holding facts one person cannot have. :func:`coherence_figures` counts, per person (``cluster_id``),
in SQL over ``linkage_input`` (one row per entity, with its cluster and record count), ``linkage_records`` and
``linkage_clusters``:

* records, distinct full birth dates (``tok_dob``) and distinct documents (``tok_document``);
* **incompatible birth dates**: two birth dates that are not one keying error apart, by the clustering's own
  rule (:func:`linkage.cluster.dobs_compatible`): equal, day and month swapped, at most one of year, month and
  day different, or a default month and day (learnt with the model, see
  :func:`linkage.term_frequencies.default_month_days`) against a date of the same year. A person formed by a
  reviewer's decision can break it; otherwise a count above zero means the rule was bypassed (a strong edge);
* **documents of one issuer**: two documents of the same issuing country that are more than one keying error
  apart (no shared ``tok_document_edits`` token). A renewed passport is one, so the stricter
  **concurrent documents** count asks that the two documents were in use at the same time, by the clustering's
  rule (:func:`linkage.cluster.documents_concurrent`; record day: crossing, visa decision or permit issue date).
  One person does not travel on two passports of one country at once;
* **repeated-direction crossings**: two consecutive border crossings of the person in the same direction (two
  arrivals or two departures in a row, in crossing-time order). A missed crossing does this too, so the count
  never falls to zero; a jump shows merged travellers;
* the largest person by records.

Only counts leave this module: no token, key or identifier.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from linkage.cluster import CONCURRENT_DAYS
from linkage.input import INPUT_TABLE, RECORDS_TABLE
from linkage.link import COHERENCE_SCOPE, COHERENCE_SCOPE_BASE, SEEN_SQL
from linkage.schema import (
    CLUSTERS_TABLE,
    COHERENCE_STATE_TABLE,
    COHERENCE_TABLE,
    STATE_TABLE,
    TF_TABLE,
    ensure_schema,
)
from linkage.term_frequencies import DEFAULT_DOB, month_day_key_sql

if TYPE_CHECKING:
    import duckdb

Distribution = tuple[tuple[str, int], ...]
# (label, lowest value) of each bucket, in order; the last bucket is open.
COUNT_BUCKETS = (("none", 0), ("1", 1), ("2", 2), ("3", 3), ("4+", 4))
RECORD_BUCKETS = (("1", 1), ("2", 2), ("3-5", 3), ("6-10", 6), ("11-20", 11), ("21-50", 21), ("51+", 51))
REPEAT_BUCKETS = (("0", 0), ("1", 1), ("2", 2), ("3+", 3))


@dataclass(frozen=True)
class Coherence:
    """Coherence counts of the linked persons (no identifiers). Distributions are (bucket, persons) pairs."""

    persons: int
    records: int
    largest_person_records: int
    persons_several_birth_dates: int
    persons_incompatible_birth_dates: int
    persons_several_documents: int
    persons_same_issuer_documents: int
    persons_concurrent_documents: int
    persons_several_crossings: int  # persons with at least two border crossings
    persons_repeated_direction: int
    repeated_direction_crossings: int
    by_birth_dates: Distribution
    by_documents: Distribution
    by_records: Distribution
    by_repeated_crossings: Distribution  # persons with at least two crossings, by repeated-direction crossings
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def dates_compatible_sql(a: str, b: str) -> str:
    """SQL: the birth dates of rows ``a`` and ``b`` can be one date keyed twice (see the module docstring).

    Both rows carry the ``tok_dob*`` columns and a boolean ``is_default`` (a default month and day).
    """
    same = [f"coalesce({a}.{c} = {b}.{c}, false)" for c in ("tok_dob_year", "tok_dob_month", "tok_dob_day")]
    return f"""({a}.tok_dob = {b}.tok_dob
        OR {a}.tok_dob_swapped = {b}.tok_dob OR {a}.tok_dob = {b}.tok_dob_swapped
        OR ({" + ".join(f"{s}::INTEGER" for s in same)}) >= 2
        OR ({same[0]} AND ({a}.is_default OR {b}.is_default)))"""


def _incompatible_dates_sql(chosen: str = "true") -> str:
    """SQL of the persons (``cluster_id``, among those ``chosen`` picks) with two birth dates more than one keying
    error apart."""
    return f"""
WITH defaults AS (  -- the month-and-day keys the current model took for default dates
    SELECT value FROM {TF_TABLE}
    WHERE column_name = '{DEFAULT_DOB}' AND model_id IN (SELECT model_id FROM {STATE_TABLE})),
dates AS (  -- the other date tokens are functions of tok_dob
    SELECT cluster_id, tok_dob, tok_dob_swapped, tok_dob_year, tok_dob_month, tok_dob_day
    FROM {INPUT_TABLE} WHERE tok_dob IS NOT NULL AND {chosen}
    GROUP BY cluster_id, tok_dob, tok_dob_swapped, tok_dob_year, tok_dob_month, tok_dob_day
    QUALIFY count(*) OVER (PARTITION BY cluster_id) > 1),
flagged AS (
    SELECT d.*, {month_day_key_sql("d.")} IN (SELECT value FROM defaults) AS is_default FROM dates d)
SELECT DISTINCT a.cluster_id
FROM flagged a JOIN flagged b ON a.cluster_id = b.cluster_id AND a.tok_dob < b.tok_dob
WHERE NOT {dates_compatible_sql("a", "b")}"""


def _document_pairs_sql(chosen: str = "true") -> str:
    """SQL of the pairs of documents (cluster, two tokens) of one person (among those ``chosen`` picks) and issuer
    more than one error apart."""
    return f"""
WITH documents AS (
    SELECT cluster_id, doc_issuing_country AS issuer, tok_document,
           any_value(coalesce(tok_document_edits, [])) AS edits
    FROM {INPUT_TABLE} WHERE tok_document IS NOT NULL AND doc_issuing_country IS NOT NULL AND {chosen}
    GROUP BY cluster_id, doc_issuing_country, tok_document
    QUALIFY count(*) OVER (PARTITION BY cluster_id, doc_issuing_country) > 1)
SELECT a.cluster_id, a.tok_document AS document_a, b.tok_document AS document_b
FROM documents a JOIN documents b
  ON a.cluster_id = b.cluster_id AND a.issuer = b.issuer AND a.tok_document < b.tok_document
WHERE NOT list_has_any(a.edits, b.edits)"""


def _concurrent_documents_sql(pairs: str) -> str:
    """SQL of the persons of ``pairs`` (see :func:`_document_pairs_sql`) whose two documents' use overlaps."""
    return f"""
WITH used AS (
    SELECT e.cluster_id, e.tok_document, min(d.day) AS first_day, max(d.day) AS last_day
    FROM {INPUT_TABLE} e
    JOIN {RECORDS_TABLE} r ON r.entity_id = e.entity_id
    JOIN ({SEEN_SQL}) d ON d.source = r.source AND d.record_id = r.record_id
    WHERE e.cluster_id IN (SELECT cluster_id FROM {pairs})
      AND e.tok_document IN (SELECT document_a FROM {pairs} UNION SELECT document_b FROM {pairs})
    GROUP BY ALL)
SELECT DISTINCT p.cluster_id
FROM {pairs} p
JOIN used a ON a.cluster_id = p.cluster_id AND a.tok_document = p.document_a
JOIN used b ON b.cluster_id = p.cluster_id AND b.tok_document = p.document_b
WHERE a.last_day - b.first_day > {CONCURRENT_DAYS} AND b.last_day - a.first_day > {CONCURRENT_DAYS}"""


def _crossings_sql(chosen: str = "true") -> str:
    """SQL of one row per person (among those ``chosen`` picks) with border crossings: crossings and
    repeated-direction crossings."""
    return f"""
SELECT cluster_id, count(*) AS crossings, count(*) FILTER (WHERE direction = previous) AS repeats
FROM (
    SELECT c.cluster_id, b.direction,
           lag(b.direction) OVER (PARTITION BY c.cluster_id ORDER BY b.crossing_time, b.record_id) AS previous
    FROM border_crossings b
    JOIN (SELECT cluster_id, record_id FROM {CLUSTERS_TABLE} WHERE source = 'border' AND {chosen}) c
      ON c.record_id = b.record_id)
GROUP BY cluster_id"""


def _bucket_sql(value: str, buckets: tuple[tuple[str, int], ...]) -> str:
    """SQL CASE giving the label of the bucket ``value`` falls in (buckets ascending, the last open)."""
    whens = " ".join(f"WHEN {value} >= {low} THEN '{label}'" for label, low in reversed(buckets[1:]))
    return f"CASE {whens} ELSE '{buckets[0][0]}' END"


def _distribution(
    con: duckdb.DuckDBPyConnection, table: str, value: str, buckets: tuple[tuple[str, int], ...]
) -> Distribution:
    """Persons of ``table`` per bucket of ``value``, every bucket listed (zeros included)."""
    found = dict(
        con.execute(f"SELECT {_bucket_sql(value, buckets)} AS bucket, count(*) FROM {table} GROUP BY ALL").fetchall()
    )
    return tuple((label, int(found.get(label, 0))) for label, _ in buckets)


def coherence_figures(con: duckdb.DuckDBPyConnection, *, incremental: bool = False) -> Coherence:
    """Coherence counts of the persons in the linkage tables (after a linkage run).

    Args:
        con: Warehouse connection holding ``linkage_input``, ``linkage_records`` and ``linkage_clusters`` (with
            the record tables ``border_crossings``, ``visa_decisions`` and ``residence_permits``).
        incremental: Keep each person's figures in :data:`~linkage.schema.COHERENCE_TABLE` and, after an
            incremental linkage (:func:`linkage.link.link_new`), count again only the persons it reclustered (the
            others' entities, records and clusters are as they were). What a night calls; without it (a report, a
            model comparison) every person is counted in a scratch table and nothing is kept. The kept figures are
            used only when they are those of the linkage just before this one; otherwise every person is counted.

    Returns:
        Counts and distributions of persons; no identifiers.
    """
    began = time.perf_counter()
    ensure_schema(con)  # a warehouse linked before the defaults existed has none: every date counts as given
    rows = COHERENCE_TABLE if incremental else "__coherence_rows"
    try:
        if not incremental:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {rows} AS {_person_rows(con, 'true')}")
        elif _kept_figures_follow_on(con):
            chosen = f"cluster_id IN (SELECT cluster_id FROM {COHERENCE_SCOPE})"
            con.execute(f"DELETE FROM {rows} WHERE {chosen}")
            con.execute(f"INSERT INTO {rows} {_person_rows(con, chosen)}")
        else:
            con.execute(f"DELETE FROM {rows}")
            con.execute(f"INSERT INTO {rows} {_person_rows(con, 'true')}")
        if incremental:
            con.execute(f"DELETE FROM {COHERENCE_STATE_TABLE}")
            con.execute(f"INSERT INTO {COHERENCE_STATE_TABLE} SELECT max(finished_at) FROM {STATE_TABLE}")
        (
            persons,
            records,
            largest,
            several_dates,
            several_documents,
            incompatible,
            same_issuer,
            concurrent,
            several_crossings,
            repeated_persons,
            repeated,
        ) = con.execute(
            f"""SELECT count(*), coalesce(sum(records), 0), coalesce(max(records), 0),
                      count(*) FILTER (WHERE birth_dates > 1), count(*) FILTER (WHERE documents > 1),
                      count(*) FILTER (WHERE incompatible_dates), count(*) FILTER (WHERE same_issuer),
                      count(*) FILTER (WHERE concurrent_documents), count(*) FILTER (WHERE crossings > 1),
                      count(*) FILTER (WHERE repeats > 0), coalesce(sum(repeats), 0)
               FROM {rows}"""
        ).fetchall()[0]
        return Coherence(
            persons=int(persons),
            records=int(records),
            largest_person_records=int(largest),
            persons_several_birth_dates=int(several_dates),
            persons_incompatible_birth_dates=int(incompatible),
            persons_several_documents=int(several_documents),
            persons_same_issuer_documents=int(same_issuer),
            persons_concurrent_documents=int(concurrent),
            persons_several_crossings=int(several_crossings),
            persons_repeated_direction=int(repeated_persons),
            repeated_direction_crossings=int(repeated),
            by_birth_dates=_distribution(con, rows, "birth_dates", COUNT_BUCKETS),
            by_documents=_distribution(con, rows, "documents", COUNT_BUCKETS),
            by_records=_distribution(con, rows, "records", RECORD_BUCKETS),
            by_repeated_crossings=_distribution(
                con, f"(SELECT * FROM {rows} WHERE crossings > 1)", "repeats", REPEAT_BUCKETS
            ),
            seconds=round(time.perf_counter() - began, 3),
        )
    finally:
        scratch = ["__coherence_rows", "__coherence_document_pairs"]
        for name in [*scratch, COHERENCE_SCOPE, COHERENCE_SCOPE_BASE] if incremental else scratch:
            con.execute(f"DROP TABLE IF EXISTS {name}")


def _kept_figures_follow_on(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the linkage just run was incremental (it left the clusters it changed in
    :data:`~linkage.link.COHERENCE_SCOPE`) and the kept figures are those of the linkage before it."""
    scratch = {
        name
        for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE temporary AND table_name IN (?, ?)",
            [COHERENCE_SCOPE, COHERENCE_SCOPE_BASE],
        ).fetchall()
    }
    if scratch != {COHERENCE_SCOPE, COHERENCE_SCOPE_BASE}:
        return False
    kept = con.execute(
        f"""SELECT count(*) FROM {COHERENCE_STATE_TABLE} k, {COHERENCE_SCOPE_BASE} b
        WHERE k.linked_at IS NOT DISTINCT FROM b.linked_at AND k.linked_at IS NOT NULL"""
    ).fetchall()[0][0]
    return bool(kept)


def _person_rows(con: duckdb.DuckDBPyConnection, chosen: str) -> str:
    """SQL of one row of figures per person (``cluster_id``) among those ``chosen`` picks (an SQL condition on
    ``cluster_id``); the pairs of documents of one issuer are put in a scratch table first."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE __coherence_document_pairs AS {_document_pairs_sql(chosen)}")
    return f"""
WITH incompatible AS ({_incompatible_dates_sql(chosen)}),
concurrent AS ({_concurrent_documents_sql("__coherence_document_pairs")}),
crossings AS ({_crossings_sql(chosen)})
SELECT p.cluster_id, p.records, p.birth_dates, p.documents,
       coalesce(p.cluster_id IN (SELECT cluster_id FROM incompatible), false) AS incompatible_dates,
       coalesce(p.cluster_id IN (SELECT cluster_id FROM __coherence_document_pairs), false) AS same_issuer,
       coalesce(p.cluster_id IN (SELECT cluster_id FROM concurrent), false) AS concurrent_documents,
       coalesce(x.crossings, 0) AS crossings, coalesce(x.repeats, 0) AS repeats
FROM (
    SELECT cluster_id, sum(records)::BIGINT AS records, count(DISTINCT tok_dob) AS birth_dates,
           count(DISTINCT tok_document) AS documents
    FROM {INPUT_TABLE} WHERE {chosen} GROUP BY cluster_id) p
LEFT JOIN crossings x ON x.cluster_id = p.cluster_id"""
