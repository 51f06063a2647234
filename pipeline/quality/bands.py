"""Bands for tonight's measures from the nights before it, as rows the quality suites validate.

* Counts (feed volumes, merges, splits, the largest person): :func:`pipeline.quality.volume.volume_band`, a
  weekday-aware negative-binomial predictive band at false-alarm probability ``alpha`` per night and measure.
* Shares (records that joined an existing person, pending crossings): a beta-binomial predictive band. The
  share is estimated on the earlier nights (those more than 6 robust deviations from the median left out), the
  night-to-night variance beyond binomial noise is taken at its upper 90 % confidence limit, and tonight's
  binomial variance at tonight's denominator is added; the band is the normal ``alpha/2`` quantiles of that,
  clipped to [0, 1].

Fewer than :data:`MIN_NIGHTS` earlier nights give no band (low 0, no high), with a note that says so: a gate
cannot judge a measure it has not seen yet.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Mapping, Sequence

import numpy as np
from scipy import stats

from pipeline.quality.volume import volume_band

MIN_NIGHTS = 14
OUTLIER_DEVIATIONS = 6.0
Row = dict[str, object]


def count_band_rows(
    feeds: Mapping[str, Sequence[tuple[dt.date, int]]],
    days: Sequence[dt.date],
    *,
    alpha: float,
    kind: str,
    holidays: Collection[dt.date] = (),
    no_band: bool = False,
) -> list[Row]:
    """One row per feed and day of ``days``: the day's count, its band from the feed's earlier days, the note.

    A feed with no entry for a day (it first appeared later) is not judged on that day."""
    rows: list[Row] = []
    for feed, history in feeds.items():
        by_day = dict(history)
        for day in days:
            if day not in by_day:
                continue
            observed = by_day[day]
            if no_band:
                rows.append(_row(kind, feed, day, observed, 0, None, float("nan"), "a full relink: not compared"))
                continue
            band = volume_band(history, day, alpha=alpha, holidays=holidays)
            rows.append(_row(kind, feed, day, observed, band.low, band.high, band.expected, band.note))
    return rows


def share_band_rows(
    measure: str,
    earlier: Sequence[tuple[dt.date, int, int]],
    tonight: tuple[dt.date, int, int],
    alpha: float,
    *,
    no_band: bool = False,
) -> list[Row]:
    """One row: tonight's share ``k / n`` and its band from the ``(day, n, k)`` of the earlier nights (the last
    56 with ``n > 0``). No row when tonight's ``n`` is 0 (there is no share to judge)."""
    day, n, k = tonight
    if n <= 0:
        return []
    observed = k / n
    if no_band:
        return [_row("share", measure, day, observed, 0.0, 1.0, float("nan"), "a full relink: not compared")]
    low, high, expected, note = share_band([(nn, kk) for _d, nn, kk in earlier if nn > 0][-56:], n, alpha)
    return [_row("share", measure, day, observed, low, high, expected, note)]


def share_band(history: Sequence[tuple[int, int]], n: int, alpha: float) -> tuple[float, float, float, str]:
    """(low, high, expected share, note) for tonight's share at denominator ``n`` (method in the module docstring).

    Examples:
        >>> low, high, p, note = share_band([(1000, 300)] * 20, 1000, 1e-6)
        >>> round(p, 2), 0.2 < low < 0.3 < high < 0.4
        (0.3, True)
    """
    if len(history) < MIN_NIGHTS:
        return 0.0, 1.0, float("nan"), f"fewer than {MIN_NIGHTS} earlier nights: no band yet"
    ns = np.array([h[0] for h in history], dtype=np.float64)
    ks = np.array([h[1] for h in history], dtype=np.float64)
    shares = ks / ns
    median = float(np.median(shares))
    mad = 1.4826 * float(np.median(np.abs(shares - median)))
    binomial_sd = np.sqrt(max(median * (1 - median), 1e-12) / ns)
    spread = np.maximum(mad, binomial_sd)
    clean = np.abs(shares - median) <= OUTLIER_DEVIATIONS * spread
    if clean.sum() < MIN_NIGHTS:
        clean = np.ones_like(clean)
    ns, ks, shares = ns[clean], ks[clean], shares[clean]
    p = float(ks.sum() / ns.sum())
    m = len(shares)
    sample_var = float(np.var(shares, ddof=1))
    upper_var = sample_var * (m - 1) / float(stats.chi2.ppf(0.1, m - 1))
    extra = max(0.0, upper_var - float(np.mean(p * (1 - p) / ns)))
    variance = p * (1 - p) / n + extra + upper_var / m
    z = float(stats.norm.isf(alpha / 2))
    half = z * math.sqrt(variance)
    left_out = int((~clean).sum()) if len(clean) else 0
    note = f"{left_out} outlying night{'s' if left_out != 1 else ''} left out" if left_out else ""
    return max(0.0, p - half), min(1.0, p + half), p, note


def _row(
    kind: str, measure: str, day: dt.date, observed: float, low: float, high: float | None, expected: float, note: str
) -> Row:
    return {
        "kind": kind,
        "measure": measure,
        "day": day,
        "observed": float(observed),
        "low": float(low),
        "high": float("nan") if high is None else float(high),
        "expected": float(expected),
        "note": note,
    }
