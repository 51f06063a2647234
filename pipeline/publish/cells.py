"""The cells a purpose may release, read from one vintage of the statistics tables at the detail it asks for.

The statistics tables hold one-way breakdowns (``total`` and one dimension at a time) per month and year, each
count with its cell key (:mod:`pipeline.statistics.tables`). A release asks for a table, some of its measures, a
finest period and a level of detail per dimension (checked against the purpose register before this module is
called). Coarser detail is made here by adding finer cells up: counts add, and cell keys add modulo 2^32, so a
coarser cell has exactly the cell key of its members, whatever the grouping that made it:

* citizenship (and country of birth): ``full`` keeps the codes; ``group:NAME`` keeps the group's members and
  adds every other code, unknown included, into ``_O`` (other);
* age: ``5-year`` keeps the five-year groups, ``10-year`` adds pairs of them (``80-84`` and ``85+`` become
  ``80+``), ``broad`` takes the standard bands (0-14, 15-24, 25-44, 45-64, 65+);
* period: ``month`` releases months and years, ``year`` only years (the resident stock is per month end only).

Net migration is not read: it is arrivals minus departures of the released (protected) figures.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.warehouse.tables import FLOWS_TABLE, OVERSTAYS_TABLE, PERMITS_TABLE, STOCK_TABLE

CELL_KEY_MODULUS = 2**32

# Register dimension -> the statistics table's dimension holding the finest detail of it.
SOURCE_DIMENSION = {"age": "age_5y"}
COUNT_MEASURES = {
    FLOWS_TABLE: ("arrivals", "departures"),
    PERMITS_TABLE: ("first_permits",),
    STOCK_TABLE: ("residents",),
    OVERSTAYS_TABLE: ("overstays", "entries_without_visa"),
}
DERIVED_MEASURES = {"net_migration": ("arrivals", "departures")}


class ReleaseDataError(PipelineError):
    """The statistics a release needs are missing (not computed for that night, or computed before cell keys)."""


@dataclass(frozen=True)
class CellRequest:
    """What one table of a release asks for (already allowed by the purpose register)."""

    table: str
    measures: tuple[str, ...]
    period: str  # month or year
    dimensions: Mapping[str, str]  # register dimension -> detail (full, group:NAME, 5-year, 10-year, broad)


def _category_sql(dimension: str, detail: str, groups: Mapping[str, tuple[str, ...]]) -> tuple[str, str]:
    """(the statistics table's dimension to read, SQL mapping its ``category`` to the released category)."""
    if dimension == "age":
        if detail == "broad":
            return "age_band", "category"
        if detail == "10-year":
            return "age_5y", (
                "CASE WHEN category = 'unknown' THEN category WHEN category IN ('80-84', '85+') THEN '80+' "
                "ELSE (split_part(category, '-', 1)::INTEGER // 10 * 10)::VARCHAR || '-' || "
                "(split_part(category, '-', 1)::INTEGER // 10 * 10 + 9)::VARCHAR END"
            )
        return "age_5y", "category"
    if detail.startswith("group:"):
        members = ", ".join(f"'{code}'" for code in groups[detail.removeprefix("group:")])
        return dimension, f"CASE WHEN category IN ({members}) THEN category ELSE '_O' END"
    return dimension, "category"


def read_cells(
    con: duckdb.DuckDBPyConnection, vintage: dt.date, request: CellRequest, groups: Mapping[str, tuple[str, ...]]
) -> pd.DataFrame:
    """The unprotected cells of one request: columns ``measure``, ``period_type``, ``period``, ``dimension``,
    ``category``, ``value``, ``cell_key`` (an integer below 2^32) and ``provisional``; ``dimension`` is
    ``total`` or a register dimension.

    Raises:
        ReleaseDataError: the vintage has no rows in the table, or rows without cell keys.
    """
    counts = [m for m in COUNT_MEASURES[request.table] if m in request.measures or _needed_for(m, request.measures)]
    periods = "('month', 'year')" if request.period == "month" else "('year')"
    parts = []
    for dimension, detail in [("total", "full"), *request.dimensions.items()]:
        source, category = ("total", "category") if dimension == "total" else _category_sql(dimension, detail, groups)
        for measure in counts:
            parts.append(
                f"""SELECT '{measure}' AS measure, period_type, period, '{dimension}' AS dimension,
                       {category} AS category, {measure} AS value, {measure}_ck AS cell_key,
                       figure = 'provisional' AS provisional
                FROM {request.table} WHERE vintage = $vintage AND dimension = '{source}'
                  AND period_type IN {periods}"""
            )
    frame = con.execute(
        f"""SELECT * FROM (
                SELECT measure, period_type, period, dimension, category, sum(value)::BIGINT AS value,
                       (sum(cell_key) % {CELL_KEY_MODULUS})::UBIGINT AS cell_key,
                       bool_or(provisional) AS provisional, count(*) FILTER (WHERE cell_key IS NULL) AS without_key
                FROM ({" UNION ALL ".join(parts)}) GROUP BY measure, period_type, period, dimension, category)
            ORDER BY measure, period_type DESC, period, dimension <> 'total', dimension, category""",
        {"vintage": vintage},
    ).df()
    if frame.empty:
        raise ReleaseDataError(f"no statistics in {request.table} for the night of {vintage}: run that night first")
    if int(frame["without_key"].sum()):
        raise ReleaseDataError(
            f"{request.table} of the night of {vintage} was computed before cell keys existed: run "
            f"`migralink histories --date {vintage} --full` to recompute it"
        )
    return frame.drop(columns="without_key")


def _needed_for(count: str, measures: tuple[str, ...]) -> bool:
    """True when a released derived measure (net migration) is computed from ``count``."""
    return any(count in DERIVED_MEASURES.get(m, ()) for m in measures)
