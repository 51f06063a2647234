"""The tables the pipeline owns, declared in one place, and their numbered migrations.

* ingest (:mod:`pipeline.ingest`): ``meta_runs``, ``meta_partitions``, ``meta_files``, ``meta_keys``,
  ``meta_token_version``, ``meta_replays``, ``meta_retention``, ``meta_pending_tokens``, the record tables
  ``border_crossings``, ``visa_decisions``, ``residence_permits`` (analysts': no identifiers), the linkage zone's
  ``identity_tokens`` (keyed pseudonyms) and the sealed ``identity_vault`` and ``quarantine``;
* the link step's bookkeeping (:mod:`pipeline.nightly.linking`): ``linkage_runs``;
* histories (:mod:`pipeline.histories`): ``crossing_classification``, ``person_stays``, ``stay_authorizations``,
  ``crossing_vintages``, ``history_runs``;
* statistics (:mod:`pipeline.statistics`): ``stat_migration_flows``, ``stat_first_permits``,
  ``stat_resident_stock``, ``stat_overstays``, ``stat_revisions``;
* publishing (:mod:`pipeline.publish`): ``release_ledger``, ``release_cells``, ``release_refusals``,
  ``release_suppression_memo`` (patterns of withheld cells already audited, by digest: no counts);
* minimization (:mod:`pipeline.ingest.minimization`): ``meta_minimization``;
* quality (:mod:`pipeline.quality`): ``meta_feed_volumes`` (accepted rows per port or category and day, written by
  ingest), ``quality_results`` (each expectation's outcome per night: counts and observed values only) and
  ``quality_acceptances`` (holds an operator accepted, with the reason).

Migrations are never edited once released; a change to a table is a new :class:`~privacy.schema.Migration` at
the end of :data:`PIPELINE`.
"""

from __future__ import annotations

import re

import duckdb

from privacy.schema import Component, Migration, table_columns
from privacy.sql import quote_identifier
from privacy.tokens import ALL_TOKENS, TokenSpec

_COMMON = """
    birth_year INTEGER, sex VARCHAR, nationality VARCHAR, doc_issuing_country VARCHAR,
    partition_date DATE NOT NULL, run_id VARCHAR NOT NULL
"""
# Bloom-filter encodings are random bits: DuckDB's string compression finds nothing in them, and trying cost 1.5 s
# of the insert and commit of 820,000 border records (2.6-3.05 -> 1.26-1.44 s; the table takes 7 % more blocks).
_UNCOMPRESSED = " USING COMPRESSION uncompressed"


def _token_column(spec: TokenSpec) -> str:
    return f"{quote_identifier(spec.column)} {spec.sql_type}{_UNCOMPRESSED if spec.kind == 'clk' else ''}"


_TOKEN_COLUMNS = ", ".join(_token_column(spec) for spec in ALL_TOKENS)

INGEST_DDL = [
    """CREATE TABLE IF NOT EXISTS meta_runs (
        run_id VARCHAR PRIMARY KEY, run_date DATE NOT NULL, started_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP, status VARCHAR NOT NULL, partitions INTEGER, rows_read BIGINT,
        rows_accepted BIGINT, rows_quarantined BIGINT)""",
    """CREATE TABLE IF NOT EXISTS meta_partitions (
        source VARCHAR NOT NULL, partition_date DATE NOT NULL, files INTEGER NOT NULL,
        rows_read BIGINT NOT NULL, rows_accepted BIGINT NOT NULL, rows_quarantined BIGINT NOT NULL,
        run_id VARCHAR NOT NULL, processed_at TIMESTAMP NOT NULL, PRIMARY KEY (source, partition_date))""",
    """CREATE TABLE IF NOT EXISTS meta_files (
        source VARCHAR NOT NULL, partition_date DATE NOT NULL, file VARCHAR NOT NULL,
        bytes BIGINT NOT NULL, sha256 VARCHAR NOT NULL, rows_read BIGINT NOT NULL, run_id VARCHAR NOT NULL,
        PRIMARY KEY (file))""",
    """CREATE TABLE IF NOT EXISTS meta_keys (
        key_id VARCHAR NOT NULL, version INTEGER NOT NULL, fingerprint VARCHAR NOT NULL,
        active BOOLEAN NOT NULL, registered_at TIMESTAMP NOT NULL, retired_at TIMESTAMP,
        PRIMARY KEY (key_id, version))""",
    # The key version every pseudonym in the warehouse is made with (one at a time; rekey moves it).
    """CREATE TABLE IF NOT EXISTS meta_token_version (version INTEGER NOT NULL, since TIMESTAMP NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS border_crossings (
        record_id VARCHAR PRIMARY KEY, direction VARCHAR NOT NULL, crossing_time TIMESTAMP NOT NULL,
        crossing_date DATE NOT NULL, port VARCHAR, doc_type VARCHAR, {_COMMON})""",
    f"""CREATE TABLE IF NOT EXISTS visa_decisions (
        record_id VARCHAR PRIMARY KEY, visa_category VARCHAR, decision VARCHAR NOT NULL,
        decision_date DATE NOT NULL, valid_from DATE, valid_until DATE, {_COMMON})""",
    f"""CREATE TABLE IF NOT EXISTS residence_permits (
        record_id VARCHAR PRIMARY KEY, permit_type VARCHAR, reason VARCHAR, issue_date DATE NOT NULL,
        valid_from DATE, valid_until DATE, country_of_birth VARCHAR, region VARCHAR, {_COMMON})""",
    # Linkage zone: pseudonyms per record (what linkage compares) and the sealed identifiers they came from
    # (one AES-GCM blob per source, partition and run: what a rekey re-derives the pseudonyms from).
    # (source, record_id) is unique through the record tables' primary keys; no second index is kept here.
    f"""CREATE TABLE IF NOT EXISTS identity_tokens (
        source VARCHAR NOT NULL, record_id VARCHAR NOT NULL, key_version INTEGER NOT NULL, {_TOKEN_COLUMNS})""",
    """CREATE TABLE IF NOT EXISTS identity_vault (
        source VARCHAR NOT NULL, partition_date DATE NOT NULL, run_id VARCHAR NOT NULL, records BIGINT NOT NULL,
        key_version INTEGER NOT NULL, sealed_identities BLOB NOT NULL, PRIMARY KEY (source, partition_date, run_id))""",
    """CREATE TABLE IF NOT EXISTS quarantine (
        quarantine_id VARCHAR PRIMARY KEY, source VARCHAR NOT NULL, partition_date DATE NOT NULL,
        file VARCHAR NOT NULL, line BIGINT NOT NULL, record_id VARCHAR, reason VARCHAR NOT NULL,
        sealed_row BLOB NOT NULL, key_version INTEGER NOT NULL, run_id VARCHAR NOT NULL,
        quarantined_at TIMESTAMP NOT NULL, resolved_at TIMESTAMP, resolution VARCHAR)""",
]

INGEST_DDL += [
    """CREATE TABLE IF NOT EXISTS meta_replays (
        run_id VARCHAR PRIMARY KEY, replayed_at TIMESTAMP NOT NULL, file VARCHAR NOT NULL,
        rows BIGINT NOT NULL, replayed BIGINT NOT NULL, still_invalid BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS meta_retention (
        source VARCHAR NOT NULL, partition_date DATE NOT NULL, action VARCHAR NOT NULL, files INTEGER NOT NULL,
        bytes BIGINT NOT NULL, archive_file VARCHAR, run_id VARCHAR NOT NULL, by_user VARCHAR NOT NULL,
        recorded_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS meta_pending_tokens (column_name VARCHAR PRIMARY KEY, added_at TIMESTAMP NOT NULL)""",
]

FLOWS_TABLE = "stat_migration_flows"
PERMITS_TABLE = "stat_first_permits"
STOCK_TABLE = "stat_resident_stock"
OVERSTAYS_TABLE = "stat_overstays"
REVISIONS_TABLE = "stat_revisions"
# (label, measure column, lowest day, highest day or None)
OVERSTAY_BANDS = (
    ("1-30", "overstays_1_30", 1, 30),
    ("31-90", "overstays_31_90", 31, 90),
    ("91-180", "overstays_91_180", 91, 180),
    ("181-365", "overstays_181_365", 181, 365),
    ("over 365", "overstays_over_365", 366, None),
)
_KEY = """vintage DATE NOT NULL, cutoff DATE NOT NULL, period VARCHAR NOT NULL, period_type VARCHAR NOT NULL,
    dimension VARCHAR NOT NULL, category VARCHAR NOT NULL"""
_BAND_COLUMNS = ", ".join(f"{column} BIGINT NOT NULL" for _l, column, _lo, _hi in OVERSTAY_BANDS)
STATISTICS_DDL = [
    f"""CREATE TABLE IF NOT EXISTS {FLOWS_TABLE} ({_KEY}, arrivals BIGINT NOT NULL, departures BIGINT NOT NULL,
        net_migration BIGINT NOT NULL, pending_arrivals BIGINT NOT NULL, pending_departures BIGINT NOT NULL,
        pending_crossings BIGINT NOT NULL, figure VARCHAR NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {PERMITS_TABLE} ({_KEY}, first_permits BIGINT NOT NULL, figure VARCHAR NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {STOCK_TABLE} ({_KEY}, reference_date DATE NOT NULL, residents BIGINT NOT NULL,
        pending_residents BIGINT NOT NULL, pending_persons BIGINT NOT NULL, figure VARCHAR NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {OVERSTAYS_TABLE} ({_KEY}, overstays BIGINT NOT NULL, {_BAND_COLUMNS},
        open_overstays BIGINT NOT NULL, entries_without_visa BIGINT NOT NULL, figure VARCHAR NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {REVISIONS_TABLE} (
        vintage DATE NOT NULL, table_name VARCHAR NOT NULL, period VARCHAR NOT NULL, period_type VARCHAR NOT NULL,
        dimension VARCHAR NOT NULL, category VARCHAR NOT NULL, measure VARCHAR NOT NULL,
        previous_vintage DATE NOT NULL, previous_value BIGINT, current_value BIGINT, previous_figure VARCHAR,
        current_figure VARCHAR)""",
]

HISTORIES_DDL = [
    """CREATE TABLE IF NOT EXISTS crossing_classification (
        record_id VARCHAR PRIMARY KEY, person_key VARCHAR NOT NULL, direction VARCHAR NOT NULL,
        crossing_date DATE NOT NULL, seq INTEGER NOT NULL, residence_before VARCHAR NOT NULL,
        residence_after VARCHAR NOT NULL, long_term_migration BOOLEAN, status VARCHAR NOT NULL,
        resolved_date DATE NOT NULL, anomaly VARCHAR, nationality VARCHAR, sex VARCHAR, birth_year INTEGER,
        country_of_birth VARCHAR, authorization_category VARCHAR, computed_on DATE NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS person_stays (
        person_key VARCHAR NOT NULL, stay_id VARCHAR PRIMARY KEY, arrival_record_id VARCHAR NOT NULL,
        departure_record_id VARCHAR, arrival_date DATE NOT NULL, departure_date DATE, end_date DATE NOT NULL,
        departure_missing BOOLEAN NOT NULL, nationality VARCHAR, visa_required BOOLEAN NOT NULL,
        needs_permission BOOLEAN NOT NULL, covered_until DATE, entry_without_visa BOOLEAN NOT NULL,
        overstay_days INTEGER NOT NULL, overstay_start DATE)""",
    """CREATE TABLE IF NOT EXISTS stay_authorizations (
        stay_id VARCHAR NOT NULL, person_key VARCHAR NOT NULL, source VARCHAR NOT NULL, record_id VARCHAR NOT NULL,
        category VARCHAR, valid_from DATE NOT NULL, valid_until DATE NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS crossing_vintages (
        night DATE NOT NULL, record_id VARCHAR NOT NULL, change VARCHAR NOT NULL,
        previous_status VARCHAR, status VARCHAR NOT NULL, previous_long_term BOOLEAN, long_term_migration BOOLEAN,
        previous_residence_after VARCHAR, residence_after VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS history_runs (
        night DATE NOT NULL, cutoff DATE NOT NULL, finished_at TIMESTAMP NOT NULL, mode VARCHAR NOT NULL,
        persons BIGINT NOT NULL, crossings BIGINT NOT NULL, pending BIGINT NOT NULL, anomalies BIGINT NOT NULL,
        window_days INTEGER NOT NULL, threshold_days INTEGER NOT NULL, host_country VARCHAR NOT NULL)""",
]

LINKAGE_RUNS_DDL = """CREATE TABLE IF NOT EXISTS linkage_runs (
    night DATE NOT NULL, finished_at TIMESTAMP NOT NULL, records BIGINT NOT NULL, persons BIGINT NOT NULL,
    review_pairs_queued BIGINT NOT NULL)"""

# Publishing (pipeline.publish): everything released, cell by cell, and every request refused.
RELEASE_DDL = (
    """CREATE TABLE IF NOT EXISTS release_ledger (
        release_id VARCHAR NOT NULL, purpose VARCHAR NOT NULL, audience VARCHAR NOT NULL,
        table_name VARCHAR NOT NULL, release_date DATE NOT NULL, released_at TIMESTAMP NOT NULL,
        vintage DATE NOT NULL, cutoff DATE NOT NULL, register_version VARCHAR NOT NULL,
        register_sha256 VARCHAR NOT NULL, method VARCHAR NOT NULL, parameters JSON NOT NULL, cells BIGINT NOT NULL,
        suppressed BIGINT NOT NULL, perturbed BIGINT NOT NULL, mean_abs_deviation DOUBLE NOT NULL,
        budget_spent VARCHAR, budget_period VARCHAR, file VARCHAR NOT NULL, sha256 VARCHAR NOT NULL,
        off_calendar BOOLEAN NOT NULL, reason VARCHAR, by_user VARCHAR NOT NULL,
        PRIMARY KEY (release_id, table_name))""",
    """CREATE TABLE IF NOT EXISTS release_cells (
        release_id VARCHAR NOT NULL, purpose VARCHAR NOT NULL, table_name VARCHAR NOT NULL, measure VARCHAR NOT NULL,
        period_type VARCHAR NOT NULL, period VARCHAR NOT NULL, dimension VARCHAR NOT NULL, category VARCHAR NOT NULL,
        released BIGINT, conf_status VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS release_refusals (
        refused_at TIMESTAMP NOT NULL, purpose VARCHAR NOT NULL, asked VARCHAR NOT NULL, reason VARCHAR NOT NULL,
        by_user VARCHAR NOT NULL)""",
)

# The cell key of each published count (pipeline.statistics.tables: its members' record keys summed mod 2^32).
CELL_KEY_COLUMNS = (
    ("stat_migration_flows", "arrivals_ck"),
    ("stat_migration_flows", "departures_ck"),
    ("stat_first_permits", "first_permits_ck"),
    ("stat_resident_stock", "residents_ck"),
    ("stat_overstays", "overstays_ck"),
    ("stat_overstays", "entries_without_visa_ck"),
)

RECORD_TABLES = {"border": "border_crossings", "visa": "visa_decisions", "permit": "residence_permits"}
# The column that splits each source into feeds whose daily volume the quality gates watch (meta_feed_volumes).
FEED_COLUMNS = {"border": "port", "visa": "visa_category", "permit": "permit_type"}

QUALITY_DDL = (
    """CREATE TABLE IF NOT EXISTS meta_feed_volumes (
        source VARCHAR NOT NULL, partition_date DATE NOT NULL, feed_column VARCHAR NOT NULL, feed VARCHAR NOT NULL,
        rows_accepted BIGINT NOT NULL, run_id VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS quality_results (
        night DATE NOT NULL, gate_run VARCHAR NOT NULL, stage VARCHAR NOT NULL, suite VARCHAR NOT NULL,
        suite_version INTEGER NOT NULL, expectation VARCHAR NOT NULL, expectation_type VARCHAR NOT NULL,
        severity VARCHAR NOT NULL, success BOOLEAN NOT NULL, element_count BIGINT, unexpected_count BIGINT,
        observed DOUBLE, accepted BOOLEAN NOT NULL, checked_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS quality_acceptances (
        night DATE NOT NULL, expectation VARCHAR NOT NULL, reason VARCHAR NOT NULL, by_user VARCHAR NOT NULL,
        accepted_at TIMESTAMP NOT NULL, unexpected_count BIGINT)""",
)


def _backfill_feed_volumes(con: duckdb.DuckDBPyConnection) -> None:
    """Create the quality tables and count the feeds of the records already stored (a column minimization no
    longer stores cannot be counted back: its feeds start with the next night)."""
    for statement in QUALITY_DDL:
        con.execute(statement)
    for source, column in FEED_COLUMNS.items():
        table = RECORD_TABLES[source]
        if column not in (table_columns(con, table) or set()):
            continue
        con.execute(
            f"""INSERT INTO meta_feed_volumes SELECT '{source}', partition_date, '{column}',
                coalesce({quote_identifier(column)}, ''), count(*), any_value(run_id) FROM {table} GROUP BY ALL"""
        )


def add_token_columns(con: duckdb.DuckDBPyConnection) -> None:
    """Add the pseudonym columns introduced since the warehouse was built (``clk_family``, ``clk_given``, ...) to
    ``identity_tokens``. They are NULL for the existing records (linkage treats them as missing) and, when there
    are records, listed in ``meta_pending_tokens`` until ``migralink keys rekey`` derives them from the sealed
    identities."""
    present = table_columns(con, "identity_tokens") or set()
    missing = [spec for spec in ALL_TOKENS if spec.column not in present]
    if not missing:
        return
    pending = con.execute("SELECT count(*) FROM identity_tokens").fetchall()[0][0]
    for spec in missing:
        con.execute(f"ALTER TABLE identity_tokens ADD COLUMN IF NOT EXISTS {_token_column(spec)}")
        if pending:
            con.execute("INSERT OR IGNORE INTO meta_pending_tokens VALUES (?, now())", [spec.column])


# Keys the history step checks itself (:func:`pipeline.histories.build.check_unique`) instead of a PRIMARY KEY: the
# step deletes and inserts the rows of every person touched tonight, and DuckDB's commit of deletes from a table
# with an index fetches each deleted row's key back (2 s for the 10,000 crossings of 2,600 persons in a table of
# 840,000; 0.01 s without the index).
UNINDEXED_KEYS = (("crossing_classification", "record_id"), ("person_stays", "stay_id"))


def _drop_history_primary_keys(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild the history tables of :data:`UNINDEXED_KEYS` without their PRIMARY KEY (the key column stays NOT
    NULL; the rows, columns and their order are kept)."""
    for table, column in UNINDEXED_KEYS:
        found = con.execute(
            "SELECT sql FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = ?", [table]
        ).fetchall()
        keyed = f"{column} VARCHAR PRIMARY KEY"
        if not found or keyed not in found[0][0]:
            continue
        _rebuild(con, table, found[0][0].replace(keyed, f"{column} VARCHAR NOT NULL"))


def _rebuild(con: duckdb.DuckDBPyConnection, table: str, ddl: str) -> None:
    """Make ``table`` again from ``ddl`` (its ``CREATE TABLE`` as ``duckdb_tables()`` gives it, changed), with its
    rows."""
    scratch = f"{table}__rebuilt"
    con.execute(ddl.replace(table, scratch, 1))
    con.execute(f"INSERT INTO {scratch} SELECT * FROM {table}")
    con.execute(f"DROP TABLE {table}")
    con.execute(f"ALTER TABLE {scratch} RENAME TO {table}")


def _encodings_uncompressed(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild ``identity_tokens`` with its Bloom-filter columns stored uncompressed (see :data:`_UNCOMPRESSED`),
    if any of them is not yet; the rows and the columns' order are kept."""
    found = con.execute(
        "SELECT sql FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = 'identity_tokens'"
    ).fetchall()
    if not found:
        return
    encodings = {spec.column for spec in ALL_TOKENS if spec.kind == "clk"}
    pattern = r'(\w+|"[^"]+") BIT(?= USING COMPRESSION|[,)])( USING COMPRESSION \w+)?'

    def uncompressed(match: re.Match[str]) -> str:
        name = match.group(1).strip('"')
        return f"{match.group(1)} BIT{_UNCOMPRESSED}" if name in encodings else match.group(0)

    ddl = re.sub(pattern, uncompressed, found[0][0])
    if ddl.lower() != found[0][0].lower():
        _rebuild(con, "identity_tokens", ddl)


PIPELINE = Component(
    name="pipeline",
    tables=(
        "meta_runs",
        "meta_partitions",
        "meta_files",
        "meta_keys",
        "meta_token_version",
        "meta_replays",
        "meta_retention",
        "meta_pending_tokens",
        "meta_redeliveries",
        "meta_reprocessed",
        *RECORD_TABLES.values(),
        "identity_tokens",
        "identity_vault",
        "quarantine",
        "linkage_runs",
        "crossing_classification",
        "person_stays",
        "stay_authorizations",
        "crossing_vintages",
        "history_runs",
        FLOWS_TABLE,
        PERMITS_TABLE,
        STOCK_TABLE,
        OVERSTAYS_TABLE,
        REVISIONS_TABLE,
        "release_ledger",
        "release_cells",
        "release_refusals",
        "release_suppression_memo",
        "meta_minimization",
        "meta_feed_volumes",
        "quality_results",
        "quality_acceptances",
    ),
    migrations=(
        Migration(
            1,
            "ingest bookkeeping, record tables, pseudonyms, sealed data, histories, statistics",
            (*INGEST_DDL, LINKAGE_RUNS_DDL, *HISTORIES_DDL, *STATISTICS_DDL),
        ),
        Migration(
            2, "pseudonym columns added since a warehouse was built (pending until a rekey)", apply=add_token_columns
        ),
        Migration(
            3,
            "the visa policy of each history run (NULL in older rows: forces one full recompute)",
            (
                "ALTER TABLE history_runs ADD COLUMN IF NOT EXISTS visa_exempt VARCHAR",
                "ALTER TABLE history_runs ADD COLUMN IF NOT EXISTS visa_free_days INTEGER",
            ),
        ),
        Migration(
            4,
            "the operator's statement that the days up to the cut-off are complete (--complete-through)",
            ("ALTER TABLE history_runs ADD COLUMN IF NOT EXISTS complete_through DATE",),
        ),
        Migration(
            5,
            "re-delivered landing files and reprocessed partitions",
            (
                """CREATE TABLE IF NOT EXISTS meta_redeliveries (
                    source VARCHAR NOT NULL, partition_date DATE NOT NULL, file VARCHAR NOT NULL,
                    kind VARCHAR NOT NULL, bytes BIGINT NOT NULL, sha256 VARCHAR NOT NULL,
                    detected_at TIMESTAMP NOT NULL, run_id VARCHAR NOT NULL, reprocessed_at TIMESTAMP)""",
                """CREATE TABLE IF NOT EXISTS meta_reprocessed (
                    source VARCHAR NOT NULL, partition_date DATE NOT NULL, reason VARCHAR NOT NULL,
                    by_user VARCHAR NOT NULL, records_before BIGINT NOT NULL, records_after BIGINT NOT NULL,
                    reprocessed_at TIMESTAMP NOT NULL, run_id VARCHAR NOT NULL)""",
            ),
        ),
        Migration(
            6,
            "cell keys of the statistics' counts (disclosure control; NULL in vintages computed before)",
            tuple(
                f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} UBIGINT" for table, column in CELL_KEY_COLUMNS
            ),
        ),
        Migration(7, "the release ledger, released cells and refused requests", RELEASE_DDL),
        Migration(
            8,
            "contract columns dropped at ingest (minimization) and stored again",
            (
                """CREATE TABLE IF NOT EXISTS meta_minimization (
                    run_id VARCHAR NOT NULL, run_date DATE NOT NULL, source VARCHAR NOT NULL,
                    column_name VARCHAR NOT NULL, action VARCHAR NOT NULL, why VARCHAR NOT NULL,
                    register_version VARCHAR NOT NULL, register_sha256 VARCHAR NOT NULL,
                    recorded_at TIMESTAMP NOT NULL)""",
            ),
        ),
        Migration(
            9,
            "quality gates: daily volumes per port and category, expectation results, accepted holds",
            apply=_backfill_feed_volumes,
        ),
        Migration(
            10,
            "the history tables' keys checked by the history step, not indexed (fast deletes of touched persons)",
            apply=_drop_history_primary_keys,
        ),
        Migration(
            11,
            "withheld-cell patterns already protected and audited (secondary suppression not solved again)",
            (
                """CREATE TABLE IF NOT EXISTS release_suppression_memo (
                    memo_key VARCHAR NOT NULL, cells INTEGER NOT NULL, mask BLOB NOT NULL, first_used DATE NOT NULL,
                    last_used DATE NOT NULL)""",
            ),
        ),
        Migration(
            12,
            "Bloom-filter encodings stored uncompressed (random bits: compressing them only cost time)",
            apply=_encodings_uncompressed,
        ),
    ),
)
