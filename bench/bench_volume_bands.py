"""Volume bands benchmark: false alarms, detection and speed on two simulated years of about 50 feeds.

The feeds are the three sources, the border source by port and by port and direction, visas by category and by
category and decision, permits by type and by reason, and a few tiny ports: from about 3,000 records a day down
to one (:func:`pipeline.quality.volume.simulate_feeds`: weekday profile, trend, summer peak +30 %, gamma-Poisson
noise, five public holidays a year at 30 % volume). Each feed is simulated on its own (the parts do not add up to
their source; the bands do not care).

After an 8-week warm-up a band is computed every night for every feed (alpha 1e-6 unless ``--alpha``), with the
holiday calendar. Tonight's true count is checked (false alarms; normal nights and holidays apart, holidays also
without the calendar), and so is the same night's count made empty, cut by 90 % and by 50 %, and quadrupled
(+300 %): the detection rate of each failure on the normal nights, per feed size (its mean) and per tonight's
expected count (a medium office feed expects few records on a Sunday). ``--calibrate`` repeats the false-alarm
count at alpha 1e-2 and 1e-3, where a rate can be measured, against the nominal alpha.

    python bench/bench_volume_bands.py [--days 730] [--seed 1] [--alpha 1e-6] [--calibrate]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.quality.volume import (
    BORDER_WEEK,
    OFFICE_WEEK,
    FeedSpec,
    check_volume,
    count_quantiles,
    simulate_feeds,
    simulated_holidays,
    volume_band,
)
from pipeline.synth.nationalities import PORTS

WARM_UP = 56
FAILURES = {"empty": 0.0, "-90 %": 0.1, "-50 %": 0.5, "+300 %": 4.0}
SIZES = ((1000, "big (>= 1,000/day)"), (100, "medium (100-999)"), (20, "small (20-99)"), (5, "very small (5-19)"))
TINY = "tiny (< 5/day)"


def bench_feeds() -> list[FeedSpec]:
    """About 50 feeds: sources, ports, port x direction, categories, category x decision, permit types and reasons,
    tiny ports."""
    feeds = [
        FeedSpec("border", 3000, BORDER_WEEK, shape=150, trend=0.05),
        FeedSpec("visa", 300, OFFICE_WEEK, shape=60, trend=-0.05),
        FeedSpec("permit", 8, OFFICE_WEEK, shape=20, trend=0.03),
    ]
    for port, share in PORTS.items():
        feeds.append(FeedSpec(f"border/{port}", 3000 * share, BORDER_WEEK, shape=80, trend=0.05))
        for direction, half in (("ARR", 0.52), ("DEP", 0.48)):
            feeds.append(FeedSpec(f"border/{port}/{direction}", 3000 * share * half, BORDER_WEEK, shape=60))
    visas = {"TOURIST": 0.4, "WORK": 0.25, "STUDENT": 0.2, "FAMILY": 0.1, "TRANSIT": 0.05}
    for category, share in visas.items():
        feeds.append(FeedSpec(f"visa/{category}", 300 * share, OFFICE_WEEK, shape=40, trend=-0.05))
        for decision, part in (("GRANTED", 0.9), ("REFUSED", 0.1)):
            feeds.append(FeedSpec(f"visa/{category}/{decision}", 300 * share * part, OFFICE_WEEK, shape=30))
    for permit_type, share in {"TEMPORARY": 0.7, "PERMANENT": 0.2, "PROTECTION": 0.1}.items():
        feeds.append(FeedSpec(f"permit/{permit_type}", 8 * share, OFFICE_WEEK, shape=15))
    for reason, share in {"family": 0.3, "education": 0.2, "work": 0.35, "other": 0.15}.items():
        feeds.append(FeedSpec(f"permit/{reason}", 8 * share, OFFICE_WEEK, shape=15))
    small_ports = {"UTO-ISLAND-PIER": 1.5, "UTO-LAKE-FERRY": 2.0, "UTO-MOUNTAIN-PASS": 1.0, "UTO-CARGO": 12.0}
    for port, mean in small_ports.items():
        feeds.append(FeedSpec(f"border/{port}", mean, BORDER_WEEK, shape=10))
    return feeds


def size_of(mean: float) -> str:
    return next((label for floor, label in SIZES if mean >= floor), TINY)


def detection_limits(alpha: float) -> list[tuple[float, float | None, float | None]]:
    """Per dispersion phi, the least expected count (in steps of 0.1) at which an empty night and a night at 10 %
    fall outside the band of a perfectly known negative binomial: the best any band at this alpha can do."""
    grid = [tenths / 10 for tenths in range(1, 20_000)]
    rows: list[tuple[float, float | None, float | None]] = []
    for phi in (0.0, 0.01, 0.05):
        lows = [(mu, count_quantiles(mu, phi, alpha)[0]) for mu in grid]
        empty = next((mu for mu, low in lows if low >= 1), None)
        short = next((mu for mu, low in lows if low > int(mu / 10)), None)
        rows.append((phi, empty, short))
    return rows


@dataclass
class Measured:
    """What one run counted: feed-nights checked and alarms per kind of night, detections per size and failure."""

    checked: Counter[str] = field(default_factory=Counter)
    alarms: Counter[str] = field(default_factory=Counter)
    nights: Counter[str] = field(default_factory=Counter)
    detected: Counter[tuple[str, str]] = field(default_factory=Counter)
    nights_expected: Counter[str] = field(default_factory=Counter)  # by tonight's expected count
    detected_expected: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    seconds: float = 0.0
    bands: int = 0


def run(days: int, seed: int, alpha: float, feeds: list[FeedSpec]) -> Measured:
    """Bands every night after the warm-up for every feed; counts of alarms and detections."""
    series = simulate_feeds(days, seed, feeds=feeds)
    holidays = simulated_holidays(days)
    measured = Measured()
    for spec in feeds:
        counts = series[spec.name]
        size = size_of(spec.mean)
        for index in range(WARM_UP, days):
            night, count = counts[index]
            history = counts[index - WARM_UP : index]
            began = time.perf_counter()
            band = volume_band(history, night, alpha=alpha, holidays=holidays)
            measured.seconds += time.perf_counter() - began
            measured.bands += 1
            kind = "holiday" if night in holidays else "normal"
            measured.checked[kind] += 1
            verdict = check_volume(count, band)
            if not verdict.ok:
                measured.alarms[kind] += 1
                if len(measured.examples) < 5:
                    measured.examples.append(f"{spec.name} {night}: {verdict.message}")
            if kind == "holiday":
                unlisted = volume_band(history, night, alpha=alpha)
                measured.checked["holiday, no calendar"] += 1
                measured.alarms["holiday, no calendar"] += not check_volume(count, unlisted).ok
                continue
            tonight = size_of(band.expected)
            measured.nights[size] += 1
            measured.nights_expected[tonight] += 1
            for failure, factor in FAILURES.items():
                caught = not check_volume(int(count * factor), band).ok
                measured.detected[(size, failure)] += caught
                measured.detected_expected[(tonight, failure)] += caught
    return measured


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=2 * 365, help="simulated nights after the warm-up")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--alpha", type=float, default=1e-6)
    parser.add_argument("--calibrate", action="store_true", help="also count false alarms at alpha 1e-2 and 1e-3")
    args = parser.parse_args(argv)
    feeds = bench_feeds()
    days = args.days + WARM_UP
    per_size = Counter(size_of(spec.mean) for spec in feeds)
    print(
        f"{len(feeds)} feeds ({', '.join(f'{n} {label}' for label, n in per_size.items())}), {args.days} nights "
        f"after an {WARM_UP // 7}-week warm-up, alpha {args.alpha:g}, seed {args.seed}"
    )
    result = run(days, args.seed, args.alpha, feeds)
    print(f"\n{'false alarms':<24} {'feed-nights':>12} {'alarms':>7} {'rate':>10}")
    for kind in ("normal", "holiday", "holiday, no calendar"):
        rate = result.alarms[kind] / max(result.checked[kind], 1)
        print(f"{kind:<24} {result.checked[kind]:>12,} {result.alarms[kind]:>7,} {rate:>10.2e}")
    for example in result.examples:
        print(f"  {example}")
    for title, nights, detected in (
        ("detection by feed size", result.nights, result.detected),
        ("by tonight's expected", result.nights_expected, result.detected_expected),
    ):
        print(f"\n{title:<26} {'feed-nights':>11}" + "".join(f" {f:>7}" for f in FAILURES))
        for label in [label for _, label in SIZES] + [TINY]:
            if nights[label]:
                rates = "".join(f" {detected[(label, f)] / nights[label]:>7.3f}" for f in FAILURES)
                print(f"{label:<26} {nights[label]:>11,}{rates}")
    print(f"\nleast expected count caught at alpha {args.alpha:g} if mean and dispersion were known exactly")
    print(f"{'phi':>6} {'empty':>8} {'-90 %':>8}")
    for phi, empty, short in detection_limits(args.alpha):
        print(f"{phi:>6.2f} {empty or float('nan'):>8.1f} {short or float('nan'):>8.1f}")
    print(
        f"\n{result.bands:,} bands in {result.seconds:.1f} s ({result.bands / result.seconds:,.0f} bands/s, "
        "one feed-night each, holidays' second band without the calendar not counted)"
    )
    if args.calibrate:
        print(f"\n{'calibration: alpha':<24} {'normal nights':>13} {'alarms':>7} {'rate':>10} {'rate/alpha':>11}")
        for alpha in (1e-2, 1e-3):
            trial = run(days, args.seed, alpha, feeds)
            n, k = trial.checked["normal"], trial.alarms["normal"]
            print(f"{alpha:<24g} {n:>13,} {k:>7,} {k / n:>10.2e} {k / n / alpha:>11.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
