"""The batches the quality suites validate: tonight's data, computed by DuckDB and handed over as Arrow-backed
frames (no Python loop over rows). Every batch holds pseudonyms, codes, counts, dates turned into day counts and
flags; none holds a name, a birth date or a document number (they never reach the warehouse's analyst zone).

Tonight is what the ingest runs of the night (``meta_runs.run_date``) stored: re-running a held night judges the
same partitions again. Each batch is a function ``(con, night, settings) -> DataFrame`` in :data:`BATCHES`,
named by the suite files' ``meta.batch``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from pipeline.quality.bands import count_band_rows, share_band_rows
from pipeline.quality.volume import feed_counts
from pipeline.warehouse.tables import FEED_COLUMNS, RECORD_TABLES
from privacy.sql import quote_identifier

TONIGHT_RUNS = "(SELECT run_id FROM meta_runs WHERE run_date = $night AND status = 'success')"
BIG_PARTITION = 100  # rows a partition needs for its shares to be judged by a critical expectation
CODE_COLUMNS = ("sex", "nationality", "doc_issuing_country", "country_of_birth", "direction", "decision",
                "visa_category", "permit_type", "quarantine_reason")  # fmt: skip
VOLUME_DAYS = 7  # partitions older than this many days before the night (a backfill) are not judged by volume
MANY_DOCUMENTS = 4  # a person with more distinct documents than this is counted by the linkage suite


@dataclass(frozen=True)
class BatchContext:
    """What a batch needs besides the connection: the night and the band settings."""

    night: dt.date
    alpha: float = 1e-6
    holidays: frozenset[dt.date] = field(default_factory=frozenset)


Batch = Callable[[duckdb.DuckDBPyConnection, BatchContext], pd.DataFrame]

# Columns of each source's raw batch: the stored clear columns as numbers or codes (event dates as days before
# the partition's date, birth years as ages in the partition's year), NULL for the rows quarantined, whose reason
# is kept instead.
_RAW_COLUMNS = {
    "border": """direction, sex, nationality, doc_issuing_country,
        (partition_date - crossing_date) AS days_before_partition, year(partition_date) - birth_year AS age""",
    "visa": """decision, visa_category, sex, nationality, doc_issuing_country,
        (partition_date - decision_date) AS days_before_partition, (valid_until - valid_from) AS valid_days,
        year(partition_date) - birth_year AS age""",
    "permit": """permit_type, sex, nationality, doc_issuing_country, country_of_birth,
        (partition_date - issue_date) AS days_before_partition, (valid_until - valid_from) AS valid_days,
        year(partition_date) - birth_year AS age""",
}


def raw_batch(source: str) -> Batch:
    """Tonight's rows of one source as read: the accepted ones from the record table, the quarantined ones with
    their record id and reason (so that duplicates within a partition and the quarantine share can be judged), and
    the partition's row count. Shares are judged critically on partitions of :data:`BIG_PARTITION` rows or more
    only (on fewer, a share is not evidence of a broken delivery): the ``*_big`` columns repeat a column for
    those partitions and are NULL, which the expectations skip, elsewhere (a filter in SQL, not a row condition
    Great Expectations would apply per expectation). Code columns are pandas categories."""
    table = RECORD_TABLES[source]

    def build(con: duckdb.DuckDBPyConnection, ctx: BatchContext) -> pd.DataFrame:
        valid = ", CASE WHEN big THEN valid_days END AS valid_days_big" if source != "border" else ""
        frame = con.execute(
            f"""WITH rows AS (
                    SELECT record_id, partition_date, {_RAW_COLUMNS[source]}, NULL::VARCHAR AS quarantine_reason
                    FROM {table} WHERE run_id IN {TONIGHT_RUNS}
                    UNION ALL BY NAME
                    SELECT record_id, partition_date, reason AS quarantine_reason
                    FROM quarantine WHERE source = $source AND run_id IN {TONIGHT_RUNS}),
                counted AS (SELECT *, count(*) OVER (PARTITION BY partition_date) AS partition_rows FROM rows),
                judged AS (SELECT *, partition_rows >= {BIG_PARTITION} AS big FROM counted)
                SELECT * EXCLUDE (big), CASE WHEN big THEN record_id END AS record_id_big,
                       CASE WHEN big THEN days_before_partition END AS days_before_partition_big,
                       CASE WHEN big THEN age END AS age_big,
                       CASE WHEN big THEN quarantine_reason IS NOT NULL END AS quarantined_big{valid}
                FROM judged""",
            {"night": ctx.night, "source": source},
        ).df()
        return _categorical(frame, CODE_COLUMNS)

    return build


def judged_days(con: duckdb.DuckDBPyConnection, night: dt.date) -> list[dt.date]:
    """The days whose volumes tonight's gate judges: the night itself and the partitions stored tonight that are
    at most :data:`VOLUME_DAYS` older (a late partition is judged against its own day's band)."""
    rows = con.execute(
        f"""SELECT DISTINCT partition_date FROM meta_partitions WHERE run_id IN {TONIGHT_RUNS}
            AND partition_date BETWEEN $night::DATE - {VOLUME_DAYS} AND $night""",
        {"night": night},
    ).fetchall()
    return sorted({night, *(day for (day,) in rows)})


def volume_batch(con: duckdb.DuckDBPyConnection, ctx: BatchContext) -> pd.DataFrame:
    """One row per feed and judged day: the day's count and its band (:mod:`pipeline.quality.volume`).

    Feeds: each source (rows read, from ``meta_partitions``; a source with no partition counts 0) and each port,
    visa category and permit type (accepted rows, from ``meta_feed_volumes``; a port that stops reporting counts 0).
    """
    days = judged_days(con, ctx.night)
    sources = daily_sums(con, "SELECT source AS feed, partition_date AS day, rows_read AS n FROM meta_partitions", days)
    feeds = daily_sums(
        con,
        "SELECT source || '/' || feed AS feed, partition_date AS day, rows_accepted AS n FROM meta_feed_volumes",
        days,
    )
    rows = count_band_rows(sources, days, alpha=ctx.alpha, holidays=ctx.holidays, kind="source")
    rows += count_band_rows(feeds, days, alpha=ctx.alpha, holidays=ctx.holidays, kind="feed")
    return _frame(rows)


def daily_sums(
    con: duckdb.DuckDBPyConnection, sql: str, days: list[dt.date], window: int = 56
) -> dict[str, list[tuple[dt.date, int]]]:
    """Per feed, the daily sum of ``n`` of ``sql`` (columns feed, day, n) from the feed's first day in the window
    before the earliest judged day to the last judged day, days without rows as 0
    (:func:`pipeline.quality.volume.feed_counts`)."""
    found = feed_counts(
        con,
        f"({sql})",
        day_column="day",
        key_columns=("feed",),
        since=min(days) - dt.timedelta(days=window),
        until=max(days),
        value_column="n",
    )
    return {str(key[0]): history for key, history in found.items()}


SHAPE_COLUMNS = """t.key_version,
    t.record_id IS NOT NULL AS has_pseudonyms,
    bit_length(t.clk_name) AS clk_name_bits, bit_length(t.clk_family) AS clk_family_bits,
    bit_length(t.clk_given) AS clk_given_bits,
    t.tok_family_name IS NOT NULL AS has_family_name, t.tok_dob IS NOT NULL AS has_birth_date,
    t.tok_document IS NOT NULL AS has_document"""


def pseudonym_batch(con: duckdb.DuckDBPyConnection, ctx: BatchContext) -> pd.DataFrame:
    """Tonight's records with the shape of their pseudonyms (never the pseudonyms themselves) and whether the
    key version they were made with is a registered, unretired one."""
    stored = " UNION ALL ".join(
        f"SELECT '{source}' AS source, record_id FROM {table} WHERE run_id IN {TONIGHT_RUNS}"
        for source, table in RECORD_TABLES.items()
    )
    return con.execute(
        f"""SELECT r.source, {SHAPE_COLUMNS},
                   t.key_version IN (SELECT version FROM meta_keys WHERE retired_at IS NULL) AS key_version_known,
                   t.key_version = (SELECT max(version) FROM meta_token_version) AS key_version_current
            FROM ({stored}) r LEFT JOIN identity_tokens t USING (source, record_id)""",
        {"night": ctx.night},
    ).df()


# Text columns that hold ids the warehouse makes or the providers assign (never a person's data) are not scanned.
ID_COLUMNS = frozenset({"record_id", "run_id", "person_key", "stay_id", "arrival_record_id", "departure_record_id"})


def text_value_batch(con: duckdb.DuckDBPyConnection, ctx: BatchContext) -> pd.DataFrame:
    """The distinct values of every text column of tonight's rows in the analyst and linkage zones (record tables,
    classified crossings, statistics), with the table and column they come from."""
    scopes = {
        **{table: f"run_id IN {TONIGHT_RUNS}" for table in RECORD_TABLES.values()},
        "crossing_classification": "computed_on = $night",
        "person_stays": "TRUE",
        "stat_migration_flows": "vintage = $night",
        "stat_first_permits": "vintage = $night",
        "stat_resident_stock": "vintage = $night",
        "stat_overstays": "vintage = $night",
    }
    columns = con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'main' AND data_type = 'VARCHAR' "
        "AND list_contains($tables, table_name) ORDER BY table_name, column_index",
        {"tables": list(scopes)},
    ).fetchall()
    parts = [
        f"SELECT DISTINCT '{table}' AS table_name, '{column}' AS column_name, {quote_identifier(column)} AS value "
        f"FROM {table} WHERE {scopes[table]} AND {quote_identifier(column)} IS NOT NULL"
        for table, column in columns
        if column not in ID_COLUMNS
    ]
    if not parts:
        return pd.DataFrame({"table_name": [], "column_name": [], "value": []})
    return con.execute(" UNION ALL ".join(parts), {"night": ctx.night}).df()


LINKAGE_COUNTS = ("merged_keys", "split_keys", "largest_person_records", "persons_incompatible_birth_dates")


def linkage_measure_batch(con: duckdb.DuckDBPyConnection, ctx: BatchContext) -> pd.DataFrame:
    """Tonight's linkage measures against bands of the incremental nights before it: merges, splits, the largest
    person, persons with birth dates too far apart (counts), and the share of tonight's records that joined an
    existing person. A full relink is not compared with incremental nights (no band)."""
    rows = con.execute(
        """SELECT night, mode, new_records, joined_existing, merged_keys, split_keys, largest_person_records,
                  persons_incompatible_birth_dates
           FROM linkage_nights WHERE night <= $night QUALIFY row_number() OVER (PARTITION BY night
                ORDER BY finished_at DESC) = 1 ORDER BY night""",
        {"night": ctx.night},
    ).fetchall()
    tonight = [r for r in rows if r[0] == ctx.night]
    if not tonight:
        return _frame([])
    night_row = tonight[0]
    earlier = [r for r in rows if r[0] < ctx.night and r[1] == "incremental"]
    full = night_row[1] != "incremental"
    counts: dict[str, list[tuple[dt.date, int]]] = {}
    for i, name in enumerate(LINKAGE_COUNTS, start=4):
        counts[name] = [(r[0], int(r[i])) for r in earlier] + [(ctx.night, int(night_row[i]))]
    out = count_band_rows(counts, [ctx.night], alpha=ctx.alpha, kind="linkage", no_band=full)
    shares = [(r[0], int(r[2]), int(r[3])) for r in earlier]
    out += share_band_rows(
        "joined_existing_share", shares, (ctx.night, int(night_row[2]), int(night_row[3])), ctx.alpha, no_band=full
    )
    return _frame(out)


def linkage_person_batch(con: duckdb.DuckDBPyConnection, ctx: BatchContext) -> pd.DataFrame:
    """The persons tonight's records belong to: the span of their birth years and how many distinct documents
    they hold."""
    stored = " UNION ALL ".join(
        f"SELECT '{source}' AS source, record_id, birth_year, run_id FROM {table}"
        for source, table in RECORD_TABLES.items()
    )
    return con.execute(
        f"""WITH records AS ({stored}),
                 touched AS (SELECT DISTINCT k.person_key FROM person_keys k JOIN records r USING (source, record_id)
                             WHERE r.run_id IN {TONIGHT_RUNS})
            SELECT k.person_key IS NOT NULL AS linked, max(r.birth_year) - min(r.birth_year) AS birth_year_span,
                   count(DISTINCT t.tok_document) AS documents
            FROM touched JOIN person_keys k USING (person_key) JOIN records r USING (source, record_id)
            LEFT JOIN identity_tokens t USING (source, record_id)
            GROUP BY k.person_key""",
        {"night": ctx.night},
    ).df()


def history_crossing_batch(con: duckdb.DuckDBPyConnection, ctx: BatchContext) -> pd.DataFrame:
    """The crossings classified tonight, each with whether it continues the residence its person's previous
    crossing left them in (the sequence is consistent after cleaning) and whether it alternates direction or
    carries the anomaly that cleaning flagged it with."""
    return con.execute(
        """SELECT status, anomaly,
                  coalesce(lag(residence_after) OVER w = residence_before, TRUE) AS continues_residence,
                  coalesce(lag(direction) OVER w <> direction, TRUE) AS alternates,
                  coalesce(lag(direction) OVER w <> direction, TRUE) OR anomaly IS NOT NULL AS alternates_or_flagged,
                  computed_on = $night AS tonight
           FROM crossing_classification
           WHERE person_key IN (SELECT person_key FROM crossing_classification WHERE computed_on = $night)
           WINDOW w AS (PARTITION BY person_key ORDER BY seq)""",
        {"night": ctx.night},
    ).df()


def history_stay_batch(con: duckdb.DuckDBPyConnection, ctx: BatchContext) -> pd.DataFrame:
    """The stays of the persons classified tonight: their length in days (end minus arrival) and, for a stay
    with a departure, departure minus arrival."""
    return con.execute(
        """SELECT (end_date - arrival_date) AS stay_days, (departure_date - arrival_date) AS departure_days,
                  overstay_days
           FROM person_stays
           WHERE person_key IN (SELECT person_key FROM crossing_classification WHERE computed_on = $night)""",
        {"night": ctx.night},
    ).df()


def history_measure_batch(con: duckdb.DuckDBPyConnection, ctx: BatchContext) -> pd.DataFrame:
    """Tonight's shares of pending crossings and of crossings with a sequence anomaly against bands of earlier
    nights of the same mode (an incremental night touches other persons than a full one)."""
    rows = con.execute(
        """SELECT night, mode, crossings, pending, anomalies FROM history_runs WHERE night <= $night
           QUALIFY row_number() OVER (PARTITION BY night ORDER BY finished_at DESC) = 1 ORDER BY night""",
        {"night": ctx.night},
    ).fetchall()
    tonight = [r for r in rows if r[0] == ctx.night]
    if not tonight:
        return _frame([])
    now = tonight[0]
    earlier = [r for r in rows if r[0] < ctx.night and r[1] == now[1]]
    out: list[dict[str, object]] = []
    for name, column in (("pending_share", 3), ("anomaly_share", 4)):
        history = [(r[0], int(r[2]), int(r[column])) for r in earlier]
        out += share_band_rows(name, history, (ctx.night, int(now[2]), int(now[column])), ctx.alpha)
    return _frame(out)


STAT_MEASURES = {
    "stat_migration_flows": ("arrivals", "departures", "pending_arrivals", "pending_departures", "pending_crossings"),
    "stat_first_permits": ("first_permits",),
    "stat_resident_stock": ("residents", "pending_residents", "pending_persons"),
    "stat_overstays": ("overstays", "open_overstays", "entries_without_visa"),
}


def _stat_cells_sql() -> str:
    return " UNION ALL ".join(
        f"""SELECT '{table}' AS table_name, '{measure}' AS measure, period, period_type, dimension, category,
                   {measure} AS value FROM {table} WHERE vintage = $night"""
        for table, measures in STAT_MEASURES.items()
        for measure in measures
    )


def statistics_cell_batch(con: duckdb.DuckDBPyConnection, ctx: BatchContext) -> pd.DataFrame:
    """Every count of tonight's statistics tables (net migration, a difference, is left out)."""
    return con.execute(
        f"SELECT table_name, measure, dimension, value FROM ({_stat_cells_sql()})", {"night": ctx.night}
    ).df()


def statistics_margin_batch(con: duckdb.DuckDBPyConnection, ctx: BatchContext) -> pd.DataFrame:
    """For every table, measure, period and breakdown of tonight's statistics: the sum of the breakdown's
    categories minus the total (0 when the margins are consistent: every record falls in one category)."""
    return con.execute(
        f"""WITH cells AS ({_stat_cells_sql()}),
                 totals AS (SELECT table_name, measure, period, period_type, value AS total FROM cells
                            WHERE dimension = 'total')
            SELECT c.table_name, c.measure, c.dimension, sum(c.value) - any_value(t.total) AS difference
            FROM cells c JOIN totals t USING (table_name, measure, period, period_type)
            WHERE c.dimension <> 'total' GROUP BY c.table_name, c.measure, c.period, c.period_type, c.dimension""",
        {"night": ctx.night},
    ).df()


def release_cell_batch(con: duckdb.DuckDBPyConnection, ctx: BatchContext) -> pd.DataFrame:
    """The cells of tonight's releases, each with whether it obeys its method's rule: withheld or 0 or at least
    the threshold (suppression), a multiple of 3 (rounding), never 1 to ``block_small`` nor negative (cell key);
    differentially private counts have no rule on the value. Net migration is derived and not judged."""
    return con.execute(
        """SELECT l.method, c.measure, c.conf_status,
                  CASE WHEN c.released IS NULL THEN c.conf_status IN ('A', 'D')
                       WHEN l.method = 'suppression' THEN c.released = 0
                            OR c.released >= CAST(json_extract_string(l.parameters, '$.threshold') AS BIGINT)
                       WHEN l.method = 'rr3' THEN c.released % 3 = 0 AND c.released >= 0
                       WHEN l.method = 'cell_key' THEN c.released = 0
                            OR c.released > CAST(json_extract_string(l.parameters, '$.block_small') AS BIGINT)
                       ELSE TRUE END AS obeys_rule
           FROM release_cells c JOIN release_ledger l USING (release_id, table_name)
           WHERE l.release_date = $night AND c.measure <> 'net_migration'""",
        {"night": ctx.night},
    ).df()


def _categorical(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Code columns as pandas categories: value-set checks on a million rows compare a few codes, not strings."""
    for column in columns:
        if column in frame.columns:
            frame[column] = frame[column].astype("category")
    return frame


def _frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    columns = ["kind", "measure", "day", "observed", "low", "high", "expected", "note"]
    return pd.DataFrame(rows, columns=columns).astype({"observed": "float64", "low": "float64", "high": "float64"})


BATCHES: dict[str, Batch] = {
    **{f"raw_{source}": raw_batch(source) for source in RECORD_TABLES},
    "raw_volume": volume_batch,
    "pseudonyms": pseudonym_batch,
    "no_personal_data": text_value_batch,
    "linkage_measures": linkage_measure_batch,
    "linkage_persons": linkage_person_batch,
    "history_crossings": history_crossing_batch,
    "history_stays": history_stay_batch,
    "history_measures": history_measure_batch,
    "statistics_cells": statistics_cell_batch,
    "statistics_margins": statistics_margin_batch,
    "release_cells": release_cell_batch,
}
assert set(FEED_COLUMNS) == set(RECORD_TABLES)
