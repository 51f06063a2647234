"""Blocking analysis: how many pairs each prediction blocking rule generates, on entities and on records.

Generates a synthetic landing zone (default 4,000 persons, about 17,000 records; ``--large``: 235,000 persons,
about 1,000,000 records), ingests it with a fresh key, builds the linkage input and prints, for every rule of
``linkage.settings.prediction_blocking_rules`` in order, the pairs it adds to the rules before it (marginal) and
the running total, counted exactly with Splink's ``count_comparisons_from_blocking_rules``; once over the
entities (what prediction scores) and once over the records (what it would score without collapsing repeats).

    python bench/bench_blocking.py [--large] [--persons N]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from splink import DuckDBAPI
from splink.blocking_analysis import count_comparisons_from_blocking_rules

from bench.linkage_data import synthetic_warehouse
from linkage.input import INPUT_TABLE, RECORDS_TABLE, build_input
from linkage.settings import prediction_blocking_rules


def counts(con, table: str) -> list[tuple[str, int, int]]:  # type: ignore[no-untyped-def]
    """(rule SQL, marginal pairs, cumulative pairs) of every prediction rule over ``table``."""
    counted = count_comparisons_from_blocking_rules(
        DuckDBAPI(connection=con).register(table),
        blocking_rules=prediction_blocking_rules(),
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        record_sample_proportion=1.0,
    )
    return [
        (str(c["blocking_rule"]), int(c["marginal_comparison_count"]), int(c["cumulative_comparison_count"]))
        for c in counted
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="235,000 persons (about 1,000,000 records)")
    parser.add_argument("--persons", type=int, default=None)
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)
    persons = args.persons or (235_000 if args.large else 4_000)
    root = Path(tempfile.mkdtemp(prefix="bench-blocking-"))
    try:
        con = synthetic_warehouse(root, persons)
        records, entities = build_input(con)
        print(f"{persons:,} persons: {records:,} records, {entities:,} entities")
        for table, label in ((INPUT_TABLE, "entities"), (RECORDS_TABLE, "records")):
            began = time.perf_counter()
            rows = counts(con, table)
            print(f"\n{label} ({time.perf_counter() - began:.1f} s to count)")
            print(f"{'marginal':>14} {'cumulative':>14}  rule")
            for rule, marginal, cumulative in rows:
                print(f"{marginal:>14,} {cumulative:>14,}  {' '.join(rule.split())}")
        con.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
