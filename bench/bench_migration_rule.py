"""Benchmark of the 12/16-month rule classifier (pipeline.histories.rule): throughput, wall time, peak memory.

Generates random but realistic crossing histories: ~235,000 persons, ~800,000 crossings over two years, 40%
residents (who mostly leave first) and 60% visitors and migrants (who mostly arrive first), trips of days to
years, crossings alternating except for ~2% anomalies (a direction repeated). Then times the vectorised
:func:`classify` on all of them, and the plain reference :func:`classify_person` on a 50,000-crossing subset
(checking both agree there).

Usage: python bench/bench_migration_rule.py --persons 235000 --crossings 800000 --seed 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.histories.rule import PENDING, RuleParams, classify, date_to_day, day_to_date
from tests.reference.migration_rule import classify_person

Arrays = tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]


def generate(persons: int, crossings: int, start: dt.date, days: int, anomaly_rate: float, seed: int) -> Arrays:
    """Crossings sorted by person and day: (person, day, arrival, initial_resident)."""
    rng = np.random.default_rng(seed)
    mean = crossings / persons
    counts = np.minimum(rng.geometric(1 / mean, size=persons), 80)
    shortfall = crossings - int(counts.sum())  # spread over random persons to hit the target exactly
    if shortfall > 0:
        np.add.at(counts, rng.integers(0, persons, shortfall), 1)
    elif shortfall < 0:
        removable = np.repeat(np.arange(persons), counts - 1)
        np.subtract.at(counts, rng.choice(removable, -shortfall, replace=False), 1)
    total = int(counts.sum())
    person = np.repeat(np.arange(persons, dtype=np.int64) * 13 + 5, counts)
    first = np.zeros(total, dtype=bool)
    first[np.cumsum(counts) - counts] = True
    # Gaps: short trips (days), medium stays (months), long stays (a year or more).
    kind = rng.random(total)
    gap = np.where(
        kind < 0.6,
        rng.exponential(12, total),
        np.where(kind < 0.85, rng.uniform(30, 250, total), rng.uniform(250, 700, total)),
    ).astype(np.int64)
    gap[first] = 0
    # Offsets from each person's first crossing, squeezed into the period, and a random start within it.
    offset = np.cumsum(gap)
    offset -= np.repeat(offset[first], counts)
    span = np.repeat(offset[np.cumsum(counts) - 1], counts)
    scale = np.where(span > days - 1, (days - 1) / np.maximum(span, 1), 1.0)
    offset = np.floor(offset * scale).astype(np.int64)
    room = np.repeat(rng.integers(0, days, persons), counts) % np.maximum(days - np.minimum(span, days - 1), 1)
    day = (date_to_day(start) + room + offset).astype(np.int32)
    resident = rng.random(persons) < 0.4
    first_arrival = np.where(resident, rng.random(persons) < 0.1, rng.random(persons) < 0.95)
    position = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    arrival = np.repeat(first_arrival, counts) ^ (position % 2 == 1)
    flip = (rng.random(total) < anomaly_rate) & ~first
    arrival = arrival ^ flip  # breaks the alternation here (and shifts the rest of the person's history)
    return person, day, arrival, np.repeat(resident, counts)


def main(argv: list[str] | None = None) -> int:
    """Generate the crossings, classify them and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=235_000)
    parser.add_argument("--crossings", type=int, default=800_000)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2023, 1, 1))
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--anomalies", type=float, default=0.02)
    parser.add_argument("--subset", type=int, default=50_000, help="crossings for the reference function")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    params = RuleParams()

    began = time.perf_counter()
    person, day, arrival, initial = generate(
        args.persons, args.crossings, args.start, args.days, args.anomalies, args.seed
    )
    generated = time.perf_counter() - began
    cutoff = date_to_day(args.start) + args.days - 1
    n = person.shape[0]
    baseline_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    walls = []
    result = None
    for _ in range(args.repeat):
        began = time.perf_counter()
        result = classify(person, day, arrival, initial, cutoff, params)
        walls.append(time.perf_counter() - began)
    assert result is not None
    wall = min(walls)

    # The reference function on the first persons, up to --subset crossings.
    ends = np.flatnonzero(np.append(person[1:] != person[:-1], True)) + 1
    stop = int(ends[np.searchsorted(ends, min(args.subset, n))]) if n > args.subset else n
    stop = min(stop, n)
    cut_date = day_to_date(cutoff)
    began = time.perf_counter()
    reference_rows: list[tuple[int, int]] = []
    start = 0
    for end in ends[ends <= stop]:
        rows = classify_person(
            [day_to_date(int(d)) for d in day[start:end]],
            [bool(a) for a in arrival[start:end]],
            bool(initial[start]),
            cut_date,
            params,
        )
        reference_rows.extend((r.long_term, date_to_day(r.resolved)) for r in rows)
        start = int(end)
    reference_wall = time.perf_counter() - began
    subset = classify(person[:stop], day[:stop], arrival[:stop], initial[:stop], cutoff, params)
    agree = reference_rows == list(zip(subset.long_term.tolist(), subset.resolved_day.tolist(), strict=True))

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    long_term = result.long_term
    sizes = np.diff(np.append(np.flatnonzero(np.append(True, person[1:] != person[:-1])), n))
    each = f"crossings each: median {int(np.median(sizes))}, max {sizes.max()}"
    print(f"persons              {result.extra['persons']:>12,}  ({each})")
    print(f"crossings            {n:>12,}")
    print(f"  long-term (final)  {int((long_term == 1).sum()):>12,}")
    print(f"  not (final)        {int((long_term == 0).sum()):>12,}")
    print(f"  pending            {int((long_term == PENDING).sum()):>12,}")
    print(f"  repeated direction {result.extra['repeated_direction']:>12,}")
    print(f"generate             {generated:>12.2f} s")
    print(f"classify wall        {wall:>12.3f} s  (best of {args.repeat}: {', '.join(f'{w:.3f}' for w in walls)})")
    print(f"classify throughput  {n / wall:>12,.0f} crossings/s")
    print(f"reference subset     {stop:>12,} crossings in {reference_wall:.2f} s ({stop / reference_wall:,.0f}/s)")
    print(f"vectorised speed-up  {(reference_wall / stop) / (wall / n):>12.1f} x per crossing")
    print(f"reference agrees     {agree!s:>12}")
    print(f"peak RSS             {peak_mib:>12.1f} MiB  (after imports and generating: {baseline_mib:.1f} MiB)")
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
