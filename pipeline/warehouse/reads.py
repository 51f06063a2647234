"""What the warehouse shows without changing it: the status tables and the two CSV exports.

These are the library functions behind ``migralink status`` and ``migralink export``; they take a connection
opened read only (:func:`pipeline.warehouse.connection.connect` with ``read_only=True``) and never migrate or
write the warehouse. Output is counts, names and pseudonymous keys: no name, birth date or document number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipeline.errors import PipelineError
from pipeline.histories.build import EXPORT_SQL
from pipeline.warehouse.tables import RECORD_TABLES

STATUS_QUERIES = (
    (
        "partitions by source",
        "SELECT source, count(*) AS partitions, min(partition_date) AS first, "
        "max(partition_date) AS last, sum(rows_read) AS read, sum(rows_accepted) AS accepted, "
        "sum(rows_quarantined) AS quarantined FROM meta_partitions GROUP BY 1 ORDER BY 1",
    ),
    ("quarantine by reason", "SELECT source, reason, count(*) AS rows FROM quarantine GROUP BY 1, 2 ORDER BY 3 DESC"),
    (
        "last runs",
        "SELECT run_id[:8] AS run, run_date, status, partitions, rows_read AS read FROM meta_runs "
        "ORDER BY started_at DESC LIMIT 5",
    ),
    (
        "re-deliveries not reprocessed (migralink reprocess)",
        "SELECT source, partition_date AS partition, file, kind, detected_at AS detected FROM meta_redeliveries "
        "WHERE reprocessed_at IS NULL ORDER BY partition_date, source, file",
    ),
    (
        "latest release per purpose (migralink publish)",
        "SELECT purpose, audience, release_date AS released, count(*) AS tables, sum(cells) AS cells, "
        "sum(suppressed) AS withheld, any_value(method) AS method, bool_or(off_calendar) AS off_calendar "
        "FROM release_ledger GROUP BY purpose, audience, release_id, release_date "
        "QUALIFY row_number() OVER (PARTITION BY purpose ORDER BY max(released_at) DESC) = 1 ORDER BY purpose",
    ),
    (
        "last quality gates (Data Docs: <warehouse>/quality/gx/uncommitted/data_docs/local_site/index.html)",
        "SELECT night, stage, CASE WHEN bool_or(NOT success AND severity = 'critical' AND NOT accepted) THEN 'held' "
        "WHEN bool_and(success) THEN 'passed' ELSE 'passed with warnings' END AS result, count(*) AS expectations, "
        "count(*) FILTER (WHERE NOT success) AS failed, count(*) FILTER (WHERE accepted) AS accepted, "
        "coalesce(string_agg(suite || '/' || expectation, ', ' ORDER BY severity, suite, expectation) "
        "FILTER (WHERE NOT success), '') AS failing FROM quality_results "
        "WHERE night = (SELECT max(night) FROM quality_results) GROUP BY night, stage "
        "ORDER BY list_position(['raw', 'linkage', 'statistics', 'releases'], stage)",
    ),
    (
        "schema",
        "SELECT component, max(version) AS version, max(applied_at) AS migrated FROM meta_schema GROUP BY 1 ORDER BY 1",
    ),
)


@dataclass(frozen=True)
class StatusTable:
    """One table of the status view: a title, its column names and rows."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[object, ...]]


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote (counts only)."""

    path: Path
    rows: int
    not_ready: int  # records not linked yet (links) or crossings still pending (crossings)


def warehouse_status(con: duckdb.DuckDBPyConnection) -> list[StatusTable]:
    """Processed partitions per source, quarantine by reason, the last runs and the schema versions."""
    tables = []
    for title, sql in STATUS_QUERIES:
        result = con.execute(sql)
        columns = tuple(str(d[0]) for d in result.description or ())
        tables.append(StatusTable(title, columns, result.fetchall()))
    return tables


def _prepare_out_file(out_file: Path) -> None:
    """Refuse to overwrite; create a missing directory (mode 0700) for the file."""
    if out_file.exists():
        raise PipelineError(f"{out_file} already exists; choose another --out or remove it")
    try:
        out_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise PipelineError(f"cannot create the directory {out_file.parent}: {exc.strerror}") from None


def export_links(con: duckdb.DuckDBPyConnection, out_file: Path) -> ExportSummary:
    """Write one CSV row per ingested record: source, record_id, person_key (empty while not linked).

    Raises:
        PipelineError: ``out_file`` exists, or nothing has been linked yet.
    """
    _prepare_out_file(out_file)
    records = " UNION ALL ".join(f"SELECT '{s}' AS source, record_id FROM {t}" for s, t in RECORD_TABLES.items())
    missing, total = con.execute(
        f"SELECT count(*) FILTER (WHERE p.person_key IS NULL), count(*) FROM ({records}) r "
        "LEFT JOIN person_keys p USING (source, record_id)"
    ).fetchall()[0]
    if total and missing == total:
        raise PipelineError("no person keys yet: run the linkage (`migralink run` links after ingest)")
    con.execute(
        f"COPY (SELECT r.source, r.record_id, p.person_key FROM ({records}) r "
        "LEFT JOIN person_keys p USING (source, record_id) ORDER BY ALL) TO ? (HEADER, DELIMITER ',')",
        [str(out_file)],
    )
    return ExportSummary(out_file, int(total), int(missing))


def export_crossings(con: duckdb.DuckDBPyConnection, out_file: Path) -> ExportSummary:
    """Write one CSV row per border record with its classification (``long_term_migration`` true, false or
    pending) and resolution date.

    Raises:
        PipelineError: ``out_file`` exists, or the histories are not up to date with the border records.
    """
    _prepare_out_file(out_file)
    classified, total = con.execute(
        "SELECT (SELECT count(*) FROM crossing_classification), (SELECT count(*) FROM border_crossings)"
    ).fetchall()[0]
    if total and not classified:
        raise PipelineError("no crossings classified yet: run the pipeline (`migralink run`) first")
    if classified != total:
        raise PipelineError(
            f"{total - classified:,} border records are not classified yet: run `migralink run` to bring the "
            "histories up to date"
        )
    con.execute(f"COPY ({EXPORT_SQL}) TO ? (HEADER, DELIMITER ',')", [str(out_file)])
    pending = con.execute("SELECT count(*) FROM crossing_classification WHERE status = 'pending'").fetchall()[0][0]
    return ExportSummary(out_file, int(classified), int(pending))
