"""Migration statistics from the classified histories, kept per vintage so revisions can be traced.

Every table holds counts only (no person key, record id or date of a person) and one ``vintage`` per night,
with the data ``cutoff`` it saw. Re-running a night replaces that vintage; earlier vintages are kept. Rows are
keyed by ``period`` (``'YYYY-MM'`` for ``period_type = 'month'``, ``'YYYY'`` for ``'year'``), ``dimension``
(``total`` or a breakdown) and ``category`` (``'total'``, or the breakdown's value; a missing value is
``'unknown'``, a crossing with no valid visa or permit is ``'none'``). Each row has a ``figure``:
``'provisional'`` when something in that very cell can still change, else ``'final'``.

* ``stat_migration_flows``: long-term migrant arrivals, departures and net migration (arrivals - departures)
  per month and year of the crossing, by ``total``, ``citizenship``, ``country_of_birth``, ``sex``,
  ``age_band`` (the crossing year minus the birth year: ``0-14``, ``15-24``, ``25-44``, ``45-64``, ``65+``) and
  ``authorization_category``. A pending crossing (12/16-month rule not resolved by the cut-off) counts by its
  provisional outcome (``residence_after`` differs from ``residence_before``); a cell with any pending
  crossing, migrant or not, is provisional. ``pending_arrivals``/``pending_departures`` are the provisional
  migrants included, ``pending_crossings`` all pending crossings of the cell. A cell exists when at least one
  crossing falls in it, so zeros are published too.
* ``stat_first_permits``: first residence permits (EU 862/2007: a person's earliest permit by issue date) per
  month and year of issue, by ``reason`` (family, education, remunerated activities, other, unknown),
  ``validity`` (``under 3 months``, ``3-5 months``, ``6-11 months``, ``12 months or over``, ``unlimited``: whole
  months from ``valid_from``, else the issue date, to the day after ``valid_until``), ``citizenship``, ``sex``
  and ``age_band``. Permits are administrative facts: always final.
* ``stat_resident_stock``: non-citizen residents (statistical residence ``RESIDENT``, nationality other than the
  host's; unknown nationality counted as ``'unknown'``) at each month end from the first crossing's month to
  the cut-off month (``reference_date``: the month end, or the cut-off in its own month), ``total`` and by
  ``citizenship``. A person's status on a day is ``residence_after`` of their last crossing on or before it
  (each crossing holds from its day to the next crossing's: running sums over the month ends); persons who
  have not crossed yet are not counted; the nationality is the one recorded on that deciding crossing.
  Provisional when the deciding crossing of any non-citizen of the cell is pending (``pending_persons``;
  ``pending_residents`` of them are counted). A citizenship cell exists once a non-citizen of that
  nationality has crossed (zeros included); the total exists for every month end.
* ``stat_overstays``: stays with an overstay, per month and year the overstay began, ``total`` and by
  ``citizenship``, with the count per duration band (``overstays_1_30`` ... ``overstays_over_365``: days
  1-30, 31-90, 91-180, 181-365, over 365), and ``entries_without_visa``: stays that began (that month or year)
  without a required visa. An overstay still running at the cut-off (``open_overstays``) can change band: its
  cell is provisional.
* ``stat_revisions``: for this vintage, each published value (table, period, dimension, category, measure)
  that differs from the previous vintage of the same table, including ``provisional`` to ``final`` changes of
  an unchanged value and cells that appeared or disappeared in a period the previous vintage covered (a period
  it did not cover is a first publication, not a revision). The pending-count columns are bookkeeping, not
  published measures, and are not tracked.

Everything is SQL in DuckDB inside the caller's transaction; scratch tables are ``st_*`` temp tables.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from pipeline.errors import ConfigError, WarehouseError
from pipeline.warehouse.tables import (
    FLOWS_TABLE,
    OVERSTAY_BANDS,
    OVERSTAYS_TABLE,
    PERMITS_TABLE,
    REVISIONS_TABLE,
    STOCK_TABLE,
)

INPUT_TABLES = (
    "crossing_classification",
    "person_stays",
    "residence_permits",
    "linkage_clusters",
    "person_record_keys",
)

# The published measures of each table: what revisions compare.
MEASURES: dict[str, tuple[str, ...]] = {
    FLOWS_TABLE: ("arrivals", "departures", "net_migration"),
    PERMITS_TABLE: ("first_permits",),
    STOCK_TABLE: ("residents",),
    OVERSTAYS_TABLE: ("overstays", *(column for _l, column, _lo, _hi in OVERSTAY_BANDS), "entries_without_visa"),
}

# Cell keys (the cell key method of disclosure control): the members' record keys summed modulo 2^32.
CELL_KEY_MODULUS = 2**32

_SCRATCH = ("st_crossings", "st_permits", "st_month_ends", "st_stock", "st_overstays")


@dataclass(frozen=True)
class StatisticsSummary:
    """What one statistics run stored (counts only)."""

    vintage: dt.date
    cutoff: dt.date
    flow_rows: int
    first_permit_rows: int
    stock_rows: int
    overstay_rows: int
    revisions: int
    provisional_flow_periods: int  # months and years whose total flows are provisional
    provisional_stock_periods: int  # month ends whose total stock is provisional


def _age_band_sql(birth_year: str, year: str) -> str:
    """SQL for the age band reached in ``year``; unknown or impossible birth years give ``'unknown'``."""
    age = f"({year} - {birth_year})"
    return (
        f"CASE WHEN {birth_year} IS NULL OR {age} < 0 THEN 'unknown' WHEN {age} <= 14 THEN '0-14' "
        f"WHEN {age} <= 24 THEN '15-24' WHEN {age} <= 44 THEN '25-44' WHEN {age} <= 64 THEN '45-64' ELSE '65+' END"
    )


def _age_5y_sql(birth_year: str, year: str) -> str:
    """SQL for the five-year age group reached in ``year`` (``0-4`` ... ``80-84``, ``85+``); the coarser groups
    a purpose may publish (ten-year groups, the broad bands) are unions of these."""
    age = f"({year} - {birth_year})"
    return (
        f"CASE WHEN {birth_year} IS NULL OR {age} < 0 THEN 'unknown' WHEN {age} >= 85 THEN '85+' "
        f"ELSE ({age} // 5 * 5)::VARCHAR || '-' || ({age} // 5 * 5 + 4)::VARCHAR END"
    )


def _record_key_sql(person: str) -> str:
    """SQL for the record key of ``person`` (a person key): its secret key from ``person_record_keys``, joined
    as ``rk``; a person without one (a permit not linked yet) gets a key from a hash of its id."""
    return f"coalesce(rk.record_key::UBIGINT, hash({person}) % {CELL_KEY_MODULUS})"


def _cell_key_sql(column: str, condition: str = "true") -> str:
    """SQL aggregate: the sum, modulo 2^32, of ``column`` over the rows meeting ``condition`` (exact, whatever the
    order of the rows, so the same members always give the same cell key)."""
    return f"(coalesce(sum({column}) FILTER (WHERE {condition}), 0) % {CELL_KEY_MODULUS})::UBIGINT"


def _unnest_sql(pairs: Sequence[tuple[str, str]], label: str, value: str) -> str:
    """Unnest one input row into one row per (label, SQL value expression) pair, as columns ``label, value``."""
    items = ", ".join(f"{{'{label}': '{name}', '{value}': ({expr})::VARCHAR}}" for name, expr in pairs)
    return f"unnest([{items}], recursive := true)"


def _calendar(day: str) -> list[tuple[str, str]]:
    return [("month", f"strftime({day}, '%Y-%m')"), ("year", f"strftime({day}, '%Y')")]


def _cube_sql(
    source: str, periods: Sequence[tuple[str, str]], dimensions: Sequence[tuple[str, str]], measures: str
) -> str:
    """Aggregate ``source`` once per period type and dimension: period, period_type, dimension, category, measures."""
    return f"""
    WITH by_period AS (SELECT *, {_unnest_sql(periods, "period_type", "period")} FROM {source}),
    by_dimension AS (SELECT *, {_unnest_sql(dimensions, "dimension", "category")} FROM by_period)
    SELECT period, period_type, dimension, category, {measures}
    FROM by_dimension GROUP BY period, period_type, dimension, category"""


def _insert(con: duckdb.DuckDBPyConnection, table: str, select: str, params: dict[str, object]) -> None:
    con.execute(
        f"INSERT INTO {table} BY NAME SELECT $night::DATE AS vintage, $cutoff::DATE AS cutoff, * FROM ({select})",
        {"night": params["night"], "cutoff": params["cutoff"]},
    )


def _flows(con: duckdb.DuckDBPyConnection, params: dict[str, object]) -> None:
    # Crossings are first counted per month and combination of attributes (a few hundred thousand rows for a
    # million crossings); the breakdowns then add those counts up.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE st_crossings AS
        WITH judged AS (
            SELECT crossing_date,
                   coalesce(direction = 'ARR' AND (long_term_migration OR (status = 'pending'
                       AND residence_before = 'NON_RESIDENT' AND residence_after = 'RESIDENT')), false) AS arrival,
                   coalesce(direction = 'DEP' AND (long_term_migration OR (status = 'pending'
                       AND residence_before = 'RESIDENT' AND residence_after = 'NON_RESIDENT')), false) AS departure,
                   status = 'pending' AS pending,
                   nationality, country_of_birth, sex, birth_year, authorization_category,
                   {_record_key_sql("c.person_key")} AS record_key
            FROM crossing_classification c LEFT JOIN person_record_keys rk USING (person_key)
            WHERE crossing_date <= $cutoff)
        SELECT strftime(crossing_date, '%Y-%m') AS month,
               coalesce(nationality, 'unknown') AS citizenship,
               coalesce(country_of_birth, 'unknown') AS country_of_birth,
               coalesce(sex, 'unknown') AS sex,
               {_age_band_sql("birth_year", "year(crossing_date)")} AS age_band,
               {_age_5y_sql("birth_year", "year(crossing_date)")} AS age_5y,
               coalesce(authorization_category, 'none') AS authorization_category,
               count(*) FILTER (WHERE arrival) AS arrivals, count(*) FILTER (WHERE departure) AS departures,
               {_cell_key_sql("record_key", "arrival")} AS arrivals_ck,
               {_cell_key_sql("record_key", "departure")} AS departures_ck,
               count(*) FILTER (WHERE arrival AND pending) AS pending_arrivals,
               count(*) FILTER (WHERE departure AND pending) AS pending_departures,
               count(*) FILTER (WHERE pending) AS pending_crossings
        FROM judged GROUP BY ALL""",
        {"cutoff": params["cutoff"]},
    )
    dimensions = [
        ("total", "'total'"),
        *(
            (name, name)
            for name in ("citizenship", "country_of_birth", "sex", "age_band", "age_5y", "authorization_category")
        ),
    ]
    measures = f"""sum(arrivals)::BIGINT AS arrivals, sum(departures)::BIGINT AS departures,
        {_cell_key_sql("arrivals_ck")} AS arrivals_ck, {_cell_key_sql("departures_ck")} AS departures_ck,
        (sum(arrivals) - sum(departures))::BIGINT AS net_migration,
        sum(pending_arrivals)::BIGINT AS pending_arrivals, sum(pending_departures)::BIGINT AS pending_departures,
        sum(pending_crossings)::BIGINT AS pending_crossings,
        CASE WHEN sum(pending_crossings) > 0 THEN 'provisional' ELSE 'final' END AS figure"""
    periods = [("month", "month"), ("year", "left(month, 4)")]
    _insert(con, FLOWS_TABLE, _cube_sql("st_crossings", periods, dimensions, measures), params)


def _first_permits(con: duckdb.DuckDBPyConnection, params: dict[str, object]) -> None:
    # A permit whose record is missing from linkage_clusters is a person of its own.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE st_permits AS
        SELECT issue_date AS day, reason, nationality, sex, birth_year,
               date_sub('month', coalesce(valid_from, issue_date), valid_until + 1) AS months, valid_until,
               {_record_key_sql("person")} AS record_key
        FROM (SELECT p.*, coalesce(c.person_key, 'permit:' || p.record_id) AS person
              FROM residence_permits p LEFT JOIN linkage_clusters c ON c.source = 'permit' AND c.record_id = p.record_id
              WHERE p.issue_date <= $cutoff) f
        LEFT JOIN person_record_keys rk ON rk.person_key = f.person
        QUALIFY row_number() OVER (PARTITION BY person ORDER BY issue_date, record_id) = 1""",
        {"cutoff": params["cutoff"]},
    )
    reason = """CASE WHEN reason IS NULL THEN 'unknown'
        WHEN lower(trim(reason)) IN ('family', 'education', 'remunerated activities') THEN lower(trim(reason))
        ELSE 'other' END"""
    validity = """CASE WHEN valid_until IS NULL THEN 'unlimited' WHEN months < 3 THEN 'under 3 months'
        WHEN months < 6 THEN '3-5 months' WHEN months < 12 THEN '6-11 months' ELSE '12 months or over' END"""
    dimensions = [
        ("total", "'total'"),
        ("reason", reason),
        ("validity", validity),
        ("citizenship", "coalesce(nationality, 'unknown')"),
        ("sex", "coalesce(sex, 'unknown')"),
        ("age_band", _age_band_sql("birth_year", "year(day)")),
        ("age_5y", _age_5y_sql("birth_year", "year(day)")),
    ]
    measures = f"count(*) AS first_permits, {_cell_key_sql('record_key')} AS first_permits_ck, 'final' AS figure"
    _insert(con, PERMITS_TABLE, _cube_sql("st_permits", _calendar("day"), dimensions, measures), params)


def stock_by_month(con: duckdb.DuckDBPyConnection, params: dict[str, object]) -> None:
    """The temp tables ``st_month_ends`` (month, its reference date, first day and index ``i`` from 0) and
    ``st_stock``: per month end and citizenship, the non-citizens whose status that day is decided (residents, their
    cell-key sum, pending residents, pending persons).

    Each crossing decides the person's status from its day until the day of the next crossing (excluded), so the
    status on a day is that of the last crossing on or before it; of two crossings on the same day the earlier
    (lower seq) decides nothing. Persons count from their first crossing on. A crossing decides at the month ends
    of months ``s`` (its own month) to ``e - 1`` (``e``: the month of the next crossing, when that is by the
    cut-off): it adds its counts at ``s`` and takes them away at ``e``, and running sums over the months give each
    month end's figures. The same rows as joining each crossing to the month ends it covers, which took 0.34-0.35 s
    at 1M records (the running sums: 0.22 s with the month ends; the same 792 rows); tests/pipeline/test_statistics.py
    compares the two on random histories."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE st_month_ends AS
        SELECT strftime(m, '%Y-%m') AS month, least(last_day(m), $cutoff::DATE) AS reference_date, m AS first_day,
               (row_number() OVER (ORDER BY m) - 1)::INTEGER AS i
        FROM (SELECT unnest(generate_series(date_trunc('month', min(crossing_date)),
                                            date_trunc('month', $cutoff::DATE), INTERVAL 1 MONTH))::DATE AS m
              FROM crossing_classification WHERE crossing_date <= $cutoff)""",
        {"cutoff": params["cutoff"]},
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE st_stock AS
        WITH first AS (SELECT min(first_day) AS m0, count(*)::INTEGER AS months FROM st_month_ends),
        deciding AS (
            SELECT crossing_date AS since,
                   lead(crossing_date, 1, DATE '9999-12-31') OVER (PARTITION BY person_key ORDER BY seq) AS until,
                   residence_after = 'RESIDENT' AS resident, status = 'pending' AS pending, nationality,
                   {_record_key_sql("c.person_key")} AS record_key
            FROM crossing_classification c LEFT JOIN person_record_keys rk USING (person_key)
            WHERE crossing_date <= $cutoff),
        spans AS (
            SELECT datediff('month', f.m0, d.since)::INTEGER AS s,
                   CASE WHEN d.until <= $cutoff::DATE THEN datediff('month', f.m0, d.until)::INTEGER
                        ELSE f.months END AS e,
                   coalesce(d.nationality, 'unknown') AS citizenship, d.resident::INTEGER AS resident,
                   (d.resident AND d.pending)::INTEGER AS pending_resident, d.pending::INTEGER AS pending,
                   CASE WHEN d.resident THEN d.record_key::BIGINT ELSE 0 END AS key
            FROM deciding d, first f
            WHERE d.nationality IS DISTINCT FROM $host),
        changes AS (
            SELECT i, citizenship, sum(n) AS n, sum(resident) AS resident, sum(key) AS key,
                   sum(pending_resident) AS pending_resident, sum(pending) AS pending
            FROM (SELECT s AS i, citizenship, 1 AS n, resident, key, pending_resident, pending FROM spans WHERE s < e
                  UNION ALL
                  SELECT e, citizenship, -1, -resident, -key, -pending_resident, -pending FROM spans
                  WHERE s < e AND e < (SELECT months FROM first))
            GROUP BY ALL),
        running AS (
            SELECT i, lead(i, 1, (SELECT months FROM first)) OVER w AS next_i, citizenship,
                   sum(n) OVER w AS n, sum(resident) OVER w AS residents, sum(key) OVER w AS key,
                   sum(pending_resident) OVER w AS pending_residents, sum(pending) OVER w AS pending_persons
            FROM changes WINDOW w AS (PARTITION BY citizenship ORDER BY i))
        SELECT m.month, m.reference_date, r.citizenship, r.residents::BIGINT AS residents,
               (r.key % {CELL_KEY_MODULUS})::UBIGINT AS residents_ck,
               r.pending_residents::BIGINT AS pending_residents, r.pending_persons::BIGINT AS pending_persons
        FROM running r JOIN st_month_ends m ON m.i >= r.i AND m.i < r.next_i
        WHERE r.n > 0""",
        {"cutoff": params["cutoff"], "host": params["host"]},
    )


def _resident_stock(con: duckdb.DuckDBPyConnection, params: dict[str, object]) -> None:
    stock_by_month(con, params)
    dimensions = [("total", "'total'"), ("citizenship", "citizenship")]
    measures = f"""max(reference_date) AS reference_date, sum(residents)::BIGINT AS residents,
        {_cell_key_sql("residents_ck")} AS residents_ck,
        sum(pending_residents)::BIGINT AS pending_residents, sum(pending_persons)::BIGINT AS pending_persons,
        CASE WHEN sum(pending_persons) > 0 THEN 'provisional' ELSE 'final' END AS figure"""
    _insert(con, STOCK_TABLE, _cube_sql("st_stock", [("month", "month")], dimensions, measures), params)
    _insert(
        con,
        STOCK_TABLE,
        """SELECT m.month AS period, 'month' AS period_type, 'total' AS dimension, 'total' AS category,
                  m.reference_date, 0 AS residents, 0 AS residents_ck, 0 AS pending_residents, 0 AS pending_persons,
                  'final' AS figure
           FROM st_month_ends m ANTI JOIN st_stock s USING (month)""",
        params,
    )


def _overstays(con: duckdb.DuckDBPyConnection, params: dict[str, object]) -> None:
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE st_overstays AS
        WITH stays AS (SELECT s.*, {_record_key_sql("s.person_key")} AS record_key
                       FROM person_stays s LEFT JOIN person_record_keys rk USING (person_key))
        SELECT overstay_start AS day, nationality, true AS overstay, overstay_days,
               departure_date IS NULL AND end_date >= $cutoff AS open, false AS entry, record_key
        FROM stays WHERE overstay_days > 0 AND overstay_start <= $cutoff
        UNION ALL
        SELECT arrival_date, nationality, false, NULL, false, true, record_key
        FROM stays WHERE entry_without_visa AND visa_required AND arrival_date <= $cutoff""",
        {"cutoff": params["cutoff"]},
    )
    bands = ", ".join(
        f"count(*) FILTER (WHERE overstay AND overstay_days >= {low}"
        + (f" AND overstay_days <= {high}" if high is not None else "")
        + f") AS {column}"
        for _label, column, low, high in OVERSTAY_BANDS
    )
    measures = f"""count(*) FILTER (WHERE overstay) AS overstays, {bands},
        {_cell_key_sql("record_key", "overstay")} AS overstays_ck,
        {_cell_key_sql("record_key", "entry")} AS entries_without_visa_ck,
        count(*) FILTER (WHERE open) AS open_overstays, count(*) FILTER (WHERE entry) AS entries_without_visa,
        CASE WHEN bool_or(open) THEN 'provisional' ELSE 'final' END AS figure"""
    dimensions = [("total", "'total'"), ("citizenship", "coalesce(nationality, 'unknown')")]
    _insert(con, OVERSTAYS_TABLE, _cube_sql("st_overstays", _calendar("day"), dimensions, measures), params)


def _revisions_sql(table: str) -> str:
    """Changes of ``table``'s published measures between vintage ``$night`` and the one before it."""
    columns = ", ".join(f"{m}::BIGINT AS {m}" for m in MEASURES[table])
    names = ", ".join(MEASURES[table])

    def side(vintage: str) -> str:
        return f"""(UNPIVOT (SELECT period, period_type, dimension, category, figure, {columns} FROM {table}
                    WHERE vintage = {vintage}) ON {names} INTO NAME measure VALUE value)"""

    return f"""
    WITH previous AS (SELECT max(vintage) AS vintage FROM {table} WHERE vintage < $night),
    cur AS {side("$night")},
    prev AS {side("(SELECT vintage FROM previous)")}
    SELECT $night::DATE AS vintage, '{table}' AS table_name,
           coalesce(c.period, p.period) AS period, coalesce(c.period_type, p.period_type) AS period_type,
           coalesce(c.dimension, p.dimension) AS dimension, coalesce(c.category, p.category) AS category,
           coalesce(c.measure, p.measure) AS measure, (SELECT vintage FROM previous) AS previous_vintage,
           p.value AS previous_value, c.value AS current_value, p.figure AS previous_figure,
           c.figure AS current_figure
    FROM cur c FULL OUTER JOIN prev p ON c.period = p.period AND c.period_type = p.period_type
        AND c.dimension = p.dimension AND c.category = p.category AND c.measure = p.measure
    WHERE (c.value IS DISTINCT FROM p.value OR c.figure IS DISTINCT FROM p.figure)
      AND (p.figure IS NOT NULL
           OR EXISTS (SELECT 1 FROM prev q WHERE q.period = c.period AND q.period_type = c.period_type))"""


def _check_inputs(con: duckdb.DuckDBPyConnection, host: str, night: dt.date, cutoff: dt.date) -> None:
    if not re.fullmatch(r"[A-Z]{3}", host):
        raise ConfigError("host must be the host state's three-letter code in capitals, e.g. 'UTO'")
    if cutoff > night:
        raise ConfigError(f"the data cut-off {cutoff} is after the night {night}; pass a cut-off on or before it")
    present = {name for (name,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    missing = [t for t in INPUT_TABLES if t not in present]
    if missing:
        raise WarehouseError(
            f"cannot compute statistics: table(s) {', '.join(missing)} missing; build the histories and the "
            "linkage first (`migralink run`)"
        )


def compute_statistics(
    con: duckdb.DuckDBPyConnection, *, night: dt.date, cutoff: dt.date, host: str
) -> StatisticsSummary:
    """Compute tonight's vintage of every statistics table and its revisions against the previous vintage.

    Args:
        con: the warehouse, with ``crossing_classification``, ``person_stays``, ``residence_permits`` and
            ``linkage_clusters``. Runs inside the caller's transaction and commits nothing.
        night: the vintage: rows of an earlier run for the same night are replaced, other vintages kept.
        cutoff: the last day the data cover; records after it are ignored.
        host: the host state's code; its citizens are excluded from the resident stock of non-citizens.

    Returns:
        Row counts per table for this vintage, revisions and provisional periods.

    Raises:
        ConfigError: ``host`` is not a three-letter code or ``cutoff`` is after ``night``.
        WarehouseError: an input table is missing.

    Example:
        >>> with transaction(con):  # doctest: +SKIP
        ...     compute_statistics(con, night=dt.date(2024, 7, 1), cutoff=dt.date(2024, 6, 30), host="UTO")
    """
    _check_inputs(con, host, night, cutoff)
    params: dict[str, object] = {"night": night, "cutoff": cutoff, "host": host}
    tables = (FLOWS_TABLE, PERMITS_TABLE, STOCK_TABLE, OVERSTAYS_TABLE, REVISIONS_TABLE)
    for table in tables:
        con.execute(f"DELETE FROM {table} WHERE vintage = $night", {"night": night})
    _flows(con, params)
    _first_permits(con, params)
    _resident_stock(con, params)
    _overstays(con, params)
    for table in MEASURES:
        con.execute(f"INSERT INTO {REVISIONS_TABLE} BY NAME {_revisions_sql(table)}", {"night": night})
    for scratch in _SCRATCH:
        con.execute(f"DROP TABLE IF EXISTS {scratch}")
    rows = {
        table: int(
            con.execute(f"SELECT count(*) FROM {table} WHERE vintage = $night", {"night": night}).fetchall()[0][0]
        )
        for table in tables
    }
    provisional = con.execute(
        f"""SELECT (SELECT count(*) FROM {FLOWS_TABLE} WHERE vintage = $night AND dimension = 'total'
                      AND figure = 'provisional'),
                   (SELECT count(*) FROM {STOCK_TABLE} WHERE vintage = $night AND dimension = 'total'
                      AND figure = 'provisional')""",
        {"night": night},
    ).fetchall()[0]
    return StatisticsSummary(
        vintage=night,
        cutoff=cutoff,
        flow_rows=rows[FLOWS_TABLE],
        first_permit_rows=rows[PERMITS_TABLE],
        stock_rows=rows[STOCK_TABLE],
        overstay_rows=rows[OVERSTAYS_TABLE],
        revisions=rows[REVISIONS_TABLE],
        provisional_flow_periods=int(provisional[0]),
        provisional_stock_periods=int(provisional[1]),
    )
