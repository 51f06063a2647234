"""Benchmark of the synthetic data generator: wall time, throughput and peak memory.

Usage: python bench/bench_synth.py --persons 235000 --start 2023-01-01 --end 2024-12-31 --seed 1
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.synth import generate


def main(argv: list[str] | None = None) -> int:
    """Run the generator once into a temporary directory and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=235_000)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2023, 1, 1))
    parser.add_argument("--end", type=date.fromisoformat, default=date(2024, 12, 31))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    out = Path(tempfile.mkdtemp(prefix="bench-synth-"))
    try:
        began = time.perf_counter()
        summary = generate(out, persons=args.persons, start=args.start, end=args.end, seed=args.seed)
        wall = time.perf_counter() - began
        size = sum(p.stat().st_size for p in out.rglob("*.csv"))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total = summary.total_records
    print(f"persons          {summary.persons:>12,}")
    for source, count in summary.records.items():
        print(f"records {source:<8} {count:>12,}  ({count / total:.1%})")
    print(f"records total    {total:>12,}  ({total / summary.persons:.2f} per person)")
    print(f"files            {summary.files:>12,}  ({size / 2**20:,.0f} MiB)")
    print(f"wall time        {wall:>12.1f} s")
    print(f"records/s        {total / wall:>12,.0f}")
    print(f"peak memory      {peak_mib:>12,.0f} MiB (ru_maxrss)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
