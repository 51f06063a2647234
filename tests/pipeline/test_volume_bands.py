"""Volume bands: quantiles against hand-computed and exact values, weekday profiles on synthetic series, and the
gate's behaviour on two simulated years of the default feeds.

The default feeds (:data:`pipeline.quality.volume.DEFAULT_FEEDS`) are two big ones (about 3,000 and 1,650 records a
day), two medium (300 and 240), two small (8 and 12) and two tiny (1.5 and 1.2), with weekday profiles, trends, a
summer peak of +30 %, gamma-Poisson noise and five public holidays a year at 30 % volume. Every draw is seeded.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import duckdb
import numpy as np
import pytest
from scipy import special, stats

from pipeline.errors import ConfigError
from pipeline.quality.volume import (
    DEFAULT_FEEDS,
    SIM_START,
    VolumeBand,
    VolumeCheck,
    check_volume,
    count_quantiles,
    feed_counts,
    simulate_feeds,
    simulated_holidays,
    volume_band,
)

SEED = 2024
WARM_UP = 56
DAYS = WARM_UP + 2 * 365
HOLIDAYS = simulated_holidays(DAYS)
BIG_AND_MEDIUM = ("border", "border/UTO-CAP-AIR", "visa", "border/UTO-HARBOUR")
SMALL_AND_TINY = ("permit", "visa/FAMILY", "border/UTO-ISLAND-PIER", "permit/PROTECTION")


class Judged(NamedTuple):
    night: dt.date
    count: int
    band: VolumeBand
    unlisted: VolumeBand | None  # on holidays: the band computed without the holiday calendar


@pytest.fixture(scope="module")
def two_years() -> dict[str, list[Judged]]:
    """A band for every night of two years after an 8-week warm-up, for each default feed."""
    judged: dict[str, list[Judged]] = {}
    for name, series in simulate_feeds(DAYS, SEED).items():
        judged[name] = []
        for index in range(WARM_UP, DAYS):
            night, count = series[index]
            history = series[index - WARM_UP : index]
            unlisted = volume_band(history, night) if night in HOLIDAYS else None
            judged[name].append(Judged(night, count, volume_band(history, night, holidays=HOLIDAYS), unlisted))
    return judged


# ---------------------------------------------------------------------------------------------------- quantiles


@pytest.mark.parametrize(
    ("expected", "dispersion", "alpha", "quantiles"),
    [
        # Poisson(1): CDF 0.368, 0.736, 0.920, 0.981, 0.9963 at 0..4; the 0.5 % and 99.5 % points are 0 and 4.
        pytest.param(1.0, 0.0, 0.01, (0, 4), id="poisson-mean-1"),
        # Poisson(10): CDF(2) = 0.0028 < 0.005 <= CDF(3) = 0.0103; CDF(18) = 0.9928 < 0.995 <= CDF(19) = 0.9965.
        pytest.param(10.0, 0.0, 0.01, (3, 19), id="poisson-mean-10"),
        # phi = 1, mean 1 is the geometric with p = 1/2: CDF(k) = 1 - 2^-(k+1).
        pytest.param(1.0, 1.0, 0.5, (0, 1), id="geometric-quartiles"),
        pytest.param(1.0, 1.0, 1e-6, (0, 20), id="geometric-2^-21-tail"),  # 2^-21 < 5e-7 <= 2^-20
        pytest.param(0.0, 0.0, 1e-6, (0, 0), id="empty-feed"),
    ],
)
def test_quantiles_worked_out_by_hand(
    expected: float, dispersion: float, alpha: float, quantiles: tuple[int, int]
) -> None:
    assert count_quantiles(expected, dispersion, alpha) == quantiles


def exact_quantiles(mu: float, phi: float, alpha: float) -> tuple[int, int]:
    """Smallest k with CDF(k) >= alpha/2 and smallest k with P(X > k) <= alpha/2, summing the probability mass."""
    k = np.arange(int(mu + 60 * np.sqrt(mu + phi * mu**2) + 100), dtype=np.float64)
    if phi == 0:
        log_pmf = k * np.log(mu) - mu - special.gammaln(k + 1)
    else:
        size = 1 / phi
        log_pmf = (
            special.gammaln(k + size)
            - special.gammaln(size)
            - special.gammaln(k + 1)
            + size * np.log(size / (size + mu))
            + k * np.log(mu / (size + mu))
        )
    pmf = np.exp(log_pmf)
    cdf = np.cumsum(pmf)
    above = np.cumsum(pmf[::-1])[::-1] - pmf  # P(X > k)
    return int(np.searchsorted(cdf, alpha / 2)), int(np.argmax(above <= alpha / 2))


@pytest.mark.parametrize(
    ("mu", "phi"),
    [(3000.0, 0.0), (3000.0, 0.01), (300.0, 0.02), (12.0, 0.1), (8.0, 0.05), (1.5, 0.0), (1.5, 0.5), (0.3, 2.0)],
    ids=lambda v: f"{v:g}",
)
@pytest.mark.parametrize("alpha", [1e-6, 1e-3])
def test_quantiles_match_the_summed_distribution(mu: float, phi: float, alpha: float) -> None:
    assert count_quantiles(mu, phi, alpha) == exact_quantiles(mu, phi, alpha)


def test_quantiles_agree_with_scipy_stats_over_a_random_grid() -> None:
    rng = np.random.default_rng(7)
    for _ in range(300):
        mu, phi = float(np.exp(rng.uniform(-2, 9))), float(np.exp(rng.uniform(-9, 1))) * (rng.random() < 0.8)
        alpha = float(10 ** rng.uniform(-8, -1))
        if phi == 0:
            reference = stats.poisson.ppf([alpha / 2, 1 - alpha / 2], mu)
        else:
            reference = stats.nbinom.ppf([alpha / 2, 1 - alpha / 2], 1 / phi, 1 / (1 + phi * mu))
        assert count_quantiles(mu, phi, alpha) == tuple(int(q) for q in reference), (mu, phi, alpha)


# ------------------------------------------------------------------------------------------------ weekday profile

MONDAY = dt.date(2024, 1, 1)
PROFILE = (0.8, 0.9, 1.0, 1.0, 1.2, 1.3, 0.8)  # averages 1


def synthetic(mean: float, profile: tuple[float, ...], weeks: int, seed: int) -> list[tuple[dt.date, int]]:
    rng = np.random.default_rng(seed)
    days = [MONDAY + dt.timedelta(days=i) for i in range(7 * weeks)]
    return [(day, int(rng.poisson(mean * profile[day.weekday()]))) for day in days]


def next_week(history: list[tuple[dt.date, int]]) -> list[VolumeBand]:
    last = history[-1][0]
    return [volume_band(history, last + dt.timedelta(days=i)) for i in range(1, 8)]


def test_weekday_profile_and_level_recovered_from_eight_weeks() -> None:
    factors = [band.expected / 1000 for band in next_week(synthetic(1000, PROFILE, weeks=8, seed=1))]  # Monday first
    assert np.allclose(factors, PROFILE, atol=0.03), factors


@pytest.mark.parametrize(
    ("mean", "weeks"),
    [pytest.param(1.5, 8, id="tiny-feed-8-weeks"), pytest.param(20.0, 2, id="small-feed-2-weeks")],
)
def test_weekday_profile_shrinks_to_flat_when_the_weekdays_cannot_be_told_apart(mean: float, weeks: int) -> None:
    history = synthetic(mean, (1.0,) * 7, weeks=weeks, seed=3)
    raw = [np.mean([n for day, n in history if day.weekday() == d]) for d in range(7)]
    expected = [band.expected for band in next_week(history)]
    assert max(expected) / min(expected) < max(raw) / min(raw)
    assert max(expected) / min(expected) < 1.25


# ------------------------------------------------------------------------------------------- simulated two years


def test_two_years_of_normal_nights_hold_nothing(two_years: dict[str, list[Judged]]) -> None:
    """At alpha = 1e-6 the 8 feeds x 720 normal nights expect 0.006 false alarms if the band is exact. Its estimate
    rests on 8 weeks, so the bound allows the tail to be wrong by a factor of up to about 100 (at most 2 alarms
    with probability 0.98 at that rate); the bands are built conservatively (the bench measures 0.4 x alpha at
    alpha 1e-2 and 1e-3) and this seed gives none."""
    normal = [j for feed in two_years.values() for j in feed if j.night not in HOLIDAYS]
    assert len(normal) == 8 * 720
    alarms = [j for j in normal if not check_volume(j.count, j.band).ok]
    assert len(alarms) <= 2, [check_volume(j.count, j.band).message for j in alarms]


def test_listed_holidays_hold_nothing_and_unlisted_ones_trip_the_big_feeds(two_years: dict[str, list[Judged]]) -> None:
    """Holidays run at 30 % of a normal night: far outside a big feed's band unless the calendar lists them."""
    holidays = {name: [j for j in feed if j.unlisted is not None] for name, feed in two_years.items()}
    assert all(len(nights) == 10 for nights in holidays.values())
    listed_alarms = sum(not check_volume(j.count, j.band).ok for nights in holidays.values() for j in nights)
    assert listed_alarms == 0
    for name in ("border", "border/UTO-CAP-AIR"):
        unlisted_alarms = sum(not check_volume(j.count, j.unlisted).ok for j in holidays[name] if j.unlisted)
        assert unlisted_alarms >= 8


@pytest.mark.parametrize("name", [spec.name for spec in DEFAULT_FEEDS])
def test_a_normal_month_after_a_year_never_trips(two_years: dict[str, list[Judged]], name: str) -> None:
    month = two_years[name][365 - WARM_UP : 365 - WARM_UP + 30]
    assert month[0].night == SIM_START + dt.timedelta(days=365)
    assert [check_volume(j.count, j.band).message for j in month if not check_volume(j.count, j.band).ok] == []


@pytest.mark.parametrize("name", BIG_AND_MEDIUM)
def test_an_empty_or_90_percent_short_night_is_always_caught_in_big_and_medium_feeds(
    two_years: dict[str, list[Judged]], name: str
) -> None:
    normal = [j for j in two_years[name] if j.night not in HOLIDAYS]
    for failed in (0, 1 / 10):
        checks = [check_volume(int(j.count * failed), j.band) for j in normal]
        assert all(not c.ok and c.direction == "low" for c in checks)


@pytest.mark.parametrize("name", SMALL_AND_TINY)
def test_an_empty_small_or_tiny_feed_is_within_chance_and_the_band_says_so(
    two_years: dict[str, list[Judged]], name: str
) -> None:
    """At alpha = 1e-6 an empty night is caught only when P(0) < 5e-7: about 15 expected records for Poisson counts,
    more with overdispersion. The 8 and 12 a day feeds (weekday peaks 10-20) and the tiny ones stay below it, so
    an empty night raises no false alarm there; the band's note says that it is within chance."""
    for j in two_years[name]:
        if check_volume(0, j.band).ok:
            assert "an empty night is within chance" in j.band.note
    assert sum(check_volume(0, j.band).ok for j in two_years[name]) >= 0.95 * len(two_years[name])


def test_every_band_catches_a_shortfall_or_says_it_cannot(two_years: dict[str, list[Judged]]) -> None:
    for j in (j for feed in two_years.values() for j in feed):
        empty, tenth = check_volume(0, j.band), check_volume(int(0.1 * j.band.expected), j.band)
        assert empty.ok == ("an empty night is within chance" in j.band.note)
        if not empty.ok:
            assert tenth.ok == ("10 % of the expected count is within chance" in j.band.note)


def test_a_quadrupled_night_is_caught_in_big_and_medium_feeds(two_years: dict[str, list[Judged]]) -> None:
    for name in BIG_AND_MEDIUM:
        checks = [check_volume(4 * j.count, j.band) for j in two_years[name] if j.night not in HOLIDAYS]
        assert sum(c.direction == "high" for c in checks) >= 0.98 * len(checks)


def test_false_alarms_are_measurable_and_within_alpha_at_a_loose_alpha() -> None:
    """At alpha = 0.01 over 4 feeds x 300 nights the exact band would give 12 alarms; a conservative one fewer, but
    not none (the band is not vacuous), and never more than twice alpha."""
    feeds = simulate_feeds(WARM_UP + 300, SEED + 1, feeds=DEFAULT_FEEDS[2:6])
    alarms = checked = 0
    for series in feeds.values():
        for index in range(WARM_UP, len(series)):
            night, count = series[index]
            if night in HOLIDAYS:
                continue
            band = volume_band(series[index - WARM_UP : index], night, alpha=0.01, holidays=HOLIDAYS)
            checked += 1
            alarms += not check_volume(count, band).ok
    assert 1 <= alarms <= 2 * 0.01 * checked


# -------------------------------------------------------------------------------------------- robustness, edges


def with_one_night(history: list[tuple[dt.date, int]], back: int, count: int) -> list[tuple[dt.date, int]]:
    changed = list(history)
    changed[-back] = (changed[-back][0], count)
    return changed


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        *[(name, bad) for name in BIG_AND_MEDIUM for bad in ("empty", "tenth", "triple", "tenfold")],
        *[(name, "tenfold") for name in SMALL_AND_TINY],
    ],
)
@pytest.mark.parametrize("back", [1, 10, 30, 50])
def test_one_bad_night_in_the_history_does_not_widen_the_band(name: str, bad: str, back: int) -> None:
    """At most 5 % wider, plus one count for the discreteness of tiny feeds. Small feeds are tested with a tenfold
    spike only: an empty or tripled night is within chance for them and rightly widens their band."""
    series = simulate_feeds(WARM_UP + 140, SEED)[name]  # the history runs from 21 May to 15 July: no holiday
    history, night = series[-WARM_UP - 1 : -1], series[-1][0]
    count = history[-back][1]
    spoiled = {"empty": 0, "tenth": count // 10, "triple": 3 * count, "tenfold": 10 * count + 20}[bad]
    before = volume_band(history, night, holidays=HOLIDAYS)
    after = volume_band(with_one_night(history, back, spoiled), night, holidays=HOLIDAYS)
    assert before.high is not None and after.high is not None
    assert after.high - after.low <= 1.05 * (before.high - before.low) + 1
    assert after.nights_used == before.nights_used - 1  # the bad night is left out


def test_a_listed_holiday_tonight_is_not_an_alarm_and_an_unlisted_one_is() -> None:
    series = simulate_feeds(WARM_UP + 100, SEED)["border"]
    history, (night, count) = series[-WARM_UP - 1 : -1], series[-1]
    listed = volume_band(history, night, holidays={night})
    assert check_volume(int(0.3 * count), listed).ok
    assert "listed holiday" in listed.note
    assert check_volume(int(0.3 * count), volume_band(history, night)).direction == "low"
    assert not check_volume(0, listed).ok


def test_holidays_in_the_history_are_left_out_of_the_estimate() -> None:
    series = simulate_feeds(WARM_UP + 100, SEED)["visa"]
    history, night = series[-WARM_UP - 1 : -1], series[-1][0]
    days = {history[-3][0], history[-20][0]}
    assert volume_band(history, night, holidays=days).nights_used == volume_band(history, night).nights_used - 2


@pytest.mark.parametrize(
    ("history", "low", "high"),
    [
        pytest.param([], 0, None, id="no-history"),
        pytest.param([40, 52, 38, 61, 45, 50, 47, 39, 55, 44], 1, 610, id="never-empty-and-large"),
        pytest.param([3, 1, 2, 4, 2, 1, 3], 0, 40, id="never-empty-but-small"),  # a zero is plausible at 2 a day
        pytest.param([40, 0, 38, 61, 45], 0, 610, id="was-empty-before"),
    ],
)
def test_too_little_history_catches_only_an_empty_or_tenfold_night(
    history: list[int], low: int, high: int | None
) -> None:
    night = MONDAY + dt.timedelta(days=len(history))
    band = volume_band([(MONDAY + dt.timedelta(days=i), n) for i, n in enumerate(history)], night)
    assert (band.low, band.high, band.method) == (low, high, "short history")
    assert band.note


@pytest.mark.parametrize(
    ("count", "band", "direction", "message"),
    [
        (318, VolumeBand(241, 402, 318.4, 0.01, 56, "negative binomial"), None,
         "count 318 is within the band [241, 402] (expected 318.4)"),
        (12, VolumeBand(241, 402, 318.4, 0.01, 56, "negative binomial"), "low",
         "count 12 is below the band [241, 402] (expected 318.4)"),
        (4_000, VolumeBand(1_241, 3_402, 2_318.0, 0.01, 56, "poisson"), "high",
         "count 4,000 is above the band [1,241, 3,402] (expected 2,318.0)"),
        (9, VolumeBand(0, None, 0.0, 0.0, 0, "short history"), None,
         "count 9 is within the band [0, no upper bound] (expected 0.0)"),
    ],
    ids=["within", "below", "above", "no-upper-bound"],
)  # fmt: skip
def test_check_names_the_count_the_band_and_the_expected_value(
    count: int, band: VolumeBand, direction: str | None, message: str
) -> None:
    assert check_volume(count, band) == VolumeCheck(direction is None, direction, message)


@pytest.mark.parametrize(
    "settings",
    [{"alpha": 0.0}, {"alpha": 1.5}, {"min_nights": 3}, {"min_nights": 30, "window_nights": 20}],
    ids=["alpha-0", "alpha-above-1", "min-nights-below-a-week", "window-shorter-than-min-nights"],
)
def test_bad_settings_are_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        volume_band([], MONDAY, **settings)


# ------------------------------------------------------------------------------------------------- feed counts


@pytest.fixture
def crossings() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        """CREATE TABLE crossings AS SELECT * FROM (VALUES
            ('border', 'UTO-BRIDGE', TIMESTAMP '2024-03-01 08:00'),
            ('border', 'UTO-BRIDGE', TIMESTAMP '2024-03-01 09:30'),
            ('border', 'UTO-BRIDGE', TIMESTAMP '2024-03-02 10:00'),
            ('border', 'UTO-RAIL', TIMESTAMP '2024-03-02 11:00'),
            ('border', 'UTO-RAIL', TIMESTAMP '2024-03-03 11:00'),
            ('visa', NULL, TIMESTAMP '2024-03-03 12:00'),
            ('border', 'UTO-RAIL', TIMESTAMP '2024-02-20 11:00'),
            ('border', 'UTO-RAIL', TIMESTAMP '2024-03-09 11:00')
        ) AS v(source, port, crossing_time)"""
    )  # fmt: skip
    return con


D = dt.date.fromisoformat
Day = tuple[str, int]


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        pytest.param(
            ("source", "port"),
            {
                ("border", "UTO-BRIDGE"): [("2024-03-01", 2), ("2024-03-02", 1), ("2024-03-03", 0), ("2024-03-04", 0)],
                ("border", "UTO-RAIL"): [("2024-03-02", 1), ("2024-03-03", 1), ("2024-03-04", 0)],
                ("visa", None): [("2024-03-03", 1), ("2024-03-04", 0)],
            },
            id="per-port-a-silent-port-shows-zeros",
        ),
        pytest.param(
            ("source",),
            {
                ("border",): [("2024-03-01", 2), ("2024-03-02", 2), ("2024-03-03", 1), ("2024-03-04", 0)],
                ("visa",): [("2024-03-03", 1), ("2024-03-04", 0)],
            },
            id="per-source",
        ),
        pytest.param(
            (), {(): [("2024-03-01", 2), ("2024-03-02", 2), ("2024-03-03", 2), ("2024-03-04", 0)]}, id="one-feed"
        ),
    ],
)
def test_feed_counts_fill_the_days_a_feed_stopped_reporting_with_zero(
    crossings: duckdb.DuckDBPyConnection,
    keys: tuple[str, ...],
    expected: dict[tuple[object, ...], list[tuple[str, int]]],
) -> None:
    found = feed_counts(
        crossings,
        "crossings",
        day_column="crossing_time",
        key_columns=keys,
        since=D("2024-03-01"),
        until=D("2024-03-04"),
    )
    assert found == {key: [(D(day), n) for day, n in days] for key, days in expected.items()}


def test_a_night_with_an_empty_source_a_short_source_and_a_missing_port_is_held() -> None:
    """Records of eight weeks are made in DuckDB from simulated counts, counted back with feed_counts per source and
    per source and port; tonight visa delivers nothing, the capital airport a tenth and the harbour no rows."""
    feeds = {"border/UTO-CAP-AIR": "border", "border/UTO-HARBOUR": "border", "visa": "visa", "permit": "permit"}
    simulated = simulate_feeds(WARM_UP + 400, SEED, feeds=[s for s in DEFAULT_FEEDS if s.name in feeds])
    night = simulated["visa"][-1][0]
    tonight = {"border/UTO-CAP-AIR": 0.1, "border/UTO-HARBOUR": 0.0, "visa": 0.0, "permit": 1.0}
    rows = [
        (feeds[name], name.partition("/")[2] or None, day, int(n * tonight[name]) if day == night else n)
        for name, series in simulated.items()
        for day, n in series[-WARM_UP - 1 :]
    ]
    con = duckdb.connect()
    con.execute("CREATE TABLE counts (source TEXT, port TEXT, day DATE, n INTEGER)")
    con.executemany("INSERT INTO counts VALUES (?, ?, ?, ?)", rows)
    con.execute("CREATE TABLE records AS SELECT source, port, day FROM counts, range(n)")
    since = night - dt.timedelta(days=WARM_UP)
    held = set()
    for keys in (("source",), ("source", "port")):
        counted = feed_counts(con, "records", day_column="day", key_columns=keys, since=since, until=night)
        for key, series in counted.items():
            assert series[-1][0] == night
            band = volume_band(series[:-1], night, holidays=HOLIDAYS)
            if not check_volume(series[-1][1], band).ok:
                held.add(key)
            previous = volume_band(series[:-2], series[-2][0], holidays=HOLIDAYS)
            assert check_volume(series[-2][1], previous).ok  # last night was normal everywhere
    assert held == {("border",), ("visa",), ("border", "UTO-CAP-AIR"), ("border", "UTO-HARBOUR"), ("visa", None)}
