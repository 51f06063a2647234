"""Random rounding to base 3: multiples of 3, unbiased, zeros kept, draws consistent per cell key and table."""

from __future__ import annotations

import math

import numpy as np
import pytest

from privacy.disclosure.errors import DisclosureError
from privacy.disclosure.rounding import random_round, uniforms_from_cell_keys

Z_999 = 3.2905267314919255  # two-sided 99.9% quantile of the standard normal


@pytest.mark.parametrize(
    ("description", "count", "draw", "rounded"),
    [
        ("zero stays zero", 0, 0.0, 0),
        ("a multiple of 3 stays", 3, 0.0, 3),
        ("1 goes up below 1/3", 1, 0.33, 3),
        ("1 goes down from 1/3", 1, 0.34, 0),
        ("2 goes up below 2/3", 2, 0.66, 3),
        ("2 goes down from 2/3", 2, 0.67, 0),
        ("4 goes up below 1/3", 4, 0.2, 6),
        ("1000 goes down from 1/3", 1000, 0.5, 999),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_rounds_up_when_the_draw_is_below_the_remainder_over_the_base(description, count, draw, rounded) -> None:
    assert random_round(np.array([count]), uniforms=np.array([draw])).tolist() == [rounded]


def test_every_output_is_a_multiple_of_3_within_2_of_the_count() -> None:
    rng = np.random.default_rng(31)
    counts = rng.integers(0, 10_000, 200_000)
    counts[:500] = 0
    rounded = random_round(counts, uniforms=rng.random(counts.size))
    assert rounded.dtype == np.int64
    assert (rounded % 3 == 0).all()
    assert (np.abs(rounded - counts) <= 2).all()
    assert (rounded[counts % 3 == 0] == counts[counts % 3 == 0]).all()  # zeros and multiples of 3 are kept


@pytest.mark.parametrize("n", range(11))
def test_unbiased_over_many_draws(n: int) -> None:
    """Over 200,000 draws the mean lies within the 99.9% band of the binomial number of upward roundings."""
    draws = 200_000
    rng = np.random.default_rng(1000 + n)
    rounded = random_round(np.full(draws, n), uniforms=rng.random(draws))
    p = (n % 3) / 3
    band = Z_999 * 3 * math.sqrt(p * (1 - p) / draws)  # the mean is n - r + 3 * (ups / draws)
    assert abs(rounded.mean() - n) <= band, (n, rounded.mean(), band)
    assert set(np.unique(rounded)) <= {n - n % 3, n - n % 3 + 3}


def test_other_bases() -> None:
    counts = np.arange(20)
    rounded = random_round(counts, 5, uniforms=np.full(20, 0.5))
    assert (rounded % 5 == 0).all()
    assert rounded.tolist()[:6] == [0, 0, 0, 5, 5, 5]  # up when remainder / 5 > 0.5


def test_draws_from_cell_keys_repeat_for_the_same_cell_and_table_only() -> None:
    rng = np.random.default_rng(7)
    keys = rng.integers(0, 2**32, 20_000).astype(np.float64) / 2**32
    arrivals = uniforms_from_cell_keys(keys, "arrivals by municipality")
    assert np.array_equal(arrivals, uniforms_from_cell_keys(keys.copy(), "arrivals by municipality"))
    departures = uniforms_from_cell_keys(keys, "departures by municipality")
    assert abs(np.corrcoef(arrivals, departures)[0, 1]) < 0.05  # another table: independent draws
    assert abs(np.corrcoef(arrivals, keys)[0, 1]) < 0.05
    counts = rng.integers(0, 50, keys.size)
    first = random_round(counts, uniforms=arrivals)
    assert np.array_equal(
        first, random_round(counts, uniforms=uniforms_from_cell_keys(keys, "arrivals by municipality"))
    )
    grid = uniforms_from_cell_keys(keys.reshape(100, 200), "arrivals by municipality")
    assert grid.shape == (100, 200) and np.array_equal(grid.reshape(-1), arrivals)


def test_draws_from_cell_keys_are_uniform_so_rounding_stays_unbiased() -> None:
    from scipy.stats import kstest

    keys = np.arange(50_000, dtype=np.float64) / 2**32  # consecutive, deliberately not random keys
    draws = uniforms_from_cell_keys(keys, "stock by nationality")
    assert ((draws >= 0) & (draws < 1)).all()
    assert kstest(draws, "uniform").pvalue > 0.001
    p = 1 / 3
    band = Z_999 * 3 * math.sqrt(p * (1 - p) / draws.size)
    assert abs(random_round(np.full(draws.size, 7), uniforms=draws).mean() - 7) <= band


@pytest.mark.parametrize(
    ("description", "call", "says"),
    [
        ("base 1", lambda: random_round(np.array([1]), 1, uniforms=np.array([0.5])), "integer >= 2"),
        ("negative count", lambda: random_round(np.array([1, -4]), uniforms=np.array([0.5, 0.5])), "1 counts are"),
        ("draw of 1", lambda: random_round(np.array([1, 4]), uniforms=np.array([0.5, 1.0])), "1 uniform draws"),
        ("missing draw", lambda: random_round(np.array([1, 4]), uniforms=np.array([0.5])), "2 counts but 1"),
        ("float counts", lambda: random_round(np.array([1.5]), uniforms=np.array([0.5])), "must be integers"),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_bad_input_is_refused_without_its_values(description, call, says) -> None:
    with pytest.raises(DisclosureError) as caught:
        call()
    assert says in str(caught.value)
