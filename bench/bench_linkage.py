"""Benchmark of batch linkage on synthetic data: quality against the truth, time and memory.

Generates a synthetic landing zone (default 4,000 persons, about 17,000 records; ``--large``: 235,000
persons, about 1,000,000 records), ingests it into a temporary warehouse with a fresh key, trains a model,
links with the anti-chaining clustering and with plain connected components at the same threshold, and prints
pairwise precision, recall and F1 (``linkage.evaluate``), review pairs, wall times and peak memory.

Usage: python bench/bench_linkage.py [--large] [--persons N] [--seed S] [--threshold W] [--compare]
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench.linkage_data import synthetic_warehouse
from linkage.evaluate import pairwise_scores
from linkage.link import link_all
from linkage.model import save_model, train_model
from pipeline.synth.names import NAME_MIXES


def peak_mib() -> float:
    """Peak resident memory of this process (ru_maxrss) in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark once in a temporary directory and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--large", action="store_true", help="235,000 persons (about 1,000,000 records)")
    parser.add_argument("--persons", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--names", choices=NAME_MIXES, default=None, help="name mix of the generated population")
    parser.add_argument("--threshold", type=float, default=None, help="link threshold (match weight)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the warehouse in this directory")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also run, in this process on the same data, the plaintext Splink reference and (up to 150,000 "
        "records) recordlinkage's classic pipeline, and print the ratios",
    )
    args = parser.parse_args(argv)
    persons = args.persons or (235_000 if args.large else 4_000)
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-linkage-"))
    try:
        began = time.perf_counter()
        con = synthetic_warehouse(root, persons, args.seed, args.names)
        prepared = time.perf_counter() - began
        print(f"persons {persons:,}; synth + ingest {prepared:.1f} s; peak so far {peak_mib():,.0f} MiB")

        began = time.perf_counter()
        model = save_model(con, train_model(con, seed=args.seed))
        trained = time.perf_counter() - began
        if args.threshold is not None:
            model = dataclasses.replace(model, link_threshold=args.threshold)
        s = model.summary
        print(f"train {trained:.1f} s: {s.records:,} records, {s.entities:,} entities, EM iterations {s.em_iterations}")
        print(f"thresholds: link {model.link_threshold}, review {model.review_threshold} (match weight)")
        constrained_wall, constrained_f1 = 0.0, 0.0
        for constrained in (True, False):
            began = time.perf_counter()
            result = link_all(con, model, constrained=constrained)
            wall = time.perf_counter() - began
            scores = pairwise_scores(con, "linkage_clusters", "truth")
            if constrained:
                constrained_wall, constrained_f1 = wall, scores.f1
            print(
                f"{result.method:<21} precision {scores.precision:.4f}  recall {scores.recall:.4f}  "
                f"F1 {scores.f1:.4f}  clusters {result.clusters:,}  review pairs {result.review_pairs:,}  "
                f"refused merges {result.refused_merges:,}"
            )
            print(
                f"{'':<21} link {wall:.1f} s (input {result.seconds_input:.1f}, predict {result.seconds_predict:.1f}, "
                f"cluster {result.seconds_cluster:.1f}); pairs scored {result.pairs_scored:,}, "
                f"edges above threshold {result.edges_above_threshold:,}"
            )
        con.close()
        print(f"peak memory {peak_mib():,.0f} MiB (ru_maxrss, whole run)")
        if args.compare:
            ours = trained + constrained_wall
            compare(root / "landing", ours, constrained_f1, s.records)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


def compare(landing: Path, ours_seconds: float, ours_f1: float, records: int) -> None:
    """Run the plaintext reference and the classic baseline on the same landing zone; print the ratios."""
    from bench_baselines import run_recordlinkage
    from reference_plaintext import run_reference

    truth = landing / "truth.csv"
    print(f"migralink (pseudonyms): train + link {ours_seconds:.1f} s, F1 {ours_f1:.4f}")
    ref = run_reference(landing, truth, dataset="synthetic")
    print(
        f"plaintext Splink reference: {ref.seconds:.1f} s, peak {ref.peak_mib:,.0f} MiB, F1 {ref.scores.f1:.4f}; "
        f"migralink / reference wall time {ours_seconds / ref.seconds:.2f}x"
    )
    if records <= 150_000:
        rl = run_recordlinkage(landing, truth, dataset="synthetic")
        print(
            f"recordlinkage classic: {rl.seconds:.1f} s, peak {rl.peak_mib:,.0f} MiB, F1 {rl.scores.f1:.4f}; "
            f"recordlinkage / migralink wall time {rl.seconds / ours_seconds:.1f}x"
        )


if __name__ == "__main__":
    raise SystemExit(main())
