"""Threshold suppression of count tables, secondary suppression, and the intruder's audit of what was withheld.

A table is a vector of non-negative integer cells tied by additive relations (``total = sum(parts)``):
:class:`LinearTable`, built for the published tables by :func:`two_way_table` (categories by months with both
margins) and :func:`one_way_table` (months and the year).

* Primary suppression (:func:`primary_suppress`): every cell, margins included, holding 1 to ``threshold - 1``
  is sensitive. A zero is not: it is published (and a suppressed zero can only protect by going up).
* Secondary suppression (:func:`secondary_suppress`): further cells are withheld until, for every sensitive cell
  ``p`` of value ``a``, an intruder who knows every published cell, every relation and that cells are never
  negative can neither exclude ``a + protection_level`` (upper protection) nor ``a - min(protection_level, a)``
  (lower protection). The interval the intruder can narrow ``p`` to is therefore at least ``protection_level``
  wide, and reaches down to 0 for the smallest cells. Complements are not sensitive, but they too are left an
  interval at least ``protection_level`` wide, so that no withheld cell can be narrowed below it.
* The audit (:func:`intruder_intervals`) solves the intruder's linear programs, minimum and maximum of each
  withheld cell, with HiGHS; :func:`suppress` runs it on every withheld cell before anything is returned, and
  :func:`protection_shortfalls` gives its verdict on the sensitive cells alone, solving only the LPs it needs.

How complements are chosen. A deviation ``f`` (``f = 0`` on published cells, every relation still holding,
``x + f >= 0``) with ``f_p = +protection_level`` proves upper protection, one with ``f_p = -min(protection_level,
a)`` lower protection; so does any deviation reaching further, scaled down. A pattern that grows keeps every
deviation it had, so the proofs found so far are kept per cell and a cell already proven is skipped.

1. Sensitive cells often protect one another. A few LPs over the intruder's view of the primary pattern push all
   sensitive cells not yet proven up (or down) at once, with random weights; every table they find is a deviation.
2. For each sensitive cell and direction still short: when each cell sits in at most two relations (every table
   here), the relations are a network, cells are arcs between their two relations (or a relation and a free
   node), and a deviation is a cycle through ``p`` whose arcs may rise freely and may fall only where the cell
   holds enough. The cheapest cycle is found with Dijkstra's algorithm (cost ``1 + value`` per newly withheld
   cell, next to nothing for a cell already withheld) and its cells are withheld: small cells are preferred, and
   a zero costs like a cell holding ``protection_level`` because it can only help one way. Tables with cells in
   three or more relations solve the protection LP of Fischetti and Salazar instead (HiGHS).

Patterns are not minimal, but each is proven by the audit.

Limits: each table (one year of one measure by one dimension) is protected on its own. Cells released in
another table (e.g. the month totals that every breakdown shares) should be passed as ``fixed`` so they are
never chosen as complements; derived measures that are not counts (net migration) are out of scope and must be
withheld wherever one of their terms is. Since zeros are published, an intruder may guess that a withheld cell is
not zero (complements can be zeros, but rarely are); the intervals here are those of the LP, which does not.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import highspy
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from privacy.disclosure.errors import DisclosureError

# Cost of crossing a cell that is already withheld: enough to prefer short cycles, far below a new cell's 1.
_WITHHELD_COST = 1e-6
# Feasibility slack when reading the solver's interval bounds (values are whole counts).
_TOLERANCE = 1e-6
# Most LPs pushing many cells at once before cells are taken one by one: each shows how far many cells reach.
_PUSHES = 40

Method = Literal["auto", "network", "lp"]

# What :func:`secondary_suppress` and :func:`intruder_intervals` return for a given table: raised whenever either
# may return something else for the same input, so that patterns remembered from before (see
# :mod:`pipeline.publish.protect`) are found again only if these functions would still find them.
SUPPRESSION_VERSION = 1


class SuppressionError(DisclosureError):
    """A table cannot be suppressed as asked: bad table or parameters, or the cells that must stay published leave
    a sensitive cell unprotectable. The message names cell indices and counts, never cell values."""


@dataclass(frozen=True)
class Relation:
    """``values[total] == sum(values[parts])``."""

    total: int
    parts: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class LinearTable:
    """Non-negative integer cells tied by additive relations: what an intruder knows about a published table.

    Attributes:
        values: the true counts, one per cell (1-D, int64).
        relations: each says one cell is the sum of others.
        shape: the layout of the cells (``values.reshape(shape)``), e.g. ``(rows + 1, cols + 1)``.

    Raises:
        SuppressionError: a value is negative, an index is out of range, a total is among its own parts, or a
            relation does not hold on ``values``.
    """

    values: np.ndarray
    relations: tuple[Relation, ...]
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        values = np.asarray(self.values)
        if values.ndim != 1 or not np.issubdtype(values.dtype, np.integer):
            raise SuppressionError("a table's values must be a 1-D array of integers")
        if values.size and values.min() < 0:
            raise SuppressionError("a table's values must not be negative")
        if int(np.prod(self.shape)) != values.size:
            raise SuppressionError(f"shape {self.shape} does not hold {values.size} cells")
        object.__setattr__(self, "values", values.astype(np.int64))
        for k, relation in enumerate(self.relations):
            cells = (relation.total, *relation.parts)
            if not relation.parts or min(cells) < 0 or max(cells) >= values.size or relation.total in relation.parts:
                raise SuppressionError(f"relation {k} names a cell outside the table or a total among its parts")
        if self.relations and np.any(self.matrix @ self.values):
            raise SuppressionError("the table's values do not satisfy its relations")

    @property
    def size(self) -> int:
        """Number of cells."""
        return int(self.values.size)

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """The relations as a matrix ``A`` with ``A @ values == 0``: +1 for a total, -1 for its parts."""
        rows = [k for k, r in enumerate(self.relations) for _ in range(len(r.parts) + 1)]
        cols = [cell for r in self.relations for cell in (r.total, *r.parts)]
        data = [value for r in self.relations for value in (1, *([-1] * len(r.parts)))]
        return sp.csr_matrix((data, (rows, cols)), shape=(len(self.relations), self.size), dtype=np.int64)

    @cached_property
    def _network(self) -> _Network | None:
        return _as_network(self)


def two_way_table(values: np.ndarray, *, row_totals: bool = True) -> LinearTable:
    """A table of categories (rows) by months (columns) with its margins, as the intruder sees it.

    Layout: a grid of ``(rows + 1) x (cols + 1)`` cells, cell ``(r, c)`` at index ``r * (cols + 1) + c``. Row
    ``rows`` is the total over categories of each month (the published ``total`` row), column ``cols`` is each
    category's annual value (the sum of its months), and the last cell is the grand annual total. Relations:
    every row sums to its last cell and every column to its last cell. With ``row_totals=False`` (stocks, whose
    year is not the sum of its months) the grid is ``(rows + 1) x cols`` with the column totals only.

    Args:
        values: the interior counts, shape ``(rows, cols)``, non-negative integers.
        row_totals: whether to add the annual column.

    Returns:
        The table with its margins computed from ``values``.

    Example:
        >>> table = two_way_table(np.array([[1, 4], [6, 8]]))
        >>> table.values.reshape(table.shape).tolist()
        [[1, 4, 5], [6, 8, 14], [7, 12, 19]]
    """
    interior = np.asarray(values)
    if interior.ndim != 2 or 0 in interior.shape:
        raise SuppressionError("a two-way table needs a non-empty 2-D array of counts")
    rows, cols = interior.shape
    grid = np.vstack([interior, interior.sum(axis=0, keepdims=True)])
    if row_totals:
        grid = np.hstack([grid, grid.sum(axis=1, keepdims=True)])
    index = np.arange(grid.size).reshape(grid.shape)
    relations = [Relation(int(index[rows, c]), tuple(index[:rows, c].tolist())) for c in range(grid.shape[1])]
    if row_totals:
        relations += [Relation(int(index[r, cols]), tuple(index[r, :cols].tolist())) for r in range(rows + 1)]
    return LinearTable(grid.ravel(), tuple(relations), grid.shape)


def one_way_table(values: np.ndarray) -> LinearTable:
    """A breakdown and its total: cells ``0 .. n-1`` are the parts (e.g. months), cell ``n`` their sum (the year).

    Example:
        >>> one_way_table(np.array([3, 0, 5])).values.tolist()
        [3, 0, 5, 8]
    """
    parts = np.asarray(values)
    if parts.ndim != 1 or parts.size == 0:
        raise SuppressionError("a one-way table needs a non-empty 1-D array of counts")
    cells = np.append(parts, parts.sum())
    return LinearTable(cells, (Relation(parts.size, tuple(range(parts.size))),), (cells.size,))


def primary_suppress(table: LinearTable, threshold: int) -> np.ndarray:
    """The sensitive cells: counts from 1 to ``threshold - 1``, margins included (zeros are published).

    Args:
        table: the table.
        threshold: the smallest count that may be published (the register's; at least 3 for public purposes).

    Returns:
        A boolean mask over the cells.
    """
    if threshold < 1:
        raise SuppressionError(f"the threshold must be at least 1, not {threshold}")
    return (table.values > 0) & (table.values < threshold)


def secondary_suppress(
    table: LinearTable,
    primary: np.ndarray,
    protection_level: int,
    *,
    fixed: np.ndarray | None = None,
    method: Method = "auto",
) -> np.ndarray:
    """Withhold complementary cells until every primary cell is protected, and every complement left an interval
    at least ``protection_level`` wide (see the module docstring).

    Args:
        table: the table.
        primary: mask of the sensitive cells.
        protection_level: the narrowest interval the intruder may be left with (upper protection; the lower
            protection is ``min(protection_level, value)``).
        fixed: mask of cells that must stay published (released elsewhere); never chosen as complements.
        method: ``"network"`` (cheapest cycles; needs every cell in at most two relations), ``"lp"`` (one
            protection LP per sensitive cell and direction) or ``"auto"`` (network when possible).

    Returns:
        The mask of every withheld cell, primary cells included.

    Raises:
        SuppressionError: bad parameters, a primary cell that is also fixed, or no complement can protect a cell
            without withholding a fixed cell.
    """
    primary = _mask(table, primary, "primary")
    fixed = _mask(table, fixed, "fixed")
    if protection_level < 1:
        raise SuppressionError(f"the protection level must be at least 1, not {protection_level}")
    if np.any(primary & fixed):
        raise SuppressionError(f"{int(np.sum(primary & fixed))} primary cells are also marked as fixed")
    network = table._network
    if method == "network" and network is None:
        raise SuppressionError("the table's relations are not a network (a cell sits in more than two relations)")
    solver: _Protector = (
        _CycleProtector(table, network, fixed, protection_level)
        if network is not None and method != "lp"
        else _LpProtector(table, fixed, protection_level)
    )
    suppressed = primary.copy()
    reach = _Reach(table.values)
    if primary.any():  # sensitive cells often protect one another: tables the intruder cannot rule out show how far
        withheld = np.flatnonzero(primary)
        held = table.values[withheld].astype(float)
        lower = np.minimum(protection_level, held)
        for solution in _pushed_tables(
            _intruder_model(table, suppressed), lambda: reach.short(withheld, float(protection_level), lower)
        ):
            moved = np.abs(solution - held) > _TOLERANCE
            reach.add(withheld[moved], (solution - held)[moved])
    for p in sorted(np.flatnonzero(primary).tolist(), key=lambda cell: (-table.values[cell], cell)):
        for direction, amount in ((1, protection_level), (-1, min(protection_level, int(table.values[p])))):
            if not reach.covers(p, direction, amount):
                _withhold(solver, reach, suppressed, p, direction, amount)
    # A complement is not sensitive, but no withheld cell may be narrowed below the protection level either.
    short = [int(c) for c in np.flatnonzero(suppressed & ~primary) if reach.width(int(c)) < protection_level]
    while short:
        c = short.pop()
        if reach.width(c) < protection_level:
            before = suppressed.copy()
            falls = int(table.values[c]) >= protection_level
            _withhold(solver, reach, suppressed, c, 1, protection_level, fallback=-1 if falls else 0)
            short.extend(np.flatnonzero(suppressed & ~before).tolist())
    return suppressed


def _withhold(
    solver: _Protector,
    reach: _Reach,
    suppressed: np.ndarray,
    cell: int,
    direction: int,
    amount: int,
    *,
    fallback: int = 0,
) -> None:
    """Withhold the cells of a deviation moving ``cell`` by ``direction * amount`` (else ``fallback * amount``)."""
    deviation = solver.deviation(cell, direction, amount, suppressed)
    if deviation is None and fallback:
        deviation = solver.deviation(cell, fallback, amount, suppressed)
    if deviation is None:
        raise SuppressionError(f"cell {cell} cannot be protected without withholding a fixed cell")
    cells, moves = deviation
    suppressed[cells] = True
    reach.add(cells, moves)


def intruder_intervals(
    table: LinearTable, suppressed: np.ndarray, cells: Sequence[int] | np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The narrowest bounds an intruder can prove for withheld cells, by linear programming (HiGHS).

    The intruder knows every published cell, every relation and that no cell is negative; for each withheld cell
    asked about, one LP minimizes and one maximizes it over the withheld cells. Bounds are rounded inwards to
    whole counts (the intruder knows counts are integers; for network tables the LP bounds are already whole).

    Args:
        table: the table.
        suppressed: mask of the withheld cells.
        cells: the withheld cells to bound (default: all of them).

    Returns:
        ``(lo, hi)``, float arrays over all cells: a published cell's own value twice, ``hi = inf`` where nothing
        bounds a cell from above, NaN for withheld cells not asked about.
    """
    suppressed = _mask(table, suppressed, "suppressed")
    withheld = np.flatnonzero(suppressed)
    asked = withheld if cells is None else np.asarray(cells, dtype=np.int64)
    if asked.size and not np.all(suppressed[asked]):
        raise SuppressionError("intruder intervals are asked for a cell that is published")
    lo = table.values.astype(float)
    hi = lo.copy()
    lo[withheld] = hi[withheld] = np.nan
    if asked.size == 0:
        return lo, hi
    column = np.full(table.size, -1)
    column[withheld] = np.arange(withheld.size)
    highs = _intruder_model(table, suppressed)
    for cell in asked.tolist():
        j = int(column[cell])
        highs.changeColCost(j, 1.0)
        highs.changeObjectiveSense(highspy.ObjSense.kMinimize)
        lo[cell] = np.ceil(_solve(highs, minimize=True) - _TOLERANCE) + 0.0  # no -0.0
        highs.changeObjectiveSense(highspy.ObjSense.kMaximize)
        hi[cell] = np.floor(_solve(highs, minimize=False) + _TOLERANCE)
        highs.changeColCost(j, 0.0)
    return lo, hi


@dataclass(frozen=True)
class SuppressionResult:
    """A suppression pattern and its audit. Holds figures of the unprotected table: not for release.

    Attributes:
        suppressed: mask of every withheld cell.
        primary: mask of the sensitive cells.
        primary_count: sensitive cells withheld.
        secondary_count: complementary cells withheld.
        suppressed_sum: the sum of the withheld values (the information lost).
        min_width: the narrowest interval of a withheld cell the audit proved the intruder's LP reaches (at least
            the protection level; exact for cells the audit had to optimize; ``inf`` when nothing is withheld).
    """

    suppressed: np.ndarray
    primary: np.ndarray
    primary_count: int
    secondary_count: int
    suppressed_sum: int
    min_width: float


def suppress(
    table: LinearTable,
    threshold: int,
    protection_level: int,
    *,
    fixed: np.ndarray | None = None,
    method: Method = "auto",
) -> SuppressionResult:
    """Primary and secondary suppression of one table, audited by the intruder's LP before it is returned.

    Args:
        table: the table.
        threshold: counts from 1 to ``threshold - 1`` are withheld.
        protection_level: the narrowest interval the intruder may be left with for a withheld small count.
        fixed: cells that must stay published (see :func:`secondary_suppress`).
        method: see :func:`secondary_suppress`.

    Returns:
        The pattern, its information loss and the narrowest interval of a sensitive cell.

    Raises:
        SuppressionError: bad parameters, an unprotectable cell, or an audit that fails (some withheld cell can
            be narrowed below its protection; a pattern is never returned then).

    Example:
        >>> result = suppress(two_way_table(np.array([[1, 4], [6, 8]])), threshold=3, protection_level=3)
        >>> result.suppressed.reshape(3, 3).astype(int).tolist()
        [[1, 1, 0], [1, 1, 0], [0, 0, 0]]
    """
    primary = primary_suppress(table, threshold)
    suppressed = secondary_suppress(table, primary, protection_level, fixed=fixed, method=method)
    lo, hi = _audit(table, suppressed, primary, protection_level)
    values, sensitive = table.values[suppressed], primary[suppressed]
    short = (hi - lo < protection_level) | (sensitive & _unprotected(values, lo, hi, protection_level))
    if np.any(short):
        raise SuppressionError(f"audit failed: {int(short.sum())} withheld cells can be narrowed; nothing released")
    return SuppressionResult(
        suppressed=suppressed,
        primary=primary,
        primary_count=int(sensitive.sum()),
        secondary_count=int((~sensitive).sum()),
        suppressed_sum=int(values.sum()),
        min_width=float((hi - lo).min()) if values.size else float("inf"),
    )


def protection_shortfalls(
    table: LinearTable, suppressed: np.ndarray, sensitive: np.ndarray, protection_level: int
) -> int:
    """How many ``sensitive`` cells (all withheld) the intruder's LP can narrow below their protection: 0 when
    every one keeps it. The verdict of :func:`intruder_intervals` on those cells, with far fewer LPs: a bound is
    optimized only when the tables the LPs have shown so far do not already reach the protection (see
    :func:`_audit`); the complements' own width is not examined.

    Raises:
        SuppressionError: a sensitive cell that is published, or a mask of the wrong size.
    """
    suppressed = _mask(table, suppressed, "suppressed")
    sensitive = _mask(table, sensitive, "sensitive")
    if np.any(sensitive & ~suppressed):
        raise SuppressionError("protection is asked of a cell that is published")
    if not sensitive.any():
        return 0
    lo, hi = _audit(table, suppressed, sensitive, protection_level, complements=False)
    withheld = np.flatnonzero(suppressed)
    values, asked = table.values[withheld], sensitive[withheld]
    return int((asked & _unprotected(values, lo, hi, protection_level)).sum())


def _unprotected(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, protection_level: int) -> np.ndarray:
    """Where a sensitive cell's interval misses its upper protection (``value + protection_level``) or its lower
    one (``value - min(protection_level, value)``)."""
    return (hi < values + protection_level) | (lo > values - np.minimum(protection_level, values))


def released_values(table: LinearTable, suppressed: np.ndarray) -> np.ndarray:
    """The cells as published: the value, or NaN where withheld."""
    released = table.values.astype(float)
    released[_mask(table, suppressed, "suppressed")] = np.nan
    return released


def _audit(
    table: LinearTable,
    suppressed: np.ndarray,
    primary: np.ndarray,
    protection_level: int,
    *,
    complements: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """How far the intruder's LP lets each withheld cell go down and up, as far as the protection needs to know.

    Every LP solution is a table the intruder cannot rule out, so it shows how far every withheld cell reaches, not
    only the one optimized. LPs pushing every cell that is still short at once come first (:func:`_pushed_tables`);
    then a cell's minimum or maximum is solved only while the tables seen so far do not already reach its
    protection. The result is exact where a cell was optimized and otherwise a proven part of its interval.
    Without ``complements``, only the sensitive cells' protection is looked for (the complements' width is not).

    Returns:
        ``(lo, hi)`` over the withheld cells, in cell order.
    """
    withheld = np.flatnonzero(suppressed)
    values = table.values[withheld].astype(float)
    seen_lo, seen_hi = values.copy(), values.copy()  # the true table is one the intruder cannot rule out
    if withheld.size == 0:
        return seen_lo, seen_hi
    highs = _intruder_model(table, suppressed)
    sensitive = primary[withheld]
    up_target = values + protection_level - _TOLERANCE
    down_target = values - np.minimum(protection_level, values) + _TOLERANCE
    narrow = protection_level - _TOLERANCE

    def short() -> tuple[np.ndarray, np.ndarray]:
        up = np.where(sensitive, seen_hi < up_target, complements & (seen_hi - seen_lo < narrow))
        return up, sensitive & (seen_lo > down_target)

    for solution in _pushed_tables(highs, short):
        np.minimum(seen_lo, solution, out=seen_lo)
        np.maximum(seen_hi, solution, out=seen_hi)
    for j in range(withheld.size):
        for minimize in (False, True):
            if sensitive[j]:
                needed = seen_lo[j] > down_target[j] if minimize else seen_hi[j] < up_target[j]
            else:
                needed = complements and seen_hi[j] - seen_lo[j] < narrow
            if not needed:
                continue
            highs.changeColCost(j, 1.0)
            highs.changeObjectiveSense(highspy.ObjSense.kMinimize if minimize else highspy.ObjSense.kMaximize)
            optimum = _solve(highs, minimize=minimize)
            highs.changeColCost(j, 0.0)
            if np.isfinite(optimum):
                solution = np.asarray(highs.getSolution().col_value)
                np.minimum(seen_lo, solution, out=seen_lo)
                np.maximum(seen_hi, solution, out=seen_hi)
            (seen_lo if minimize else seen_hi)[j] = optimum
    return np.ceil(seen_lo - _TOLERANCE) + 0.0, np.floor(seen_hi + _TOLERANCE)


def _mask(table: LinearTable, mask: np.ndarray | None, name: str) -> np.ndarray:
    if mask is None:
        return np.zeros(table.size, dtype=bool)
    array = np.asarray(mask, dtype=bool).ravel()
    if array.size != table.size:
        raise SuppressionError(f"the {name} mask has {array.size} cells, the table {table.size}")
    return array


def _cost(table: LinearTable, protection_level: int) -> np.ndarray:
    """Cost of withholding each cell: ``1 + value``; a zero is priced like a cell holding the protection level."""
    values = table.values.astype(float)
    return 1.0 + np.where(values == 0, protection_level, values)


@dataclass(frozen=True)
class _Network:
    """Cells as arcs ``tail -> head`` between relations (node ``nodes - 1`` is free: it has no relation).

    The flow along an arc is ``y = sign * x``; every relation says the flows into its node equal the flows out.
    """

    tail: np.ndarray
    head: np.ndarray
    sign: np.ndarray
    nodes: int


def _as_network(table: LinearTable) -> _Network | None:
    """The table's relations as a network, or None when some cell sits in three or more relations or the
    relations' signs cannot be oriented (each cell must leave one of its relations and enter the other)."""
    matrix = table.matrix.tocsc()
    matrix.sort_indices()
    count = np.diff(matrix.indptr)
    if np.any(count > 2):
        return None
    relations, free = matrix.shape[0], matrix.shape[0]
    first, inside, pair = matrix.indptr[:-1], count > 0, count == 2
    head, tail = np.full(table.size, free), np.full(table.size, free)
    head_coefficient, tail_coefficient = np.ones(table.size, dtype=np.int64), np.ones(table.size, dtype=np.int64)
    head[inside], head_coefficient[inside] = matrix.indices[first[inside]], matrix.data[first[inside]]
    tail[pair], tail_coefficient[pair] = matrix.indices[first[pair] + 1], matrix.data[first[pair] + 1]
    # Orient each relation (multiply it by +1 or -1) so that a cell in two relations enters one and leaves the other.
    neighbours: list[list[tuple[int, int]]] = [[] for _ in range(relations)]
    for k, m, product in zip(
        head[pair].tolist(), tail[pair].tolist(), (-head_coefficient * tail_coefficient)[pair].tolist(), strict=True
    ):
        neighbours[k].append((m, product))
        neighbours[m].append((k, product))
    orientation = np.zeros(relations + 1, dtype=np.int64)
    orientation[free] = 1
    for start in range(relations):
        if orientation[start]:
            continue
        orientation[start] = 1
        queue = deque([start])
        while queue:
            k = queue.popleft()
            for m, product in neighbours[k]:
                wanted = orientation[k] * product
                if orientation[m] == 0:
                    orientation[m] = wanted
                    queue.append(m)
                elif orientation[m] != wanted:
                    return None
    return _Network(tail, head, orientation[head] * head_coefficient, relations + 1)


class _Reach:
    """How far each cell is already proven to move up and down: by the deviations found so far, each scaled as far
    as the cells it lowers allow, and reversed as far as the cells it raises allow. A pattern only grows, so a
    deviation stays valid."""

    def __init__(self, values: np.ndarray) -> None:
        self._values = values.astype(float)
        self._up = np.zeros(values.size)
        self._down = np.zeros(values.size)

    def covers(self, cell: int, direction: int, amount: int) -> bool:
        reach = self._up if direction > 0 else self._down
        return bool(reach[cell] >= amount - _TOLERANCE)

    def width(self, cell: int) -> float:
        """The width of the interval ``cell`` is proven to span (plus the tolerance)."""
        return float(self._up[cell] + self._down[cell]) + _TOLERANCE

    def short(self, cells: np.ndarray, up: float, down: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Masks over ``cells``: not yet proven to rise by ``up``, and not yet proven to fall by ``down``."""
        return self._up[cells] < up - _TOLERANCE, self._down[cells] < down - _TOLERANCE

    def add(self, cells: np.ndarray, moves: np.ndarray) -> None:
        rising, falling = moves > 0, moves < 0
        held = self._values[cells]
        forward = float(np.min(held[falling] / -moves[falling])) if falling.any() else np.inf
        backward = float(np.min(held[rising] / moves[rising])) if rising.any() else np.inf
        with np.errstate(invalid="ignore"):  # 0 * inf never happens: moves are non-zero
            up = np.where(rising, forward * moves, -backward * moves)
            down = np.where(rising, backward * moves, -forward * moves)
        np.maximum.at(self._up, cells, up)
        np.maximum.at(self._down, cells, down)


class _Protector:
    def deviation(
        self, p: int, direction: int, amount: int, suppressed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """A deviation moving ``p`` by ``direction * amount`` (its cells and their moves; every cell it moves must be
        withheld), preferring cells already withheld; None when the fixed cells leave none."""
        raise NotImplementedError


class _CycleProtector(_Protector):
    """Cheapest cycles in the residual network of the table's relations.

    A cell is an arc ``tail -> head``: moving ``y_i`` up sends flow along it, moving it down sends flow back. Cells
    joining the same two relations (the months of a one-way table) would be parallel arcs, which a sparse graph
    cannot hold: each of them gets a node of its own in the middle (``tail -> mid -> head``). A cell may fall only
    by what it holds. Cycles made of withheld cells are taken first, even when each carries only part of the
    amount; otherwise the cheapest cycle that carries the whole amount, else the cheapest that carries some.
    """

    def __init__(self, table: LinearTable, network: _Network, fixed: np.ndarray, protection_level: int) -> None:
        n, nodes = table.size, network.nodes
        ends = np.sort(np.stack([network.tail, network.head]), axis=0)
        _, group, group_size = np.unique(ends, axis=1, return_inverse=True, return_counts=True)
        split = group_size[group.ravel()] > 1
        mid = np.where(split, nodes + np.cumsum(split) - 1, -1)
        self._size = nodes + int(split.sum())
        cells = np.arange(n)
        whole, halves = cells[~split], cells[split]
        # Arcs: (from, to, cell, moves y up, carries the cell's cost).
        pieces = [
            (network.tail[whole], network.head[whole], whole, True, True),
            (network.head[whole], network.tail[whole], whole, False, True),
            (network.tail[halves], mid[halves], halves, True, True),
            (mid[halves], network.head[halves], halves, True, False),
            (network.head[halves], mid[halves], halves, False, True),
            (mid[halves], network.tail[halves], halves, False, False),
        ]
        source = np.concatenate([piece[0] for piece in pieces])
        target = np.concatenate([piece[1] for piece in pieces])
        cell = np.concatenate([piece[2] for piece in pieces])
        rise = np.concatenate([np.full(piece[2].size, piece[3]) for piece in pieces])
        first = np.concatenate([np.full(piece[2].size, piece[4]) for piece in pieces])
        usable = ~fixed[cell] & (network.tail[cell] != network.head[cell])
        arcs = np.flatnonzero(usable)[np.argsort(source[usable], kind="stable")]  # CSR order
        self._cell, self._rise, self._first = cell[arcs], rise[arcs], first[arcs]
        self._indices = target[arcs].astype(np.int32)
        self._indptr = np.concatenate([[0], np.cumsum(np.bincount(source[arcs], minlength=self._size))]).astype(
            np.int32
        )
        self._graph = sp.csr_matrix((np.ones(arcs.size), self._indices, self._indptr), shape=(self._size, self._size))
        by_cell = np.argsort(self._cell, kind="stable")
        self._arcs_of = np.split(by_cell, np.cumsum(np.bincount(self._cell, minlength=n))[:-1])
        self._arc_cell = {
            (int(a), int(b)): int(c)
            for a, b, c, f in zip(source[arcs], target[arcs], self._cell, self._first, strict=True)
            if f
        }
        # How far y may move: x rises with y when sign is +1, and x may fall only by what it holds.
        values = table.values.astype(float)
        self._rise_room = np.where(network.sign > 0, np.inf, values)
        self._fall_room = np.where(network.sign > 0, values, np.inf)
        self._network = network
        self._nodes = nodes
        self._cost = _cost(table, protection_level)
        self._weights: np.ndarray | None = None
        self._priced = np.zeros(n, dtype=bool)

    def _price(self, suppressed: np.ndarray) -> np.ndarray:
        """Arc weights: a cell's cost on the arc entering its own node, next to nothing once it is withheld."""
        if self._weights is None:
            cost = np.where(suppressed, _WITHHELD_COST, self._cost)
            self._weights = np.where(self._first, cost[self._cell], _WITHHELD_COST)
        else:
            for i in np.flatnonzero(suppressed & ~self._priced).tolist():
                arcs = self._arcs_of[i]
                self._weights[arcs[self._first[arcs]]] = _WITHHELD_COST
        self._priced = suppressed.copy()
        return self._weights

    def deviation(
        self, p: int, direction: int, amount: int, suppressed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray] | None:
        network = self._network
        tail, head = int(network.tail[p]), int(network.head[p])
        if tail == head:  # in no relation: it moves freely down to zero and up
            return np.array([p]), np.array([float(direction * amount)])
        # y_p moves by sign * direction * amount; the flow returns through the rest of the cycle.
        start, end = (head, tail) if network.sign[p] * direction > 0 else (tail, head)
        withheld = suppressed.copy()
        rise, fall = self._rise_room.copy(), self._fall_room.copy()
        flow = np.zeros(suppressed.size)  # change of y
        left = float(amount)
        while left > 0:
            weights = self._price(withheld).copy()
            weights[self._arcs_of[p]] = np.inf
            room = np.where(self._rise, rise[self._cell], fall[self._cell])
            whole, some = np.where(room >= left, weights, np.inf), np.where(room > 0, weights, np.inf)
            found = (
                self._cheapest_path(whole, start, end, withheld_only=True)
                or self._cheapest_path(some, start, end, withheld_only=True)
                or self._cheapest_path(whole, start, end)
                or self._cheapest_path(some, start, end)
            )
            if found is None:
                return None
            _, cells, rising = found
            part = min(left, float(np.min(np.where(rising, rise[cells], fall[cells]))))
            rise[cells] += np.where(rising, -part, part)
            fall[cells] += np.where(rising, part, -part)
            np.add.at(flow, cells, np.where(rising, part, -part))
            withheld[cells] = True
            left -= part
        flow[p] = network.sign[p] * direction * amount
        cells = np.flatnonzero(flow)
        return cells, network.sign[cells] * flow[cells]

    def _cheapest_path(
        self, weights: np.ndarray, start: int, end: int, *, withheld_only: bool = False
    ) -> tuple[float, np.ndarray, np.ndarray] | None:
        """The cost of the cheapest path from ``start`` to ``end``, its cells and whether each is crossed rising
        (None: no path; with ``withheld_only``, no path through withheld cells alone)."""
        self._graph.data = weights
        limit = 0.5 if withheld_only else np.inf
        distance, previous = dijkstra(self._graph, indices=start, return_predecessors=True, limit=limit)
        if not np.isfinite(distance[end]):
            return None
        cells: list[int] = []
        rising: list[bool] = []
        node = end
        while node != start:
            before = int(previous[node])
            if node < self._nodes:  # the arc into a relation node ends a cell's crossing
                cell = self._arc_cell.get((before, node))
                if cell is None:  # from a cell's middle node: the cell is the one that entered it
                    cell = self._arc_cell[(int(previous[before]), before)]
                cells.append(cell)
                rising.append(node == self._network.head[cell])
            node = before
        return float(distance[end]), np.asarray(cells, dtype=np.int64), np.asarray(rising, dtype=bool)


class _LpProtector(_Protector):
    """The protection LP: cheapest deviation ``f = up - down`` with ``A f = 0``, ``f_p`` fixed, ``down <= x``."""

    def __init__(self, table: LinearTable, fixed: np.ndarray, protection_level: int) -> None:
        n = table.size
        self._n = n
        cost = _cost(table, protection_level)
        upper = np.concatenate([np.where(fixed, 0.0, highspy.kHighsInf), np.where(fixed, 0.0, table.values)])
        rhs = np.zeros(len(table.relations))
        self._upper = upper
        self._highs = _highs(sp.hstack([table.matrix, -table.matrix]), np.concatenate([cost, cost]), upper, rhs)
        self._priced = np.zeros(n, dtype=bool)

    def deviation(
        self, p: int, direction: int, amount: int, suppressed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray] | None:
        highs, n = self._highs, self._n
        for i in np.flatnonzero(suppressed & ~self._priced).tolist():
            highs.changeColCost(i, _WITHHELD_COST)
            highs.changeColCost(n + i, _WITHHELD_COST)
        self._priced = suppressed.copy()
        moving, still = (p, n + p) if direction > 0 else (n + p, p)
        highs.changeColBounds(moving, float(amount), float(amount))
        highs.changeColBounds(still, 0.0, 0.0)
        highs.run()
        optimal = highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
        flow = np.asarray(highs.getSolution().col_value) if optimal else None
        for col in (p, n + p):
            highs.changeColBounds(col, 0.0, float(self._upper[col]))
        if flow is None:
            return None
        moves = flow[:n] - flow[n:]
        cells = np.flatnonzero(np.abs(moves) > _TOLERANCE)
        return cells, moves[cells]


def _highs(matrix: sp.sparray | sp.spmatrix, cost: np.ndarray, upper: np.ndarray, rhs: np.ndarray) -> highspy.Highs:
    """HiGHS holding ``min cost @ x`` subject to ``matrix @ x == rhs``, ``0 <= x <= upper``; quiet and set for many
    small re-solves (primal simplex from the previous basis, no presolve)."""
    columns = sp.csc_matrix(matrix, dtype=float)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = columns.shape[1], columns.shape[0]
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, np.zeros(columns.shape[1]), upper
    lp.row_lower_ = lp.row_upper_ = rhs
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = columns.indptr, columns.indices, columns.data
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("presolve", "off")
    highs.setOptionValue("simplex_strategy", 4)
    highs.passModel(lp)
    return highs


def _intruder_model(table: LinearTable, suppressed: np.ndarray) -> highspy.Highs:
    """The intruder's feasible tables: withheld cells free and non-negative, published cells at their values."""
    withheld = np.flatnonzero(suppressed)
    matrix = table.matrix
    known = -(matrix[:, ~suppressed] @ table.values[~suppressed]).astype(float)
    block = matrix[:, withheld].tocsr()
    touched = np.flatnonzero(np.diff(block.indptr) > 0)  # relations with a withheld cell
    size = withheld.size
    return _highs(block[touched], np.zeros(size), np.full(size, highspy.kHighsInf), known[touched])


def _pushed_tables(highs: highspy.Highs, short: Callable[[], tuple[np.ndarray, np.ndarray]]) -> Iterator[np.ndarray]:
    """Withheld values of tables the intruder cannot rule out, each the optimum of an LP that pushes up the cells
    ``short()`` says still need to be seen higher and down those that need to be seen lower.

    Weights are random (fixed seed) so that successive LPs favour different cells of a row. Stops when nothing is
    short, when an LP left as many cells short as before, or after ``_PUSHES`` LPs.
    """
    size = highs.getNumCol()
    everything = np.arange(size, dtype=np.int32)
    weights = np.random.default_rng(0)
    highs.changeObjectiveSense(highspy.ObjSense.kMaximize)
    before = None
    for _ in range(_PUSHES):
        up, down = short()
        left = int(up.sum() + down.sum())
        if left == 0 or (before is not None and left >= before):
            break
        before = left
        cost = weights.uniform(0.5, 1.5, size) * up - weights.uniform(0.5, 1.5, size) * down
        highs.changeColsCost(size, everything, cost)
        if np.isfinite(_solve(highs, minimize=False)):
            yield np.asarray(highs.getSolution().col_value)
    highs.changeColsCost(size, everything, np.zeros(size))


def _solve(highs: highspy.Highs, *, minimize: bool) -> float:
    """The optimum of the current objective; ``inf`` when a maximum is unbounded."""
    highs.run()
    status = highs.getModelStatus()
    if status == highspy.HighsModelStatus.kOptimal:
        return float(highs.getInfo().objective_function_value)
    unbounded = (highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible)
    if not minimize and status in unbounded:
        return float("inf")
    raise SuppressionError(f"the intruder's LP ended with status {highs.modelStatusToString(status)}")
