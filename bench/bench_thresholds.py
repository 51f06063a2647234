"""Choosing the link and review thresholds: what each match-weight band holds, and F1 at each link threshold.

Generates a synthetic landing zone (default 23,700 persons, about 100,000 records; ``--large``: 235,000 persons,
about 1,000,000 records), ingests it with a fresh key, trains and links once, then

* samples the scored pairs by match-weight band (as a clerical reviewer would) and prints, per band, how many
  pairs there are and which share are truly the same person: where that share crosses one half is where the
  link threshold belongs, and the bands with a share well between 0 and 1 are where review pays;
* reclusters the same pairs at several link thresholds (no rescoring) and prints precision, recall, F1 and the
  number of review pairs each would give.

Usage: python bench/bench_thresholds.py [--large] [--persons N] [--seed S]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import logging
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.linkage_data import synthetic_warehouse
from linkage.evaluate import pairwise_scores
from linkage.link import cluster_entities, link_all, write_clusters
from linkage.model import save_model, train_model

BANDS = (0, 2, 4, 5, 6, 7, 8, 10, 12, 15, 20)
THRESHOLDS = (4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 14.0)

BAND_SQL = """
WITH person AS (SELECT source || ':' || record_id AS unique_id, person_id FROM truth),
banded AS (
    SELECT p.match_weight, a.person_id = b.person_id AS same,
           CASE {cases} ELSE '>= {top}' END AS band, {order} AS band_order
    FROM linkage_pairs p JOIN person a ON a.unique_id = p.unique_id_l JOIN person b ON b.unique_id = p.unique_id_r
)
SELECT band, count(*) AS pairs, avg(same::INTEGER) AS same_share, count(*) FILTER (WHERE same) AS same_pairs
FROM banded GROUP BY band, band_order ORDER BY band_order"""


def band_sql() -> str:
    """Pairs per match-weight band with the share that are one person (truth of the representatives)."""
    cases = " ".join(f"WHEN match_weight < {hi} THEN '{lo} .. {hi}'" for lo, hi in itertools.pairwise(BANDS))
    order = "CASE " + " ".join(f"WHEN match_weight < {hi} THEN {i}" for i, hi in enumerate(BANDS[1:])) + " ELSE 99 END"
    return BAND_SQL.format(cases=cases, top=BANDS[-1], order=order)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="235,000 persons (about 1,000,000 records)")
    parser.add_argument("--persons", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)  # Splink's training chatter
    persons = args.persons or (235_000 if args.large else 23_700)
    root = Path(tempfile.mkdtemp(prefix="bench-thresholds-"))
    try:
        began = time.perf_counter()
        con = synthetic_warehouse(root, persons, args.seed)
        model = save_model(con, train_model(con, seed=args.seed))
        result = link_all(con, model)
        print(
            f"{result.records:,} records, {persons:,} persons; trained and linked in "
            f"{time.perf_counter() - began:.1f} s (synthesis and ingest included); "
            f"{result.pairs_scored:,} pairs scored at or above match weight {model.review_threshold}"
        )
        print("\nscored pairs by match-weight band (truth of each pair's representative records)")
        print(f"{'band':>12} {'pairs':>10} {'same person':>12} {'share':>7}")
        for band, pairs, share, same in con.execute(band_sql()).fetchall():
            print(f"{band:>12} {pairs:>10,} {same:>12,} {share:>7.3f}")
        print(f"\nrecluster at other link thresholds (review pairs: weight >= {model.review_threshold}, not linked)")
        print(f"{'link at':>8} {'precision':>10} {'recall':>8} {'F1':>8} {'review pairs':>13} {'refused':>8}")
        for threshold in THRESHOLDS:
            trial = dataclasses.replace(model, link_threshold=threshold)
            clustering = cluster_entities(con, trial)
            write_clusters(con, clustering, trial, full=True)
            con.execute("DROP TABLE IF EXISTS __linkage_changed")
            scores = pairwise_scores(con, "linkage_clusters", "truth")
            review = con.execute("SELECT count(*) FROM linkage_pairs WHERE review").fetchall()[0][0]
            mark = "  <- model" if threshold == model.link_threshold else ""
            print(
                f"{threshold:>8.1f} {scores.precision:>10.4f} {scores.recall:>8.4f} {scores.f1:>8.4f} {review:>13,} "
                f"{clustering.refused:>8,}{mark}"
            )
        con.close()
        print(f"\npeak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB (whole run)")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
