"""Differential privacy for count tables: noisy counts from OpenDP and an exact privacy-loss budget per purpose.

* :func:`noisy_counts` adds discrete Laplace (geometric) noise from OpenDP to the cells of one table, then
  clamps them at zero. Clamping is post-processing: it costs no privacy, but it biases the smallest cells upwards.
* :class:`BudgetLedger` is the budget of one purpose for one period (``"2026-11"`` or ``"2026"``): every release
  is charged before its noise is drawn, and a release that would exceed the budget is refused with
  :class:`BudgetExceeded`. Epsilons are kept as exact fractions of their decimal spelling (``0.1`` is 1/10), so
  ten releases of 0.1 spend a budget of 1.0 exactly. A ledger is an immutable value: the caller stores each new
  one (e.g. in the release ledger) and passes it to the next release.
* :func:`release_noisy_counts` does both, in that order.

Sensitivity. The privacy unit is one person, added or removed. ``sensitivity`` is the most the cells of one table
can change in total (L1) for one person: in a breakdown where each person counts once, 1; where a person can
count several times (several crossings in a year, in several months), the caller must cap each person's
contributions at some ``k`` before counting and pass ``sensitivity=k``. Release the interior cells only and
compute margins by adding the noisy cells (post-processing, free); a margin released with its cells counts
each person twice and doubles the sensitivity. The epsilon a release spends is the one OpenDP's privacy map gives
for that sensitivity, never more than the configured epsilon.

OpenDP draws from the operating system's secure random source; there is no seed.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Literal

import numpy as np

from privacy.disclosure.errors import DisclosureError

if TYPE_CHECKING:
    from opendp.mod import Measurement

Epsilon = Fraction | Decimal | str | int | float


class MechanismError(DisclosureError):
    """A noise mechanism was asked for with unusable parameters (epsilon, sensitivity or counts)."""


class BudgetExceeded(DisclosureError):
    """A release would spend more privacy-loss budget than the purpose has left for the period.

    Attributes:
        purpose: the purpose's id.
        period: the budget period's key.
        spent: epsilon already spent in the period.
        asked: epsilon the refused release would spend.
        budget: the period's budget.
    """

    def __init__(self, *, purpose: str, period: str, spent: Fraction, asked: Fraction, budget: Fraction) -> None:
        super().__init__(
            f"privacy budget exceeded for purpose {purpose!r}, period {period}: spent {_show(spent)}, "
            f"asked {_show(asked)}, budget {_show(budget)}; release refused"
        )
        self.purpose = purpose
        self.period = period
        self.spent = spent
        self.asked = asked
        self.budget = budget


def exact_epsilon(value: Epsilon) -> Fraction:
    """An epsilon as an exact fraction of its decimal spelling.

    A float is read as its shortest decimal spelling (``0.1`` is 1/10, as the register's TOML wrote it), a string or
    Decimal as written.

    Raises:
        MechanismError: not a finite number greater than zero.

    Example:
        >>> exact_epsilon(0.1) * 10 == 1
        True
    """
    try:
        exact = Fraction(repr(value)) if isinstance(value, float) else Fraction(value)
    except (ValueError, TypeError, ZeroDivisionError, OverflowError):
        raise MechanismError(f"epsilon must be a decimal number, not {value!r}") from None
    if exact <= 0:
        raise MechanismError(f"epsilon must be greater than 0, not {value!r}")
    return exact


def period_key(day: dt.date, period: Literal["month", "year"]) -> str:
    """The key of the budget period holding ``day``: ``"2026-11"`` for a month, ``"2026"`` for a year."""
    return f"{day:%Y-%m}" if period == "month" else f"{day:%Y}"


def count_mechanism(epsilon: Epsilon, *, sensitivity: int = 1) -> Measurement:
    """OpenDP's discrete Laplace mechanism on a vector of counts (i64, L1 distance) spending at most ``epsilon``.

    The scale is ``sensitivity / epsilon``, raised by the last bits of floating point where needed so that the
    mechanism's own privacy map, ``measurement.map(sensitivity)``, is never above the exact ``epsilon``.

    Args:
        epsilon: the privacy loss to spend.
        sensitivity: the L1 sensitivity of the counts for one person (see the module docstring).

    Returns:
        The measurement: call it with a list of ints.

    Raises:
        MechanismError: epsilon not above 0 or sensitivity below 1.
    """
    import opendp.prelude as dp

    exact = exact_epsilon(epsilon)
    if isinstance(sensitivity, bool) or not isinstance(sensitivity, int) or sensitivity < 1:
        raise MechanismError(f"sensitivity must be a whole number of at least 1, not {sensitivity!r}")
    dp.enable_features("contrib")
    space = dp.vector_domain(dp.atom_domain(T=dp.i64)), dp.l1_distance(T=dp.i64)
    scale = sensitivity / float(exact)
    for _ in range(64):
        measurement = dp.m.make_laplace(*space, scale=scale)
        if Fraction(measurement.map(sensitivity)) <= exact:
            return measurement
        scale = math.nextafter(scale, math.inf)
    raise MechanismError(f"no noise scale spends at most epsilon {_show(exact)} at sensitivity {sensitivity}")


def spent_epsilon(measurement: Measurement, sensitivity: int = 1) -> float:
    """The privacy loss ``measurement`` spends at ``sensitivity``, by OpenDP's privacy map."""
    return float(measurement.map(sensitivity))


def noisy_counts(counts: np.ndarray, epsilon: Epsilon, *, sensitivity: int = 1) -> np.ndarray:
    """The counts with discrete Laplace noise (OpenDP), clamped at zero.

    Args:
        counts: non-negative integer counts, any shape (the cells of one table; see the module docstring).
        epsilon: the privacy loss to spend on them.
        sensitivity: the L1 sensitivity for one person.

    Returns:
        Non-negative int64 counts of the same shape.

    Raises:
        MechanismError: counts that are not non-negative integers, or bad epsilon or sensitivity.
    """
    array = np.asarray(counts)
    if array.size and (not np.issubdtype(array.dtype, np.integer) or array.min() < 0):
        raise MechanismError("counts must be non-negative integers")
    measurement = count_mechanism(epsilon, sensitivity=sensitivity)
    if array.size == 0:
        return np.zeros(array.shape, dtype=np.int64)
    noisy = np.asarray(measurement(array.astype(np.int64).ravel().tolist()), dtype=np.int64)
    return np.maximum(noisy, 0).reshape(array.shape)


@dataclass(frozen=True)
class BudgetLedger:
    """The privacy-loss budget of one purpose for one period, and what releases have spent of it.

    Attributes:
        purpose: the purpose's id.
        period: the period's key (:func:`period_key`).
        budget: the period's budget (exact; see :func:`exact_epsilon`).
        spent: the epsilon of each release charged so far, in order.

    Example:
        >>> ledger = BudgetLedger.open("research", "2026-11", "1.0")
        >>> ledger.charge("0.25").charge(0.25).remaining()
        Fraction(1, 2)
    """

    purpose: str
    period: str
    budget: Fraction
    spent: tuple[Fraction, ...] = field(default=())

    @classmethod
    def open(cls, purpose: str, period: str, budget: Epsilon) -> BudgetLedger:
        """A ledger with nothing spent yet; ``budget`` as the register spells it (see :func:`exact_epsilon`)."""
        return cls(purpose, period, exact_epsilon(budget))

    def __post_init__(self) -> None:
        object.__setattr__(self, "budget", exact_epsilon(self.budget))
        object.__setattr__(self, "spent", tuple(exact_epsilon(epsilon) for epsilon in self.spent))

    @property
    def spent_total(self) -> Fraction:
        """Epsilon spent so far in the period."""
        return sum(self.spent, Fraction(0))

    def remaining(self) -> Fraction:
        """Epsilon left in the period."""
        return self.budget - self.spent_total

    def charge(self, epsilon: Epsilon) -> BudgetLedger:
        """The ledger after a release spending ``epsilon``.

        Raises:
            BudgetExceeded: the release would take the period past its budget (exact comparison; the ledger is
                unchanged).
            MechanismError: ``epsilon`` is not a number above 0.
        """
        asked = exact_epsilon(epsilon)
        if self.spent_total + asked > self.budget:
            raise BudgetExceeded(
                purpose=self.purpose, period=self.period, spent=self.spent_total, asked=asked, budget=self.budget
            )
        return BudgetLedger(self.purpose, self.period, self.budget, (*self.spent, asked))


def release_noisy_counts(
    ledger: BudgetLedger, counts: np.ndarray, epsilon: Epsilon, *, sensitivity: int = 1
) -> tuple[np.ndarray, BudgetLedger]:
    """Charge ``epsilon`` to the ledger, then draw the noisy counts: a refused release draws nothing.

    Returns:
        The noisy counts and the ledger to store in place of ``ledger``.

    Raises:
        BudgetExceeded: the period's budget would be exceeded.
        MechanismError: bad counts, epsilon or sensitivity.
    """
    charged = ledger.charge(epsilon)
    return noisy_counts(counts, epsilon, sensitivity=sensitivity), charged


def _show(value: Fraction) -> str:
    """A fraction as a decimal: exact when it has one, else to 12 significant digits."""
    decimal = Decimal(value.numerator) / Decimal(value.denominator)
    return f"{decimal.normalize():f}" if decimal * value.denominator == value.numerator else f"{float(value):.12g}"
