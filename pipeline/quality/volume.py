"""Statistically sound bands for the daily volume of one feed: a source, or one port or category of a source.

Tonight's count is judged against the feed's trailing nights (8 weeks by default):

1. Weekday profile: each weekday's mean over the window divided by the average of the seven, shrunk towards 1 by
   empirical Bayes (by the ratio of the spread between weekdays to the noise of each weekday's mean): a big feed
   keeps its own profile, a tiny one gets an almost flat one, and few weeks mean more shrinkage.
2. Level: sum(count) / sum(weekday factor) over the clean nights of the last 4 weeks (the Poisson maximum
   likelihood estimate, with no division by a small factor). Tonight's expected count = level x weekday factor.
3. Outliers are left out of every estimate, so one bad night does not widen later bands: a night whose square-root
   count lies more than 6 robust deviations (median/MAD, at least the Poisson 0.5) from its expected value (outages,
   shortfalls and spikes in big feeds), or a night whose upper tail probability under a negative binomial fitted to
   the other nights is below 1e-4 (spikes in small feeds). High nights only while they are rare (at most one in
   ten: a feed with frequent big days keeps them); listed holidays always.
4. Overdispersion: a negative binomial, Var = mu + phi mu^2, fitted by the method of moments on the clean nights'
   residuals around the window's level; phi = 0 (Poisson) when the variance does not exceed the mean. The
   residuals include the slow drift over the window, which covers the lag of the 4-week level when a season turns.
5. Estimation error: the residual variance is taken at its upper 90 % confidence limit (chi-square on the residual
   degrees of freedom), and the variances of the estimated level and of tonight's weekday factor (its empirical
   Bayes posterior variance) are added.
6. The band is the alpha/2 and 1 - alpha/2 quantiles of that predictive negative binomial, so the false-alarm
   probability per night and feed is about alpha or less.

Limits that follow from the counts themselves: an empty night is caught only when P(0) < alpha/2, i.e. an expected
count above ln(2/alpha), about 15 at alpha = 1e-6 for Poisson counts (more with overdispersion); below that the
band's note says so instead of raising false alarms. Public holidays are not in the profile: pass them as
``holidays`` (their nights are left out of the estimate, and on a listed holiday the low end allows a fall to a
fifth of a normal night).

:func:`simulate_feeds` generates realistic daily volumes to measure the false-alarm and detection rates
(``bench/bench_volume_bands.py``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy import special

from pipeline.errors import ConfigError
from privacy.sql import quote_identifier

if TYPE_CHECKING:
    import duckdb

LEVEL_NIGHTS = 28  # the level is estimated on the last 4 weeks of the window
ROOT_DEVIATIONS = 6.0  # robust deviations of the square-root count beyond which a night is left out
POISSON_SQRT_SD = 0.5  # standard deviation of sqrt(Poisson counts): the least deviation the root rule assumes
SPIKE_PROBABILITY = 1e-4  # a night rarer than this, under a fit to the other nights, is left out
RARE_HIGH_SHARE = 0.1  # high nights are left out only while they are at most this share of the window
DISPERSION_CONFIDENCE = 0.9  # the residual variance is taken at this upper confidence limit
HOLIDAY_FLOOR = 0.2  # on a listed holiday the low end is that of a night at this share of the expected count
SHORT_HISTORY_FACTOR = 10  # with too little history the high end is this many times the largest night so far
FIT_PASSES = 4
POISSON, NEGATIVE_BINOMIAL, SHORT_HISTORY = "poisson", "negative binomial", "short history"


@dataclass(frozen=True)
class VolumeBand:
    """A two-sided band for tonight's count of one feed: a count below ``low`` or above ``high`` is an alarm.

    Attributes:
        low: the smallest count that is not an alarm (0: no count is too low).
        high: the largest count that is not an alarm; None when there is no upper bound (no history yet).
        expected: tonight's expected count (level x weekday factor).
        dispersion: phi of the predictive negative binomial the band is drawn from (Var = mu + phi mu^2, the
            estimation error included); 0 for a Poisson band.
        nights_used: nights of history the estimate rests on (outliers and listed holidays left out).
        method: the count model fitted to the history: "poisson", "negative binomial" or "short history".
        note: what the band cannot tell or what it left out, in one line; empty when there is nothing to say.
    """

    low: int
    high: int | None
    expected: float
    dispersion: float
    nights_used: int
    method: str
    note: str = ""


@dataclass(frozen=True)
class VolumeCheck:
    """Tonight's count judged against its band: ``direction`` is "low" or "high" when ``ok`` is False."""

    ok: bool
    direction: Literal["low", "high"] | None
    message: str


def check_volume(count: int, band: VolumeBand) -> VolumeCheck:
    """Judge tonight's ``count`` against ``band``; the message names the count, the band and the expected value.

    Examples:
        >>> check_volume(0, VolumeBand(241, 402, 318.0, 0.01, 56, "negative binomial")).message
        'count 0 is below the band [241, 402] (expected 318.0)'
    """
    high = "no upper bound" if band.high is None else f"{band.high:,}"
    where = f"the band [{band.low:,}, {high}] (expected {band.expected:,.1f})"
    if count < band.low:
        return VolumeCheck(False, "low", f"count {count:,} is below {where}")
    if band.high is not None and count > band.high:
        return VolumeCheck(False, "high", f"count {count:,} is above {where}")
    return VolumeCheck(True, None, f"count {count:,} is within {where}")


def count_quantiles(expected: float, dispersion: float, alpha: float) -> tuple[int, int]:
    """The alpha/2 and 1 - alpha/2 quantiles (smallest k with CDF(k) >= q) of a negative binomial with mean
    ``expected`` and Var = mu + ``dispersion`` mu^2, or of a Poisson when ``dispersion`` is 0.

    Examples:
        >>> count_quantiles(10.0, 0.0, 0.01)
        (3, 19)
    """
    if expected <= 0:
        return 0, 0
    return _quantile(alpha / 2, expected, dispersion), _quantile(1 - alpha / 2, expected, dispersion)


def _quantile(q: float, mu: float, phi: float) -> int:
    """Smallest k with CDF(k) >= q: a first guess by the continuous inverse, then exact steps on the CDF."""
    if phi > 1e-12:  # below this the negative binomial is a Poisson to double precision
        size, p = 1 / phi, 1 / (1 + phi * mu)

        def cdf(k: float) -> float:
            return float(special.betainc(size, k + 1, p))

        guess = float(special.nbdtrik(q, size, p))
    else:

        def cdf(k: float) -> float:
            return float(special.pdtr(k, mu))

        guess = float(special.pdtrik(q, mu))
    k = max(math.ceil(guess), 0) if math.isfinite(guess) else 0
    while k > 0 and cdf(k - 1) >= q:
        k -= 1
    while cdf(k) < q:
        k += 1
    return k


def _empty_probability(mu: float, phi: float) -> float:
    return math.exp(-mu) if phi <= 0 else (1 + phi * mu) ** (-1 / phi)


def volume_band(
    history: Sequence[tuple[dt.date, int]],
    night: dt.date,
    *,
    alpha: float = 1e-6,
    min_nights: int = 14,
    window_nights: int = 56,
    holidays: Collection[dt.date] = (),
) -> VolumeBand:
    """A band for ``night``'s count of one feed from its trailing nights (method in the module docstring).

    Args:
        history: (day, count) of earlier nights; only the ``window_nights`` before ``night`` are used, days
            absent are not observed (:func:`feed_counts` fills the days a feed stopped reporting with 0).
        night: the night to judge.
        alpha: false-alarm probability per night and feed (split equally between the two tails).
        min_nights: below this many usable nights only an empty feed and a tenfold night are caught: low is 1
            when every night so far had more than ln(2/alpha) records (an empty night is then rarer than
            alpha/2 for Poisson counts at that level), else 0; high is ten times the largest night.
        window_nights: the trailing window.
        holidays: public holidays; they are left out of the estimate, and on a listed ``night`` the low end is
            that of a fifth of the expected count.

    Returns:
        The band, with its expected count, dispersion and a note on what it cannot tell.
    """
    _check_settings(alpha, min_nights, window_nights)
    first = night - dt.timedelta(days=window_nights)
    totals: dict[dt.date, int] = {}
    for day, count in history:
        if first <= day < night:
            totals[day] = totals.get(day, 0) + int(count)
    days = sorted(totals)
    counts = np.array([totals[day] for day in days], dtype=np.float64)
    listed = set(holidays)
    usable = np.array([day not in listed for day in days], dtype=bool)
    if int(usable.sum()) < min_nights:
        return _short_history_band(counts, alpha, min_nights)
    weekdays = np.array([day.weekday() for day in days], dtype=np.int64)
    fit = _fit(counts, weekdays, usable)
    recent = np.array([(night - day).days <= LEVEL_NIGHTS for day in days], dtype=bool)
    mu, mu_q, phi, fitted = _predict(counts, weekdays, recent, fit, night.weekday())
    low, high = count_quantiles(mu_q, phi, alpha)
    notes = []
    if night in listed:
        low = count_quantiles(HOLIDAY_FLOOR * mu_q, phi, alpha)[0]
        notes.append(f"listed holiday: the low end allows a night at {HOLIDAY_FLOOR:.0%} of the expected count")
    if low == 0:
        p_empty = _empty_probability(mu_q, phi)
        notes.append(f"an empty night is within chance for this feed (probability {p_empty:.2g} per night)")
    elif low <= 0.1 * mu:
        notes.append("a night at 10 % of the expected count is within chance for this feed")
    left_out = int((usable & ~fit.clean).sum())
    if left_out:
        notes.append(f"{left_out} outlying night{'s' if left_out > 1 else ''} left out of the estimate")
    method = NEGATIVE_BINOMIAL if fitted > 0 else POISSON
    return VolumeBand(low, high, mu, phi, int(fit.clean.sum()), method, "; ".join(notes))


def _predict(
    counts: np.ndarray, weekdays: np.ndarray, recent: np.ndarray, fit: _Fit, weekday: int
) -> tuple[float, float, float, float]:
    """Tonight's expected count, the mean and phi of the predictive negative binomial, and the fitted phi."""
    per_night = fit.factors[weekdays]
    in_level = fit.clean & recent
    if in_level.sum() < 7:
        in_level = fit.clean
    level = _ratio_level(counts, per_night, in_level)
    mu = level * float(fit.factors[weekday])
    fitted, upper = _dispersion(counts, per_night, fit.clean, 1 + float(fit.weights.sum()))
    means = level * per_night[in_level]
    level_variance = float(means.sum() + upper * (means**2).sum()) / max(float(means.sum()), 1e-9) ** 2  # relative
    mu_q = max(mu, 0.5 / int(in_level.sum()))  # a feed empty on every night still gets a small upper end
    variance = mu_q + upper * mu_q**2 + mu_q**2 * level_variance + level**2 * float(fit.uncertainty[weekday])
    return mu, mu_q, max(0.0, (variance - mu_q) / mu_q**2), fitted


def _check_settings(alpha: float, min_nights: int, window_nights: int) -> None:
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be a probability between 0 and 1, e.g. 1e-6 (got {alpha})")
    if min_nights < 7:
        raise ConfigError(f"min_nights must be at least 7, one of each weekday (got {min_nights})")
    if window_nights < min_nights:
        raise ConfigError(f"window_nights must be at least min_nights ({min_nights}; got {window_nights})")


def _short_history_band(counts: np.ndarray, alpha: float, min_nights: int) -> VolumeBand:
    if counts.size == 0:
        return VolumeBand(0, None, 0.0, 0.0, 0, SHORT_HISTORY, "no history yet: every count is accepted")
    low = 1 if float(counts.min()) > math.log(2 / alpha) else 0
    high = SHORT_HISTORY_FACTOR * max(int(counts.max()), 1)
    caught = "an empty night" if low else "no low night"
    note = (
        f"only {counts.size} nights of history (fewer than {min_nights}): the band catches {caught} and "
        f"more than {SHORT_HISTORY_FACTOR} times the largest night"
    )
    return VolumeBand(low, high, float(counts.mean()), 0.0, int(counts.size), SHORT_HISTORY, note)


@dataclass(frozen=True)
class _Fit:
    factors: np.ndarray  # weekday factors, Monday first, averaging 1
    weights: np.ndarray  # how much of each weekday's own deviation from 1 was kept (0: none, 1: all)
    uncertainty: np.ndarray  # posterior variance of each factor
    per_weekday: np.ndarray  # clean nights per weekday
    clean: np.ndarray  # nights used for the estimate


def _fit(counts: np.ndarray, weekdays: np.ndarray, usable: np.ndarray) -> _Fit:
    """Weekday factors and the clean nights, alternating outlier screening and factor estimation."""
    factors = _median_factors(counts, weekdays, usable)
    clean: np.ndarray | None = None
    for _ in range(FIT_PASSES):
        keep = usable & _inliers(counts, factors[weekdays], usable)
        if clean is not None and np.array_equal(keep, clean):
            break
        clean = keep
        factors, weights, uncertainty, per_weekday = _weekday_factors(counts, weekdays, clean)
    assert clean is not None
    return _Fit(factors, weights, uncertainty, per_weekday, clean)


def _median_factors(counts: np.ndarray, weekdays: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """First weekday factors from each weekday's median: robust to a bad week, only used to screen outliers."""
    y, w = counts[usable], weekdays[usable]
    ordered = y[np.lexsort((y, w))]  # by weekday, then count
    sizes = np.bincount(w, minlength=7)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    lower, upper = starts + (sizes - 1) // 2, starts + sizes // 2
    picked = np.minimum(np.stack((lower, upper)), max(y.size - 1, 0))
    medians = np.where(sizes > 0, ordered[picked].mean(axis=0) if y.size else 0.0, np.nan)
    known = np.isfinite(medians)
    average = float(medians[known].mean()) if known.any() else 0.0
    if average <= 0:
        return np.ones(7)
    return np.where(known, medians / average, 1.0)


def _inliers(counts: np.ndarray, factors: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Nights that neither rule calls an outlier; high outliers only while they are rare (one night in ten).

    The root rule: the square-root count more than 6 robust deviations (median/MAD, at least the Poisson 0.5) from
    its expected value, the level taken as a median: catches outages, shortfalls and spikes in big feeds. The spike
    rule: a night above its expected count whose upper tail probability, under a negative binomial fitted to the
    other nights, is below SPIKE_PROBABILITY: catches spikes in small feeds, whose square roots are too discrete
    for a median absolute deviation.
    """
    positive = usable & (factors > 0)
    median_level = float(np.median(counts[positive] / factors[positive])) if positive.any() else 0.0
    root = np.sqrt(counts) - np.sqrt(median_level * factors)
    root = root - np.median(root[usable])
    scale = max(1.4826 * float(np.median(np.abs(root[usable]))), POISSON_SQRT_SD)
    out = np.abs(root) > ROOT_DEVIATIONS * scale
    rest = usable & ~out
    expected = _ratio_level(counts, factors, rest) * factors
    out |= rest & _spikes(counts, expected, rest)
    high = out & usable & (counts > expected)
    if int(high.sum()) > max(1, RARE_HIGH_SHARE * int(usable.sum())):
        out &= ~high  # frequent high nights are the feed's normal behaviour
    return ~out


def _spikes(counts: np.ndarray, expected: np.ndarray, nights: np.ndarray) -> np.ndarray:
    """Nights above their expected count with an upper tail probability below SPIKE_PROBABILITY under the
    negative binomial fitted by moments to the other ``nights`` (leaving each night out, so a spike does not hide
    itself by widening the fit)."""
    errors = np.where(nights, (counts - expected) ** 2 - expected, 0.0)
    squares = np.where(nights, expected**2, 0.0)
    others = np.maximum(squares.sum() - squares, 1e-12)
    phi = np.clip((errors.sum() - errors) / others, 0.0, None)
    above = nights & (counts > expected) & (expected > 0)
    mu = np.where(above, expected, 1.0)
    k = np.where(above, counts, 1.0)
    size = 1 / np.maximum(phi, 1e-12)
    with np.errstate(all="ignore"):
        negative_binomial = special.betainc(k, size, phi * mu / (1 + phi * mu))  # P(Y >= k)
        poisson = special.gammainc(k, mu)  # P(Y >= k)
    tail = np.where(phi > 0, negative_binomial, poisson)
    return above & (tail < SPIKE_PROBABILITY)


def _weekday_factors(
    counts: np.ndarray, weekdays: np.ndarray, clean: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Weekday factors (averaging 1) from the clean nights, each shrunk towards 1 by empirical Bayes, with the
    weight kept of each weekday's own deviation, the posterior variance of each factor and the nights behind it."""
    y, w = counts[clean], weekdays[clean]
    per_weekday = np.bincount(w, minlength=7)
    seen = per_weekday > 0
    means = np.bincount(w, weights=y, minlength=7) / np.maximum(per_weekday, 1)
    average = float(means[seen].mean()) if seen.any() else 0.0
    dof = y.size - int(seen.sum())
    if average <= 0 or int(seen.sum()) < 2 or dof < 1:
        return np.ones(7), np.zeros(7), np.zeros(7), per_weekday
    raw = np.where(seen, means / average, 1.0)
    # Each weekday's variance as mean + phi mean^2, phi from the scatter within weekdays: small weekdays are not
    # given the noise of big ones.
    free = np.maximum(per_weekday - 1, 0)
    squares = float((free * means**2).sum())
    scatter = float(((y - means[w]) ** 2).sum())
    phi = max(0.0, (scatter - float((free * means).sum())) / squares) if squares > 0 else 0.0
    noise = (means + phi * means**2) / (np.maximum(per_weekday, 1) * average**2)  # variance of each raw factor
    spread = max(0.0, float(raw[seen].var(ddof=1)) - float(noise[seen].mean()))  # between-weekday variance
    total = spread + noise
    weights = np.where(seen, np.divide(spread, total, out=np.ones(7), where=total > 0), 0.0)
    uncertainty = np.where(seen, weights * noise, spread)
    factors = 1 + weights * (raw - 1)
    scale = float(factors.mean())
    return factors / scale, weights, uncertainty / scale**2, per_weekday


def _ratio_level(counts: np.ndarray, factors: np.ndarray, nights: np.ndarray) -> float:
    weight = float(factors[nights].sum())
    return float(counts[nights].sum()) / weight if weight > 0 else 0.0


def _dispersion(counts: np.ndarray, factors: np.ndarray, clean: np.ndarray, params: float) -> tuple[float, float]:
    """The negative binomial phi by the method of moments and at the upper confidence limit of the variance."""
    y, f = counts[clean], factors[clean]
    expected = _ratio_level(counts, factors, clean) * f
    squares = float((expected**2).sum())
    dof = y.size - params
    if squares <= 0 or dof < 1:
        return 0.0, 0.0
    total = float(((y - expected) ** 2).sum()) * y.size / dof  # the sum of the nights' variances
    upper = total * dof / float(special.chdtri(dof, DISPERSION_CONFIDENCE))
    mean_sum = float(expected.sum())
    return max(0.0, (total - mean_sum) / squares), max(0.0, (upper - mean_sum) / squares)


def feed_counts_sql(
    table_sql: str, day_column: str, key_columns: Sequence[str], value_column: str | None = None
) -> str:
    """SQL for :func:`feed_counts`: one row per feed, its days from its first appearance to ``$until`` and the
    count of each (0 when absent): its rows, or the sum of ``value_column``. ``table_sql`` is the code's own SQL
    text (a table name or a subquery)."""
    keys = [quote_identifier(name) for name in key_columns]
    listed = "".join(f"{key}, " for key in keys)
    grid_keys = "".join(f"g.{key}, " for key in keys)
    joined = "".join(f"g.{key} IS NOT DISTINCT FROM d.{key} AND " for key in keys)
    day = quote_identifier(day_column)
    measure = "count(*)" if value_column is None else f"sum({quote_identifier(value_column)})::BIGINT"
    order = f"\nORDER BY {', '.join(f'g.{key}' for key in keys)}" if keys else ""
    return f"""
WITH daily AS (
    SELECT {listed}CAST({day} AS DATE) AS volume_day, {measure} AS volume_n
    FROM {table_sql}
    WHERE CAST({day} AS DATE) BETWEEN $since AND $until
    GROUP BY ALL),
feeds AS (SELECT {listed}min(volume_day) AS first_day FROM daily GROUP BY ALL),
grid AS (
    SELECT {listed}CAST(unnest(generate_series(first_day, $until::DATE, INTERVAL 1 DAY)) AS DATE) AS volume_day
    FROM feeds)
SELECT {grid_keys}list(g.volume_day ORDER BY g.volume_day), list(coalesce(d.volume_n, 0) ORDER BY g.volume_day)
FROM grid g LEFT JOIN daily d ON {joined}g.volume_day = d.volume_day
GROUP BY ALL{order}"""


def feed_counts(
    con: duckdb.DuckDBPyConnection,
    table_sql: str,
    *,
    day_column: str,
    key_columns: Sequence[str],
    since: dt.date,
    until: dt.date,
    value_column: str | None = None,
) -> dict[tuple[object, ...], list[tuple[dt.date, int]]]:
    """Daily counts per feed of a DuckDB relation, counted by DuckDB.

    Args:
        con: the connection.
        table_sql: the relation, as the code's own SQL text (a quoted table name or a parenthesised query).
        day_column: the date (or timestamp) column that places a row on a day.
        key_columns: the columns naming a feed, e.g. ``("source",)`` or ``("source", "port")``; none for one feed.
        since: first day counted.
        until: last day counted.
        value_column: a column holding counts (one row per feed and day, e.g. a partition's rows read): its daily
            sum is the feed's count; without it, the rows themselves are counted.

    Returns:
        Per feed key (a tuple of the key values) its (day, count) from its first day with rows in
        [since, until] to ``until``, days without rows as 0: a port that stops reporting shows 0s.
    """
    rows = con.execute(
        feed_counts_sql(table_sql, day_column, key_columns, value_column), {"since": since, "until": until}
    )
    found: dict[tuple[object, ...], list[tuple[dt.date, int]]] = {}
    for *key, days, counts in rows.fetchall():
        if days:
            found[tuple(key)] = list(zip(days, (int(n) for n in counts), strict=True))
    return found


# Simulated feeds: weekday profile (Monday first), size, day-to-day noise, trend, summer peak and holidays.
BORDER_WEEK = (0.95, 0.85, 0.85, 0.95, 1.2, 1.0, 1.2)  # Friday and Sunday peaks
OFFICE_WEEK = (1.2, 1.2, 1.2, 1.2, 1.1, 0.4, 0.2)  # offices half-staffed on Saturday, mostly closed on Sunday
SIM_START = dt.date(2023, 1, 2)
SIM_HOLIDAYS = ((1, 1), (5, 1), (8, 15), (12, 25), (12, 26))  # (month, day)
HOLIDAY_VOLUME = 0.3
SUMMER_PEAK_DAY = 196  # mid-July


@dataclass(frozen=True)
class FeedSpec:
    """One simulated feed: mean daily count, weekday profile (scaled to average 1), gamma shape of the day-to-day
    noise (coefficient of variation 1/sqrt(shape) on top of Poisson), trend per year and summer amplitude."""

    name: str
    mean: float
    weekdays: tuple[float, ...] = BORDER_WEEK
    shape: float = 100.0
    trend: float = 0.0
    summer: float = 0.3


DEFAULT_FEEDS = (
    FeedSpec("border", 3000, BORDER_WEEK, shape=150, trend=0.05),
    FeedSpec("border/UTO-CAP-AIR", 1650, BORDER_WEEK, shape=100, trend=0.08),
    FeedSpec("visa", 300, OFFICE_WEEK, shape=60, trend=-0.05),
    FeedSpec("border/UTO-HARBOUR", 240, BORDER_WEEK, shape=50),
    FeedSpec("permit", 8, OFFICE_WEEK, shape=20, trend=0.03),
    FeedSpec("visa/FAMILY", 12, OFFICE_WEEK, shape=20),
    FeedSpec("border/UTO-ISLAND-PIER", 1.5, BORDER_WEEK, shape=10),
    FeedSpec("permit/PROTECTION", 1.2, OFFICE_WEEK, shape=10),
)


def simulated_holidays(days: int, *, start: dt.date = SIM_START) -> frozenset[dt.date]:
    """The public holidays of the simulated calendar among the ``days`` days from ``start``."""
    dates = (start + dt.timedelta(days=i) for i in range(days))
    return frozenset(day for day in dates if (day.month, day.day) in SIM_HOLIDAYS)


def simulate_feeds(
    days: int, seed: int, *, feeds: Iterable[FeedSpec] = DEFAULT_FEEDS, start: dt.date = SIM_START
) -> dict[str, list[tuple[dt.date, int]]]:
    """Daily counts of ``feeds`` over ``days`` days from ``start``: mean x weekday factor x (1 + trend x years)
    x (1 + summer x cos(season)) x 0.3 on public holidays, drawn gamma-Poisson (negative binomial) per day.

    Each feed draws from its own stream of ``seed``, so adding a feed leaves the others unchanged.
    """
    dates = [start + dt.timedelta(days=i) for i in range(days)]
    years = np.arange(days) / 365.25
    weekday = np.array([day.weekday() for day in dates], dtype=np.int64)
    yearday = np.array([day.timetuple().tm_yday for day in dates], dtype=np.float64)
    season = np.cos(2 * np.pi * (yearday - SUMMER_PEAK_DAY) / 365.25)
    holiday = np.array([(day.month, day.day) in SIM_HOLIDAYS for day in dates], dtype=bool)
    simulated: dict[str, list[tuple[dt.date, int]]] = {}
    for index, spec in enumerate(feeds):
        rng = np.random.default_rng([seed, index])
        week = np.asarray(spec.weekdays, dtype=np.float64)
        mean = spec.mean * (week / week.mean())[weekday] * (1 + spec.trend * years) * (1 + spec.summer * season)
        mean *= np.where(holiday, HOLIDAY_VOLUME, 1.0)
        counts = rng.poisson(mean * rng.gamma(spec.shape, 1 / spec.shape, size=days))
        simulated[spec.name] = list(zip(dates, (int(n) for n in counts), strict=True))
    return simulated
