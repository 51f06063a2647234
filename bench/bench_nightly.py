"""Nightly-increment benchmark: one night's new records against a warehouse of about 1,000,000 linked records.

Generates 235,000 persons over 2023-2024, ingests and links everything up to 2024-12-29 (the history), then
times the last nights exactly as ``migralink run`` does them: ingest of the new partitions (about 2,700
records), linkage with the saved model, stable person keys, review queue and the HTML report.

    python bench/bench_nightly.py [--persons 235000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.nightly.settings import Settings
from pipeline.nightly.steps import ingest_step, link_step
from pipeline.synth import generate
from privacy.keys import write_new_key_file

HISTORY_END = dt.date(2024, 12, 29)
NIGHT = dt.date(2024, 12, 31)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=235_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="migralink-bench-"))
    try:
        generate(root / "landing", persons=args.persons, start=dt.date(2023, 1, 1), end=NIGHT, seed=1)
        write_new_key_file(root / "k.key")
        settings = Settings(landing=root / "landing", warehouse=root / "wh", key_file=root / "k.key")
        t0 = time.perf_counter()
        history = ingest_step(settings, HISTORY_END)
        first = link_step(settings, HISTORY_END)
        print(
            f"history: {history.rows_accepted:,} records ingested and linked in {time.perf_counter() - t0:.1f} s "
            f"(model trained: {first.trained}; {first.persons:,} persons)"
        )
        t0 = time.perf_counter()
        night = ingest_step(settings, NIGHT)
        t1 = time.perf_counter()
        linked = link_step(settings, NIGHT)
        t2 = time.perf_counter()
        print(
            f"night: {night.rows_accepted:,} new records ({linked.mode}); ingest {t1 - t0:.1f} s, "
            f"link + keys + review + report {t2 - t1:.1f} s, total {t2 - t0:.1f} s (target < 30 s)"
        )
        print(
            f"       {linked.records:,} records, {linked.persons:,} persons ({linked.new_persons:,} new, "
            f"{linked.merged_keys:,} merged, {linked.split_keys:,} split), {linked.review_pairs_queued:,} pairs "
            "queued for review"
        )
        t3 = time.perf_counter()
        relinked = link_step(settings, NIGHT, full=True)
        t4 = time.perf_counter()
        print(
            f"full relink of the same warehouse ({relinked.mode}): {t4 - t3:.1f} s; the increment took "
            f"{(t2 - t1) / (t4 - t3):.2f}x of it; {relinked.persons:,} persons (increment: {linked.persons:,})"
        )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory {peak:,.0f} MiB (whole process, generation included)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
