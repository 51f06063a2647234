"""Perturbation tables for the cell key method: bounded, zero-mean noise for each original count.

A perturbation table holds, for each original count ``i``, a probability distribution over perturbations ``v``
with ``|v| <= D`` (the maximum deviation), mean 0 and variance at most ``V``. The perturbed count ``i + v`` is
never negative and never one of the blocked small values ``1..js``; a zero stays zero. Each row is laid out
as consecutive intervals ``[lower, upper)`` of ``[0, 1)``: a cell with count ``i`` and cell key ``ck`` gets the
``v`` whose interval in row ``i`` holds ``ck`` (see :mod:`privacy.disclosure.cellkey`).

The construction follows the R package ptable (Destatis; sdcTools/ptable 0.3.3, whose functions are named
below), which makes the tables Tau-Argus and the R package cellKey read, as the ABS designed them (Marley and
Leaver 2011, Giessing 2016). Tables printed in ptable's vignette are reproduced in ``tests/privacy/test_cellkey.py``.

* ``pt_create_pParams``: rows are the counts ``0..ncat`` with ``ncat = D`` when nothing is blocked and
  ``ncat = D + js + 1`` otherwise; the last row is the first whose targets ``i-D..i+D`` are all allowed, and it
  serves every larger count ("symmetry").
* ``pt_create_pTable``: row 0 is ``v = 0`` with probability 1; row ``i`` has the targets
  ``j = max(i-D, 0)..i+D`` without the blocked ``1..js`` and ``v = j - i``; the cumulative sums of a row are
  its interval bounds ``p_int_ub`` (``p_int_lb`` is the previous bound).
* ``pt_optim_entropy`` (``optim = 1``, the default): each row maximizes the entropy ``-sum(p log p)`` subject
  to ``sum(p) = 1``, ``sum(p v) = 0``, ``sum(p v^2) <= V``, ``1e-8 <= p <= 1`` and, with ``mono``, probabilities
  that do not decrease from ``v = -D`` up to ``v = 0`` (``eval_g_mono``). It is solved here with SLSQP, the
  algorithm ptable asks nloptr for, then refined by Newton's method on the dual of the same problem so the
  probabilities are exact to rounding rather than to the solver's tolerance.

As in ptable the variance is a bound: where the support of a row is narrow the maximum-entropy distribution can
have a smaller variance than ``V`` (ptable reports it in ``empResults``; ``create_cnt_ptable(D = 2, V = 1)``
gives 0.932 for a count of 1, and so does :func:`build_ptable`). Where ptable differs or leaves things open:

* A blocked count ``i`` in ``1..js`` can only move to 0 or above ``js``; every zero-mean distribution there has
  a variance of at least ``i * (js + 1 - i)``. When that exceeds ``V`` (ptable exempts blocked rows from its
  variance check), the row is the only distribution with that least variance: ``-i`` or ``js + 1 - i``.
* A target that the constraints force to probability 0 (for ``D = js`` the count ``js + 1`` can only stay)
  is left out of the row instead of being given ptable's lower bound ``1e-8``, which would bias the row.
* Interval bounds are kept as computed (float64) instead of rounded to 8 digits for export, so every row's mean
  is 0 to rounding; :meth:`PerturbationTable.sha256` names the exact values a release used.
* Parameters no table can meet raise :class:`~privacy.disclosure.errors.PerturbationTableError`: ``js > D``
  (a count of 1 could only become 0), or ``V > D (D + 1) / 3``, the variance of the uniform distribution on
  ``-D..D``, beyond which the table for large counts cannot reach ``V``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from privacy.disclosure.errors import DisclosureError, PerturbationTableError

LOWER_BOUND = 1e-8  # ptable's epsilon: the least probability of a target that is allowed and not forced to 0
_TIE = 1e-7  # SLSQP's monotony constraints closer than this are taken as active when refining
_HASH_LABEL = b"migralink.ptable.v1\n"


@dataclass(frozen=True, eq=False)
class PerturbationTable:
    """A perturbation table: for each original count ``i`` in ``0..len(values)-1`` the perturbations and bounds.

    Row ``i`` serves the count ``i``; the last row serves every larger count too. ``values[i]`` holds the
    perturbations of row ``i`` in increasing order, ``upper[i]`` the upper bounds of their intervals in
    ``[0, 1)``, increasing and ending at exactly 1.0. The arrays are read-only.

    Attributes:
        max_deviation: D, the largest absolute perturbation.
        variance: V, the bound on each row's variance.
        block_small: js; the perturbed counts ``1..js`` never occur.
        values: per row, the perturbations ``v`` (int64).
        upper: per row, the cumulative upper bounds ``p_int_ub`` (float64).
        mono: whether probabilities were made non-decreasing from ``-D`` to 0 (ptable's ``mono``).
    """

    max_deviation: int
    variance: float
    block_small: int
    values: tuple[np.ndarray, ...]
    upper: tuple[np.ndarray, ...]
    mono: bool = True

    def __post_init__(self) -> None:
        if len(self.values) != len(self.upper) or not self.values:
            raise DisclosureError("a perturbation table needs as many rows of bounds as of values, and one row")
        for i, (v, ub) in enumerate(zip(self.values, self.upper, strict=True)):
            if v.shape != ub.shape or v.ndim != 1 or v.size == 0:
                raise DisclosureError(f"row {i} of the perturbation table has mismatched values and bounds")
            if np.any(np.diff(v) <= 0) or np.any(np.diff(ub) < 0) or ub[0] < 0 or ub[-1] != 1.0:
                raise DisclosureError(f"row {i} of the perturbation table is not ordered or does not end at 1")
            v.flags.writeable = False
            ub.flags.writeable = False

    @property
    def last_row(self) -> int:
        """The count whose row also serves every larger count (ptable's symmetry row)."""
        return len(self.values) - 1

    def probabilities(self, i: int) -> np.ndarray:
        """The probabilities of row ``i``: the widths of its intervals."""
        ub = self.upper[min(i, self.last_row)]
        return np.diff(ub, prepend=0.0)

    def perturbation(self, counts: np.ndarray, cell_keys: np.ndarray) -> np.ndarray:
        """The perturbation of each cell: the ``v`` whose interval in the row of its count holds its cell key.

        Args:
            counts: original counts (integers >= 0).
            cell_keys: the cells' keys in ``[0, 1)``, same shape as ``counts``.

        Returns:
            int64 perturbations, same shape; ``counts + result`` is the published count.

        Raises:
            DisclosureError: counts that are not integers or negative, keys outside ``[0, 1)``, or shapes that
                differ. The message gives how many cells, never their values.
        """
        counts = np.asarray(counts)
        keys = np.asarray(cell_keys, dtype=np.float64)
        if counts.shape != keys.shape:
            raise DisclosureError(f"{counts.size} counts but {keys.size} cell keys; give one key per cell")
        if counts.dtype.kind not in "iu":
            raise DisclosureError(f"counts must be integers, not {counts.dtype}")
        if (negative := int(np.count_nonzero(counts < 0))) > 0:
            raise DisclosureError(f"{negative} counts are negative; counts must be >= 0")
        if (outside := int(np.count_nonzero(~((keys >= 0.0) & (keys < 1.0))))) > 0:
            raise DisclosureError(f"{outside} cell keys are outside [0, 1)")
        rows = np.minimum(counts, self.last_row)
        out = np.zeros(counts.shape, dtype=np.int64)
        for i in range(1, self.last_row + 1):  # row 0 is v = 0
            cells = rows == i
            if not cells.any():
                continue
            position = np.searchsorted(self.upper[i], keys[cells], side="right")
            out[cells] = self.values[i][np.minimum(position, self.values[i].size - 1)]
        return out

    def rows(self) -> list[tuple[int, int, float]]:
        """The table for display: ``(i, v, p)`` for every count ``i`` and perturbation ``v`` it can get."""
        return [
            (i, int(v), float(p))
            for i, values in enumerate(self.values)
            for v, p in zip(values, self.probabilities(i), strict=True)
        ]

    def row_moments(self) -> list[tuple[int, float, float, float]]:
        """Per row ``(i, mean, variance, p_stay)`` of the perturbation, as ptable's ``empResults`` shows them."""
        out = []
        for i, v in enumerate(self.values):
            p = self.probabilities(i)
            stay = float(p[v == 0].sum())
            out.append((i, float(p @ v), float(p @ (v * v)), stay))
        return out

    def sha256(self) -> str:
        """SHA-256 of the table's values and bounds (little-endian int64 and float64), naming the exact table."""
        digest = hashlib.sha256(_HASH_LABEL)
        for i, (v, ub) in enumerate(zip(self.values, self.upper, strict=True)):
            digest.update(np.array([i, v.size], dtype="<i8").tobytes())
            digest.update(v.astype("<i8").tobytes())
            digest.update(ub.astype("<f8").tobytes())
        return digest.hexdigest()

    def as_dict(self) -> dict[str, object]:
        """The table's entry for a release manifest: its parameters and the SHA-256 of its values."""
        return {
            "method": "cell key perturbation table (ptable, maximum entropy)",
            "max_deviation": self.max_deviation,
            "variance": self.variance,
            "block_small": self.block_small,
            "mono": self.mono,
            "rows": len(self.values),
            "sha256": self.sha256(),
        }


def build_ptable(max_deviation: int, variance: float, block_small: int = 0, *, mono: bool = True) -> PerturbationTable:
    """Build the perturbation table for counts with maximum deviation D, variance V and blocked values ``1..js``.

    Args:
        max_deviation: D >= 1, the largest absolute perturbation.
        variance: V > 0, the bound on each row's variance; the rows of larger counts reach it (see the module).
        block_small: js >= 0; no perturbed count is in ``1..js`` (2 keeps every 1 and 2 out of a release).
        mono: make probabilities non-decreasing from ``v = -D`` to ``v = 0`` (ptable's default).

    Returns:
        The table, rows ``0..D`` when ``js = 0`` and ``0..D+js+1`` otherwise.

    Raises:
        PerturbationTableError: no table meets the parameters; one line naming them and what to change.

    Examples:
        >>> table = build_ptable(2, 1.0, 2)
        >>> table.last_row, table.row_moments()[0]
        (5, (0, 0.0, 0.0, 1.0))
    """

    def fail(reason: str) -> PerturbationTableError:
        return PerturbationTableError(
            f"no perturbation table with max_deviation={max_deviation!r}, variance={variance!r}, "
            f"block_small={block_small!r}: {reason}",
            max_deviation=max_deviation,
            variance=variance,
            block_small=block_small,
        )

    if isinstance(max_deviation, bool) or not isinstance(max_deviation, int) or max_deviation < 1:
        raise fail("max_deviation must be an integer >= 1")
    if isinstance(block_small, bool) or not isinstance(block_small, int) or block_small < 0:
        raise fail("block_small must be an integer >= 0")
    if isinstance(variance, bool) or not isinstance(variance, int | float) or not 0 < variance < math.inf:
        raise fail("the variance must be a number > 0")
    variance = float(variance)
    if block_small > max_deviation:
        raise fail("a count of 1 could only become 0; block_small must be <= max_deviation")
    widest = max_deviation * (max_deviation + 1) / 3
    if variance > widest * (1 + 1e-12):
        raise fail(f"the variance exceeds D(D+1)/3 = {widest:g}, the most a row reaches; lower it or raise D")

    last = max_deviation if block_small == 0 else max_deviation + block_small + 1
    values: list[np.ndarray] = [np.zeros(1, dtype=np.int64)]
    upper: list[np.ndarray] = [np.ones(1)]
    for i in range(1, last + 1):
        v, p = _row(i, max_deviation, variance, block_small, mono, fail)
        keep = p > 0
        v, p = v[keep], p[keep]
        ub = np.cumsum(p)
        ub[-1] = 1.0
        values.append(v.astype(np.int64))
        upper.append(ub)
    return PerturbationTable(max_deviation, variance, block_small, tuple(values), tuple(upper), mono)


def row_targets(i: int, max_deviation: int, block_small: int) -> np.ndarray:
    """The perturbations row ``i`` may use: ``j - i`` for ``j = max(i-D, 0)..i+D`` without ``1..js``."""
    j = np.arange(max(i - max_deviation, 0), i + max_deviation + 1)
    j = j[(j == 0) | (j > block_small)]
    return (j - i).astype(np.float64)


def _row(
    i: int, d: int, variance: float, js: int, mono: bool, fail: Callable[[str], PerturbationTableError]
) -> tuple[np.ndarray, np.ndarray]:
    """Perturbations and probabilities of row ``i >= 1``."""
    v = row_targets(i, d, js)
    if not (v < 0).any() or not (v > 0).any():
        if (v == 0).any():  # only one side can be reached: a zero mean leaves the count where it is
            return np.zeros(1), np.ones(1)
        raise fail(f"a count of {i} cannot get a zero-mean perturbation")
    if not (v == 0).any():  # a blocked count: only -i (to 0) lies below, the least move up is u
        u = float(v[v > 0].min())
        least = i * u  # every zero-mean distribution here has variance >= i * u; only {-i, u} reaches it
        if variance <= least * (1 + 1e-12):
            return np.array([-float(i), u]), np.array([u / (i + u), i / (i + u)])
    p = _max_entropy(v, variance, mono)
    if p is None:
        raise fail(f"the solver found no distribution for a count of {i}")
    refined = _refine(v, p, variance, mono)
    p = _project(v, refined if refined is not None else p)
    if abs(p.sum() - 1) > 1e-12 or abs(p @ v) > 1e-12 or p @ (v * v) > variance + 1e-9 or (p < 0).any():
        raise fail(f"the distribution for a count of {i} misses its constraints")
    return v, p


def _mono_matrix(v: np.ndarray) -> np.ndarray:
    """Rows ``p[k+1] - p[k]`` (to be >= 0) for the targets from ``-D`` up to ``v = 0`` (ptable's eval_g_mono)."""
    zero = int(np.flatnonzero(v == 0)[0]) if (v == 0).any() else 0
    m = np.zeros((zero, v.size))
    for k in range(zero):
        m[k, k], m[k, k + 1] = -1.0, 1.0
    return m


def _max_entropy(v: np.ndarray, bound: float, mono: bool) -> np.ndarray | None:
    """ptable's pt_optim_entropy (optim 1) with SLSQP: the maximum-entropy row, or None when SLSQP finds none."""
    from scipy.optimize import minimize

    n = v.size
    v2 = v * v
    equal = np.vstack([np.ones(n), v])
    constraints = [
        {"type": "eq", "fun": lambda x: equal @ x - np.array([1.0, 0.0]), "jac": lambda x: equal},
        {"type": "ineq", "fun": lambda x: np.array([bound - x @ v2]), "jac": lambda x: -v2[None, :]},
    ]
    m = _mono_matrix(v)
    if mono and m.size:
        constraints.append({"type": "ineq", "fun": lambda x: m @ x, "jac": lambda x: m})
    result = minimize(
        lambda x: float(x @ np.log(x)),
        np.ones(n),  # ptable's starting point
        jac=lambda x: np.log(x) + 1.0,
        method="SLSQP",
        bounds=[(LOWER_BOUND, 1.0)] * n,
        constraints=constraints,
        options={"ftol": 1e-12, "maxiter": 2000},
    )
    x = np.asarray(result.x, dtype=np.float64)
    # status 8 ("positive directional derivative") is SLSQP stopping at the limit of its precision
    stopped = result.success or result.status == 8
    feasible = abs(x.sum() - 1) < 1e-9 and abs(x @ v) < 1e-9 and x @ v2 <= bound + 1e-9 and (x > 0).all()
    return x if stopped and feasible else None


def _entropy(p: np.ndarray) -> float:
    q = p[p > 0]
    return float(-(q @ np.log(q)))


def _refine(v: np.ndarray, p0: np.ndarray, bound: float, mono: bool) -> np.ndarray | None:
    """The exact optimum on the face SLSQP found: Newton's method on the dual, or None if that face is not it.

    With the active constraints known (targets held at the lower bound, the variance bound, ties
    ``p[k] = p[k+1]`` of the monotony condition), the other targets' probabilities are proportional to
    ``exp(l1 a1_g + l2 a2_g)`` on groups ``g`` of tied targets, ``a1_g`` and ``a2_g`` being the group's mean
    ``v`` and ``v^2``; ``(l1, l2)`` minimize the convex ``log Z(l) - l . t``, ``t`` the mean and variance left
    to the free targets (``l1`` alone when the variance bound is slack).
    """
    v2 = v * v
    held = p0 < 2 * LOWER_BOUND
    free = np.flatnonzero(~held)
    mass = 1.0 - LOWER_BOUND * held.sum()
    group = free.copy()
    m = _mono_matrix(v)
    if mono:
        for k in range(m.shape[0]):
            if not held[k] and not held[k + 1] and p0[k + 1] - p0[k] < _TIE:
                group[free == k + 1] = group[free == k]
    labels, members = np.unique(group, return_counts=True)
    weight = members.astype(np.float64)
    features = [np.array([v[free][group == g].mean() for g in labels])]
    target = [-LOWER_BOUND * v[held].sum() / mass]
    if bound - p0 @ v2 < 1e-9:
        features.append(np.array([v2[free][group == g].mean() for g in labels]))
        target.append((bound - LOWER_BOUND * v2[held].sum()) / mass)
    a = np.vstack(features)
    t = np.array(target)
    lam = np.zeros(a.shape[0])

    def spread(lam: np.ndarray) -> np.ndarray:
        s = lam @ a
        w = weight * np.exp(s - s.max())
        return w / w.sum()

    def dual(lam: np.ndarray) -> float:
        s = lam @ a
        return float(s.max() + np.log(weight @ np.exp(s - s.max())) - lam @ t)

    for _ in range(100):
        q = spread(lam)
        mean = a @ q
        grad = mean - t
        if np.abs(grad).max() < 1e-16:
            break
        centred = a - mean[:, None]
        step = np.linalg.lstsq((centred * q) @ centred.T, grad, rcond=None)[0]
        size, now = 1.0, dual(lam)
        while size > 1e-6 and dual(lam - size * step) > now:
            size /= 2
        lam = lam - size * step
    p = np.full(v.size, LOWER_BOUND)
    p[free] = mass * (spread(lam) / weight)[np.searchsorted(labels, group)]
    feasible = (
        abs(p.sum() - 1) < 1e-13
        and abs(p @ v) < 1e-13
        and p @ v2 <= bound + 1e-12
        and (p >= LOWER_BOUND * (1 - 1e-9)).all()
        and (not mono or not m.size or (m @ p >= -1e-15).all())
    )
    return p if feasible and _entropy(p) >= _entropy(p0) - 1e-9 else None


def _project(v: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The nearest point to ``p`` with ``sum(p) = 1`` and ``sum(p v) = 0``: removes what the solvers leave (~1e-10)."""
    a = np.vstack([np.ones(v.size), v])
    residual = a @ p - np.array([1.0, 0.0])
    return p - a.T @ np.linalg.solve(a @ a.T, residual)
