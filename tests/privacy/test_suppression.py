"""Threshold and secondary suppression, proven by solving the intruder's LP on every released table."""

from __future__ import annotations

import doctest
import itertools

import numpy as np
import pytest

from privacy.disclosure import suppression
from privacy.disclosure.errors import DisclosureError
from privacy.disclosure.suppression import (
    LinearTable,
    Relation,
    SuppressionError,
    intruder_intervals,
    one_way_table,
    primary_suppress,
    protection_shortfalls,
    released_values,
    secondary_suppress,
    suppress,
    two_way_table,
)

THRESHOLD = 3
PROTECTION = 3


def assert_protected(table: LinearTable, result: suppression.SuppressionResult, threshold: int, level: int) -> None:
    """The intruder's LP: every withheld cell's interval holds its value and is at least ``level`` wide; a sensitive
    cell's reaches ``level`` above its value and ``min(level, value)`` below."""
    values = table.values
    lo, hi = intruder_intervals(table, result.suppressed)
    withheld = result.suppressed
    assert np.all(lo[withheld] <= values[withheld]) and np.all(values[withheld] <= hi[withheld])
    primary = result.primary
    assert np.array_equal(primary, (values > 0) & (values < threshold))
    assert np.all(hi[primary] >= values[primary] + level)
    assert np.all(lo[primary] <= values[primary] - np.minimum(level, values[primary]))
    assert np.all(hi[withheld] - lo[withheld] >= level)  # complements too
    if withheld.any():
        assert result.min_width >= level
    shown = released_values(table, result.suppressed)
    assert not np.any((shown >= 1) & (shown < threshold))


def random_interior(seed: int, rows: int = 15, cols: int = 12) -> np.ndarray:
    """Poisson counts of mixed sizes: rows of tiny, small, middling and large categories (many cells of 1 and 2)."""
    rng = np.random.default_rng(seed)
    means = rng.choice([0.3, 1.0, 2.0, 4.0, 15.0, 80.0], size=(rows, 1))
    return rng.poisson(means * rng.uniform(0.5, 1.5, size=(rows, cols)))


def three_way_table(values: np.ndarray) -> LinearTable:
    """A cube with every margin: interior cells sit in three relations, so its relations are not a network."""
    cube = values
    for axis in range(3):
        cube = np.concatenate([cube, cube.sum(axis=axis, keepdims=True)], axis=axis)
    index = np.arange(cube.size).reshape(cube.shape)
    relations = []
    for axis in range(3):
        moved = np.moveaxis(index, axis, -1)
        for line in moved.reshape(-1, moved.shape[-1]):
            relations.append(Relation(int(line[-1]), tuple(line[:-1].tolist())))
    return LinearTable(cube.ravel(), tuple(relations), cube.shape)


def test_the_docstring_examples_hold() -> None:
    assert doctest.testmod(suppression).failed == 0


def test_two_way_table_lays_out_margins_after_the_rows_and_columns() -> None:
    table = two_way_table(np.array([[1, 2, 3], [4, 5, 6]]))
    assert table.shape == (3, 4)
    assert table.values.reshape(table.shape).tolist() == [[1, 2, 3, 6], [4, 5, 6, 15], [5, 7, 9, 21]]
    assert len(table.relations) == 4 + 3
    assert not np.any(table.matrix @ table.values)


def test_a_stock_table_has_column_totals_only() -> None:
    table = two_way_table(np.array([[1, 2], [3, 4]]), row_totals=False)
    assert table.values.reshape(table.shape).tolist() == [[1, 2], [3, 4], [4, 6]]
    assert [r.total for r in table.relations] == [4, 5]


@pytest.mark.parametrize(
    ("values", "relations", "message"),
    [
        (np.array([1, -1, 0]), (Relation(2, (0, 1)),), "negative"),
        (np.array([1, 2, 4]), (Relation(2, (0, 1)),), "do not satisfy"),
        (np.array([1, 2, 3]), (Relation(3, (0, 1)),), "outside the table"),
        (np.array([1.0, 2.0, 3.0]), (Relation(2, (0, 1)),), "integers"),
    ],
    ids=["negative count", "relation does not hold", "index out of range", "not integers"],
)
def test_an_unusable_table_is_refused(values: np.ndarray, relations: tuple[Relation, ...], message: str) -> None:
    with pytest.raises(SuppressionError, match=message):
        LinearTable(values, relations, (values.size,))


def test_primary_suppression_takes_counts_from_one_to_below_the_threshold() -> None:
    table = one_way_table(np.array([0, 1, 2, 3, 4, 5]))
    assert primary_suppress(table, 3).astype(int).tolist() == [0, 1, 1, 0, 0, 0, 0]
    assert primary_suppress(table, 5).astype(int).tolist() == [0, 1, 1, 1, 1, 0, 0]
    assert not primary_suppress(table, 1).any()
    with pytest.raises(SuppressionError, match="threshold"):
        primary_suppress(table, 0)


HAND_EXAMPLES = [
    (
        "2x2: one small cell forces the other three interior cells",
        two_way_table(np.array([[1, 4], [6, 8]])),
        [[1, 1, 0], [1, 1, 0], [0, 0, 0]],
    ),
    (
        "nothing small: nothing withheld",
        two_way_table(np.array([[5, 4, 7], [6, 8, 3]])),
        [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
    ),
    (
        "one-way: the small month and the cheapest month that can fall by the protection level",
        one_way_table(np.array([5, 1, 7, 9])),
        [1, 1, 0, 0, 0],
    ),
    (
        "zeros are published, and cannot hide a small cell by falling",
        one_way_table(np.array([0, 2, 0, 4])),
        [0, 1, 0, 1, 0],
    ),
]


@pytest.mark.parametrize(("description", "table", "expected"), HAND_EXAMPLES, ids=[case[0] for case in HAND_EXAMPLES])
def test_hand_examples(description: str, table: LinearTable, expected: list) -> None:
    result = suppress(table, THRESHOLD, PROTECTION)
    assert result.suppressed.reshape(table.shape).astype(int).tolist() == expected
    assert_protected(table, result, THRESHOLD, PROTECTION)


def test_a_row_with_one_small_cell_is_hidden_within_its_row_and_column() -> None:
    table = two_way_table(np.array([[9, 1, 7, 8], [6, 5, 4, 9], [7, 8, 6, 5]]))
    result = suppress(table, THRESHOLD, PROTECTION)
    grid = result.suppressed.reshape(table.shape)
    assert grid[0, 1]
    assert grid[0].sum() >= 2 and grid[:, 1].sum() >= 2  # a lone withheld cell in a line is recovered by subtraction
    assert result.primary_count == 1 and result.secondary_count == 3
    assert_protected(table, result, THRESHOLD, PROTECTION)


def test_a_small_margin_is_withheld_with_its_only_cell() -> None:
    table = two_way_table(np.array([[0, 2, 0], [5, 6, 7], [8, 9, 10]]))
    result = suppress(table, THRESHOLD, PROTECTION)
    grid = result.suppressed.reshape(table.shape)
    assert grid[0, 1] and grid[0, 3]  # the cell and its row total (also 2)
    assert_protected(table, result, THRESHOLD, PROTECTION)


@pytest.mark.parametrize("seed", range(20))
def test_random_tables_leave_every_sensitive_cell_protected(seed: int) -> None:
    table = two_way_table(random_interior(seed))
    result = suppress(table, THRESHOLD, PROTECTION)
    assert result.primary_count > 0
    assert_protected(table, result, THRESHOLD, PROTECTION)


@pytest.mark.parametrize(("threshold", "level"), [(5, 3), (3, 1), (10, 5)])
def test_other_thresholds_and_protection_levels(threshold: int, level: int) -> None:
    for seed in (101, 102):
        table = two_way_table(random_interior(seed))
        assert_protected(table, suppress(table, threshold, level), threshold, level)


def test_the_protection_lp_protects_the_same_tables() -> None:
    for seed in (201, 202, 203):
        table = two_way_table(random_interior(seed, rows=8))
        result = suppress(table, THRESHOLD, PROTECTION, method="lp")
        assert_protected(table, result, THRESHOLD, PROTECTION)


def test_stock_and_one_way_tables() -> None:
    for seed in (301, 302):
        stock = two_way_table(random_interior(seed), row_totals=False)
        assert_protected(stock, suppress(stock, THRESHOLD, PROTECTION), THRESHOLD, PROTECTION)
        months = one_way_table(random_interior(seed, rows=1).ravel())
        assert_protected(months, suppress(months, THRESHOLD, PROTECTION), THRESHOLD, PROTECTION)


def test_a_table_that_is_not_a_network_is_protected_by_linear_programming() -> None:
    rng = np.random.default_rng(401)
    table = three_way_table(rng.poisson(2.5, size=(3, 4, 3)))
    assert table._network is None
    result = suppress(table, THRESHOLD, PROTECTION)
    assert_protected(table, result, THRESHOLD, PROTECTION)
    with pytest.raises(SuppressionError, match="not a network"):
        suppress(table, THRESHOLD, PROTECTION, method="network")


def test_fixed_cells_are_never_complements() -> None:
    table = two_way_table(random_interior(501))
    fixed = np.zeros(table.shape, dtype=bool)
    fixed[-1, :] = table.values.reshape(table.shape)[-1, :] >= THRESHOLD  # the month totals other tables publish
    result = suppress(table, THRESHOLD, PROTECTION, fixed=fixed)
    assert not np.any(result.suppressed & fixed.ravel())
    assert_protected(table, result, THRESHOLD, PROTECTION)


def test_a_cell_that_only_fixed_cells_could_protect_is_refused() -> None:
    table = one_way_table(np.array([1, 0, 2]))  # the 1 can only rise if others fall by 3: they hold 2
    fixed = np.array([False, False, False, True])
    with pytest.raises(SuppressionError, match="cannot be protected"):
        suppress(table, THRESHOLD, PROTECTION, fixed=fixed)
    with pytest.raises(SuppressionError, match="also marked as fixed"):
        secondary_suppress(table, primary_suppress(table, 3), PROTECTION, fixed=np.array([True, False, False, False]))


def test_a_pattern_that_fails_the_audit_is_never_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    table = two_way_table(np.array([[1, 4], [6, 8]]))
    monkeypatch.setattr(suppression, "secondary_suppress", lambda table, primary, *args, **kwargs: primary)
    with pytest.raises(SuppressionError, match="audit failed") as raised:
        suppress(table, THRESHOLD, PROTECTION)
    assert isinstance(raised.value, DisclosureError)
    assert "1 withheld cells" in str(raised.value)


def test_intruder_intervals_of_a_lone_cell_and_of_an_unbounded_one() -> None:
    table = one_way_table(np.array([4, 2, 9]))
    lo, hi = intruder_intervals(table, np.array([False, True, False, False]))
    assert (lo[1], hi[1]) == (2.0, 2.0)  # the total minus the rest
    assert (lo[0], hi[0]) == (4.0, 4.0)  # published cells are known
    lo, hi = intruder_intervals(table, np.array([False, True, False, True]))
    assert (lo[1], hi[1]) == (0.0, np.inf)
    lo, hi = intruder_intervals(table, np.array([True, True, False, False]), cells=[1])
    assert (lo[1], hi[1]) == (0.0, 6.0) and np.isnan(lo[0])
    with pytest.raises(SuppressionError, match="published"):
        intruder_intervals(table, np.array([True, True, False, False]), cells=[2])


def test_the_result_reports_information_loss() -> None:
    table = two_way_table(np.array([[1, 4], [6, 8]]))
    result = suppress(table, THRESHOLD, PROTECTION)
    assert (result.primary_count, result.secondary_count, result.suppressed_sum) == (1, 3, 19)
    assert result.min_width >= PROTECTION
    lo, hi = intruder_intervals(table, result.suppressed)
    assert (lo[0], hi[0]) == (0.0, 5.0)  # the 1 can be anything from 0 to 5
    empty = suppress(two_way_table(np.array([[5, 6], [7, 8]])), THRESHOLD, PROTECTION)
    assert empty.min_width == float("inf") and empty.secondary_count == 0


def test_a_bad_protection_level_or_mask_is_refused() -> None:
    table = one_way_table(np.array([1, 5]))
    with pytest.raises(SuppressionError, match="protection level"):
        secondary_suppress(table, primary_suppress(table, 3), 0)
    with pytest.raises(SuppressionError, match="mask has 2 cells"):
        secondary_suppress(table, np.array([True, False]), 3)


def test_small_tables_against_brute_force() -> None:
    """On small tables the LP's intervals equal what enumerating every consistent integer table finds."""
    rng = np.random.default_rng(601)
    checked = 0
    while checked < 8:
        table = two_way_table(rng.integers(0, 4, size=(2, 3)))
        result = suppress(table, THRESHOLD, PROTECTION)
        withheld = np.flatnonzero(result.suppressed)
        bound = int(table.values.max())  # no cell of a consistent table exceeds the grand total
        if withheld.size == 0 or (bound + 1) ** withheld.size > 200_000:
            continue
        lo, hi = intruder_intervals(table, result.suppressed)
        guesses = np.array(list(itertools.product(range(bound + 1), repeat=withheld.size)))
        candidates = np.tile(table.values, (len(guesses), 1))
        candidates[:, withheld] = guesses
        found = guesses[~np.any(candidates @ table.matrix.T.toarray(), axis=1)]
        assert np.array_equal(lo[withheld], found.min(axis=0))
        finite = np.isfinite(hi[withheld])  # an unbounded cell is cut off at the enumeration's bound
        assert np.array_equal(hi[withheld][finite], found.max(axis=0)[finite])
        checked += 1


def test_protection_shortfalls_agree_with_the_exact_intervals() -> None:
    """The audit with fewer LPs gives the verdict of the exact intervals on the sensitive cells: on patterns that
    protect (secondary suppression) and on patterns that do not (primary cells only, or some complements dropped)."""
    rng = np.random.default_rng(77)
    shortfalls_seen = 0
    for seed in range(12):
        table = two_way_table(random_interior(seed, rows=6, cols=5))
        primary = primary_suppress(table, THRESHOLD)
        full = secondary_suppress(table, primary, PROTECTION)
        thinned = full & (primary | (rng.random(table.size) < 0.5))  # some complements published again
        for mask in (primary, full, thinned):
            lo, hi = intruder_intervals(table, mask)
            values = table.values
            exact = primary & ((hi < values + PROTECTION) | (lo > values - np.minimum(PROTECTION, values)))
            assert protection_shortfalls(table, mask, primary, PROTECTION) == int(exact.sum())
            shortfalls_seen += int(exact.sum())
    assert shortfalls_seen > 0  # the weak patterns were caught, not only the good ones passed
    with pytest.raises(SuppressionError, match="published"):
        protection_shortfalls(table, np.zeros(table.size, dtype=bool), primary | ~primary, PROTECTION)
