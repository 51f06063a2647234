"""Differential privacy: OpenDP's discrete Laplace noise on counts, exact budget accounting per purpose and period."""

from __future__ import annotations

import datetime as dt
import doctest
import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from privacy.disclosure import dp
from privacy.disclosure.dp import (
    BudgetExceeded,
    BudgetLedger,
    MechanismError,
    count_mechanism,
    exact_epsilon,
    noisy_counts,
    period_key,
    release_noisy_counts,
    spent_epsilon,
)
from privacy.disclosure.errors import DisclosureError


def test_the_docstring_examples_hold() -> None:
    assert doctest.testmod(dp).failed == 0


@pytest.mark.parametrize("epsilon", [0.1, 0.3, 0.7, 1.0, 2.5, "0.05", Decimal("0.123456789"), Fraction(1, 3)])
@pytest.mark.parametrize("sensitivity", [1, 3, 12])
def test_the_mechanism_spends_the_configured_epsilon_never_more(epsilon: object, sensitivity: int) -> None:
    configured = exact_epsilon(epsilon)  # type: ignore[arg-type]
    mechanism = count_mechanism(epsilon, sensitivity=sensitivity)  # type: ignore[arg-type]
    spent = spent_epsilon(mechanism, sensitivity)
    assert Fraction(spent) <= configured
    assert math.isclose(spent, float(configured), rel_tol=1e-12)


def test_noisy_counts_are_non_negative_integers_of_the_same_shape() -> None:
    counts = np.array([[0, 1, 2, 500], [3, 0, 0, 40]])
    noisy = noisy_counts(counts, 0.5)
    assert noisy.shape == counts.shape and noisy.dtype == np.int64
    assert noisy.min() >= 0
    assert noisy_counts(np.array([], dtype=np.int64), 1.0).shape == (0,)


def test_the_noise_is_centred_with_the_discrete_laplace_variance() -> None:
    """20,000 draws on a large count (no clamping): mean error near 0, variance within 10% of the exact one."""
    epsilon, sensitivity = 0.5, 1
    scale = sensitivity / epsilon
    draws = noisy_counts(np.full(20_000, 10_000), epsilon, sensitivity=sensitivity) - 10_000
    q = math.exp(-1 / scale)
    variance = 2 * q / (1 - q) ** 2  # discrete Laplace with parameter exp(-1/scale)
    assert abs(draws.mean()) < 5 * math.sqrt(variance / draws.size)
    assert abs(draws.var() / variance - 1) < 0.10


def test_a_larger_sensitivity_means_more_noise_for_the_same_epsilon() -> None:
    counts = np.full(5_000, 1_000)
    narrow = noisy_counts(counts, 1.0, sensitivity=1) - 1_000
    wide = noisy_counts(counts, 1.0, sensitivity=4) - 1_000
    assert wide.std() > 3 * narrow.std()


@pytest.mark.parametrize(
    ("counts", "epsilon", "sensitivity", "message"),
    [
        (np.array([1, -2]), 1.0, 1, "non-negative integers"),
        (np.array([1.5, 2.0]), 1.0, 1, "non-negative integers"),
        (np.array([1, 2]), 0, 1, "greater than 0"),
        (np.array([1, 2]), -0.5, 1, "greater than 0"),
        (np.array([1, 2]), float("nan"), 1, "decimal number"),
        (np.array([1, 2]), "a lot", 1, "decimal number"),
        (np.array([1, 2]), 1.0, 0, "sensitivity"),
        (np.array([1, 2]), 1.0, 1.5, "sensitivity"),
    ],
    ids=["negative count", "fractional count", "zero epsilon", "negative epsilon", "nan", "words", "zero", "half"],
)
def test_bad_parameters_are_refused(counts: np.ndarray, epsilon: object, sensitivity: object, message: str) -> None:
    with pytest.raises(MechanismError, match=message):
        noisy_counts(counts, epsilon, sensitivity=sensitivity)  # type: ignore[arg-type]


def test_ten_releases_of_a_tenth_spend_a_budget_of_one_exactly() -> None:
    ledger = BudgetLedger.open("research", "2026-11", "1.0")
    for _ in range(10):
        ledger = ledger.charge(0.1)  # a float, read as the decimal the register wrote
    assert ledger.spent_total == 1 and ledger.remaining() == 0
    with pytest.raises(BudgetExceeded) as refused:
        ledger.charge("0.1")
    error = refused.value
    assert isinstance(error, DisclosureError)
    assert (error.purpose, error.period, error.spent, error.asked, error.budget) == (
        "research",
        "2026-11",
        Fraction(1),
        Fraction(1, 10),
        Fraction(1),
    )
    assert str(error) == (
        "privacy budget exceeded for purpose 'research', period 2026-11: spent 1, asked 0.1, budget 1; release refused"
    )
    assert "\n" not in str(error)


def test_a_charge_that_fits_exactly_is_allowed_and_one_a_hair_over_is_not() -> None:
    ledger = BudgetLedger.open("research", "2026", 0.3).charge(0.1).charge(0.2)
    assert ledger.remaining() == 0  # 0.1 + 0.2 is 0.3 here, unlike in floating point
    with pytest.raises(BudgetExceeded):
        BudgetLedger.open("research", "2026", "0.3").charge("0.3000000000001")


def test_charging_leaves_the_old_ledger_unchanged() -> None:
    ledger = BudgetLedger.open("research", "2026-11", Decimal("0.5"))
    charged = ledger.charge("0.25")
    assert ledger.spent == () and charged.spent == (Fraction(1, 4),)
    assert charged.purpose == "research" and charged.period == "2026-11"


def test_a_refused_release_draws_no_noise_and_keeps_the_ledger(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[object] = []
    monkeypatch.setattr(dp, "noisy_counts", lambda *args, **kwargs: drawn.append(args))
    ledger = BudgetLedger.open("research", "2026-11", "0.2").charge("0.15")
    with pytest.raises(BudgetExceeded):
        release_noisy_counts(ledger, np.array([5, 6]), "0.1")
    assert drawn == [] and ledger.spent_total == Fraction(15, 100)


def test_a_release_is_charged_and_returns_noisy_counts() -> None:
    ledger = BudgetLedger.open("research", "2026-11", "1")
    noisy, ledger = release_noisy_counts(ledger, np.array([100, 200, 0]), "0.4", sensitivity=2)
    assert noisy.shape == (3,) and noisy.min() >= 0
    assert ledger.spent == (Fraction(2, 5),) and ledger.remaining() == Fraction(3, 5)


def test_period_keys() -> None:
    assert period_key(dt.date(2026, 11, 30), "month") == "2026-11"
    assert period_key(dt.date(2026, 11, 30), "year") == "2026"
