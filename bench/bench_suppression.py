"""Suppression benchmark: threshold and secondary suppression of every count table, audited by the intruder's LP.

Two workloads, each table being one year of one measure by one dimension (categories by 12 months with both
margins; stocks with the month totals only):

* ``warehouse``: the statistics of the 1M-record benchmark warehouse (:mod:`bench.bench_statistics` synthesises
  about 800,000 crossings of 235,000 persons, with their permits and stays, and computes one vintage): every
  published count measure by every breakdown, per year. Net migration is left out: it is not a count, and is
  withheld wherever arrivals or departures are.
* ``synthetic``: citizenship-like breakdowns at a realistic size, 200 categories x 12 months x 3 years x 4
  measures, with Zipf-distributed category sizes (about half the cells below a threshold of 5).

The month totals row is published by the ``total`` tables too, so its cells are passed as ``fixed`` (never
complements) unless they are themselves small; where a column is too small for that (its other cells cannot
fall far enough), the table is protected again without fixed cells and counted: those month totals must then be
withheld from the total table as well. :func:`privacy.disclosure.suppression.suppress` is timed per
workload (primary and secondary suppression and its LP audit); then, untimed, the exact intruder LP is solved for
every withheld cell of every table and checked: each withheld cell's interval holds its value and is at least the
protection level wide, and each sensitive cell's reaches the protection level above its value and
``min(protection level, value)`` below.

    python bench/bench_suppression.py [--threshold 5] [--protection 3] [--persons 235000] [--skip-warehouse]
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from privacy.disclosure.suppression import LinearTable, SuppressionError, intruder_intervals, suppress, two_way_table
from privacy.register import MEASURES

# The count measures of each statistics table (net migration is not a count); stocks are not summed over months.
TABLES = {table: tuple(m for m in measures if m != "net_migration") for table, measures in MEASURES.items()}


@dataclass
class Figures:
    """Totals over the tables of one workload."""

    tables: int = 0
    cells: int = 0
    primary: int = 0
    secondary: int = 0
    withheld_sum: int = 0
    total_sum: int = 0
    seconds: float = 0.0
    audit_seconds: float = 0.0
    audited: int = 0
    narrowest: float = float("inf")
    failures: int = 0
    totals_withheld: int = 0


def warehouse_tables(persons: int) -> Iterator[tuple[str, LinearTable]]:
    """Every count table of one vintage of the benchmark warehouse (synthesised, then computed)."""
    from bench.bench_statistics import CUTOFF1, HOST, NIGHT1, synthesise
    from pipeline.statistics.tables import compute_statistics
    from pipeline.warehouse.connection import connect, transaction

    root = Path(tempfile.mkdtemp(prefix="migralink-bench-suppression-"))
    try:
        con = connect(root / "wh")
        began = time.perf_counter()
        synthesise(con, persons)
        with transaction(con):
            compute_statistics(con, night=NIGHT1, cutoff=CUTOFF1, host=HOST)
        crossings = con.execute("SELECT count(*) FROM crossing_classification").fetchall()[0][0]
        seconds = time.perf_counter() - began
        print(f"warehouse: {crossings:,} crossings of {persons:,} persons, statistics in {seconds:.1f} s")
        found = []
        for table, measures in TABLES.items():
            for measure in measures:
                rows = con.execute(
                    f"""SELECT dimension, category, period, {measure} FROM {table}
                    WHERE vintage = ? AND period_type = 'month' AND dimension <> 'total'""",
                    [NIGHT1],
                ).fetchall()
                found.extend(_pivot(table, measure, rows))
        con.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    yield from found


def _pivot(table: str, measure: str, rows: list[tuple]) -> Iterator[tuple[str, LinearTable]]:
    """One categories x months table per dimension and year."""
    by_key: dict[tuple[str, str], dict[tuple[str, int], int]] = {}
    for dimension, category, period, value in rows:
        year, month = period.split("-")
        by_key.setdefault((dimension, year), {})[(category, int(month) - 1)] = int(value)
    for (dimension, year), cells in sorted(by_key.items()):
        categories = sorted({category for category, _ in cells})
        grid = np.zeros((len(categories), 12), dtype=np.int64)
        for (category, month), value in cells.items():
            grid[categories.index(category), month] = value
        stock = table == "stat_resident_stock"
        yield f"{table}.{measure} by {dimension} {year}", two_way_table(grid, row_totals=not stock)


def synthetic_tables(categories: int, years: int, measures: int, seed: int) -> Iterator[tuple[str, LinearTable]]:
    """Citizenship-like breakdowns: Zipf category sizes, monthly Poisson counts, a few measures of different sizes."""
    rng = np.random.default_rng(seed)
    share = 1 / np.arange(1, categories + 1) ** 1.2
    share /= share.sum()
    for measure in range(measures):
        annual_total = 40_000 / (1 + 2 * measure)  # arrivals, departures, permits, overstays: smaller and smaller
        for year in range(years):
            means = annual_total * share[:, None] / 12 * rng.uniform(0.6, 1.4, size=(categories, 12))
            yield f"measure {measure} year {year}", two_way_table(rng.poisson(means))


def run(name: str, tables: list[tuple[str, LinearTable]], threshold: int, level: int, exact: bool) -> Figures:
    figures = Figures()
    results = []
    began = time.perf_counter()
    for _label, table in tables:
        grid = table.values.reshape(table.shape)
        fixed = np.zeros(table.shape, dtype=bool)
        fixed[-1, :] = grid[-1, :] >= threshold  # the month totals (and the year) published by the total tables
        try:
            results.append(suppress(table, threshold, level, fixed=fixed))
        except SuppressionError:  # a small column: its total must be withheld here and in the total table
            figures.totals_withheld += 1
            results.append(suppress(table, threshold, level))
    figures.seconds = time.perf_counter() - began
    for (_label, table), result in zip(tables, results, strict=True):
        figures.tables += 1
        figures.cells += table.size
        figures.primary += result.primary_count
        figures.secondary += result.secondary_count
        figures.withheld_sum += result.suppressed_sum
        figures.total_sum += int(table.values.sum())
    print(
        f"\n{name}: {figures.tables} tables, {figures.cells:,} cells; suppress (primary, secondary, LP audit) "
        f"{figures.seconds:.2f} s, {figures.cells / figures.seconds:,.0f} cells/s"
    )
    print(
        f"  withheld: {figures.primary:,} primary ({figures.primary / figures.cells:.1%} of cells), "
        f"{figures.secondary:,} secondary ({figures.secondary / figures.cells:.1%}); withheld values "
        f"{figures.withheld_sum / max(figures.total_sum, 1):.2%} of all values (margins included); tables that "
        f"could only be protected by withholding month totals too: {figures.totals_withheld}"
    )
    if exact:
        began = time.perf_counter()
        for (_label, table), result in zip(tables, results, strict=True):
            lo, hi = intruder_intervals(table, result.suppressed)
            values, withheld, primary = table.values, result.suppressed, result.primary
            figures.audited += int(withheld.sum())
            contained = np.all((lo[withheld] <= values[withheld]) & (values[withheld] <= hi[withheld]))
            protected = np.all(
                (hi[primary] >= values[primary] + level)
                & (lo[primary] <= values[primary] - np.minimum(level, values[primary]))
            )
            wide = np.all(hi[withheld] - lo[withheld] >= level)
            figures.failures += int(not (contained and protected and wide))
            if withheld.any():
                figures.narrowest = min(figures.narrowest, float((hi[withheld] - lo[withheld]).min()))
        figures.audit_seconds = time.perf_counter() - began
        print(
            f"  exact intruder LP on all {figures.audited:,} withheld cells: {figures.audit_seconds:.2f} s; "
            f"tables failing: {figures.failures}; narrowest interval of a withheld cell: {figures.narrowest:g} "
            f"(protection level {level})"
        )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--threshold", type=int, default=5, help="smallest publishable count (register: 5)")
    parser.add_argument("--protection", type=int, default=3, help="protection level (register: 3)")
    parser.add_argument("--persons", type=int, default=235_000, help="warehouse size (235,000: about 1M records)")
    parser.add_argument("--categories", type=int, default=200)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--measures", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-warehouse", action="store_true", help="only the synthetic workload")
    parser.add_argument("--no-exact-audit", action="store_true", help="skip the untimed exact LP check")
    args = parser.parse_args(argv)
    print(f"threshold {args.threshold}, protection level {args.protection}, {dt.date.today()}")
    failures = 0
    if not args.skip_warehouse:
        tables = list(warehouse_tables(args.persons))
        failures += run("warehouse", tables, args.threshold, args.protection, not args.no_exact_audit).failures
    tables = list(synthetic_tables(args.categories, args.years, args.measures, args.seed))
    failures += run("synthetic", tables, args.threshold, args.protection, not args.no_exact_audit).failures
    print(f"\npeak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB (whole run)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
