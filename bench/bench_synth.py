"""Benchmark of the synthetic data generator: wall time, throughput, peak memory and name concentration.

Usage: python bench/bench_synth.py --persons 235000 --start 2023-01-01 --end 2024-12-31 --seed 1 [--names realistic]

The concentration figures are computed on the true person attributes: persons sharing family name, given names,
birth year, sex and nationality with someone else (look-alikes), the largest such group (with its name: this is
developer output), and per naming tradition the share of the commonest family name, of the three commonest and of
the commonest whole name.
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

from pipeline.synth import SynthSummary, generate
from pipeline.synth.names import DEFAULT_NAME_MIX, NAME_MIXES


def print_concentration(summary: SynthSummary) -> None:
    """Print the look-alike groups and the top-name coverage per tradition of a generator run."""
    c = summary.concentration
    print(f"look-alike persons {c.lookalike_persons:>10,}  ({c.lookalike_share:.2%} of persons, {c.groups:,} groups)")
    print(f"largest group      {c.largest_group:>10,}  {' / '.join(str(v) for v in c.largest_key)}")
    print(
        "tradition   persons  top family         share   top-3  top whole name                 share  "
        "look-alike  largest"
    )
    for key, t in sorted(c.traditions.items(), key=lambda item: -item[1].persons):
        print(
            f"{key:<6} {t.persons:>12,}  {t.top_family:<16} {t.top_family_share:>7.2%} {t.top3_family_share:>7.2%}  "
            f"{t.top_name:<28} {t.top_name_share:>7.3%} {t.lookalike_share:>10.2%} {t.largest_group:>8}"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the generator once into a temporary directory and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=235_000)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2023, 1, 1))
    parser.add_argument("--end", type=date.fromisoformat, default=date(2024, 12, 31))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--names", choices=NAME_MIXES, default=DEFAULT_NAME_MIX, help="name mix")
    args = parser.parse_args(argv)
    out = Path(tempfile.mkdtemp(prefix="bench-synth-"))
    try:
        began = time.perf_counter()
        summary = generate(
            out, persons=args.persons, start=args.start, end=args.end, seed=args.seed, name_mix=args.names
        )
        wall = time.perf_counter() - began
        size = sum(p.stat().st_size for p in out.rglob("*.csv"))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total = summary.total_records
    print(f"persons          {summary.persons:>12,}  (name mix {summary.name_mix})")
    for source, count in summary.records.items():
        print(f"records {source:<8} {count:>12,}  ({count / total:.1%})")
    print(f"records total    {total:>12,}  ({total / summary.persons:.2f} per person)")
    print(f"files            {summary.files:>12,}  ({size / 2**20:,.0f} MiB)")
    print(f"wall time        {wall:>12.1f} s")
    print(f"records/s        {total / wall:>12,.0f}")
    print(f"peak memory      {peak_mib:>12,.0f} MiB (ru_maxrss)")
    print_concentration(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
