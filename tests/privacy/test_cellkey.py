"""Cell key method: perturbation tables (as ptable builds them), cell keys in DuckDB, perturbed counts."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from privacy.disclosure.cellkey import (
    KEY_SPACE,
    RECORD_KEY_SQL_TYPE,
    cell_keys,
    cell_keys_sql,
    new_record_keys,
    perturb_counts,
)
from privacy.disclosure.errors import DisclosureError, PerturbationTableError
from privacy.disclosure.ptable import PerturbationTable, build_ptable
from privacy.errors import PrivacyError

PARAMETERS = [(2, 1.0, 2), (2, 1.0, 0), (2, 1.08, 1), (5, 3.0, 2), (3, 1.5, 0), (4, 2.0, 3)]


@pytest.fixture(scope="module")
def table() -> PerturbationTable:
    """The default of a public purpose: D = 2, V = 1, no published 1 or 2."""
    return build_ptable(2, 1.0, 2)


def _random_cells(n: int, seed: int, largest: int = 30) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, largest + 1, n)
    keys = rng.integers(0, KEY_SPACE, n, dtype=np.uint64).astype(np.float64) / KEY_SPACE
    return counts, keys


# --- the perturbation table ---------------------------------------------------------------------------------


@pytest.mark.parametrize("params", PARAMETERS, ids=lambda p: "D{}-V{:g}-js{}".format(*p))
def test_every_row_is_a_zero_mean_distribution_within_d_that_avoids_blocked_values(params) -> None:
    d, v_max, js = params
    t = build_ptable(d, v_max, js)
    assert t.last_row == (d if js == 0 else d + js + 1)
    assert t.values[0].tolist() == [0] and t.upper[0].tolist() == [1.0]  # zero stays zero
    for i, v in enumerate(t.values):
        p = t.probabilities(i)
        assert (p > 0).all() and abs(p.sum() - 1) < 1e-12 and t.upper[i][-1] == 1.0
        assert abs(p @ v) < 1e-9, (i, p @ v)
        assert p @ (v * v) <= max(v_max, i * (js + 1 - i)) + 1e-9
        assert (np.abs(v) <= d).all()
        target = i + v
        assert (target >= 0).all() and not ((target >= 1) & (target <= js)).any()
    assert abs(t.row_moments()[-1][2] - v_max) < 1e-6  # the row of every large count has variance V


@pytest.mark.parametrize(
    ("description", "params", "variances"),
    [
        ("blocked 1 and 2 move at least to 0 or 3; 3 can only stay", (2, 1.0, 2), [0, 2, 2, 0, 0.931884, 1]),
        ("nothing blocked: 1 has a narrow support (ptable: 0.932)", (2, 1.0, 0), [0, 0.931884, 1]),
        ("ptable's pt_ex_cnts without its mono vector", (2, 1.08, 1), [0, 1.08, 1.08, 0.931884, 1.08]),
        ("ptable's own example D=5 V=3 js=2", (5, 3.0, 2), [0] + [3] * 8),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_rows_have_variance_v_unless_their_support_forbids_it(description, params, variances) -> None:
    """V is a bound, as in ptable: it is reached where the maximum-entropy row can reach it."""
    found = [variance for _, _, variance, _ in build_ptable(*params).row_moments()]
    assert np.allclose(found, variances, atol=1e-6), (description, found)


def test_matches_the_tables_printed_by_the_r_package_ptable() -> None:
    """Figures printed in ptable's vignette (introduction.Rmd; the rendered CRAN vignette for version 1.0.0)."""
    t = build_ptable(2, 1.0, 0)  # create_cnt_ptable(D = 2, V = 1)
    assert t.values[1].tolist() == [-1, 0, 1, 2]
    assert np.round(t.probabilities(1), 4).tolist() == [0.3665, 0.3665, 0.1676, 0.0995]
    moments = t.row_moments()  # empResults: p_var 0 0.932 1, p_stay 1 0.366 0.383
    assert [round(m[2], 3) for m in moments] == [0, 0.932, 1]
    assert [round(m[3], 3) for m in moments] == [1, 0.366, 0.383]
    assert round(float(t.probabilities(2)[0]), 4) == 0.0638
    # create_cnt_ptable(D = 2, V = 1.08, js = 1, ...): "i = 1 changes with probability 0.5133 to j = 0 ...
    # 0.46 ... becomes j = 2 ... 0.0267 ... becomes j = 3"
    t = build_ptable(2, 1.08, 1)
    assert (1 + t.values[1]).tolist() == [0, 2, 3]
    assert np.round(t.probabilities(1), 4).tolist() == [0.5133, 0.46, 0.0267]


@pytest.mark.parametrize(
    ("description", "params", "says"),
    [
        ("blocking beyond D", (2, 1.0, 3), "block_small must be <= max_deviation"),
        ("variance beyond uniform on -D..D", (2, 3.0, 0), "exceeds D(D+1)/3 = 2"),
        ("no deviation", (0, 1.0, 0), "max_deviation must be an integer >= 1"),
        ("zero variance", (2, 0.0, 0), "the variance must be a number > 0"),
        ("negative blocking", (2, 1.0, -1), "block_small must be an integer >= 0"),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_impossible_parameters_give_one_line_naming_them(description, params, says) -> None:
    with pytest.raises(PerturbationTableError) as caught:
        build_ptable(*params)
    message = str(caught.value)
    assert isinstance(caught.value, DisclosureError) and isinstance(caught.value, PrivacyError)
    assert "\n" not in message and says in message
    assert f"max_deviation={params[0]}" in message and f"block_small={params[2]}" in message
    assert (caught.value.max_deviation, caught.value.block_small) == (params[0], params[2])


def test_manifest_names_parameters_and_the_exact_table(table: PerturbationTable) -> None:
    entry = table.as_dict()
    assert (entry["max_deviation"], entry["variance"], entry["block_small"]) == (2, 1.0, 2)
    assert len(str(entry["sha256"])) == 64
    assert build_ptable(2, 1.0, 2).sha256() == entry["sha256"]
    assert build_ptable(2, 0.9, 2).sha256() != entry["sha256"]


def test_rows_for_display_list_every_possible_perturbation(table: PerturbationTable) -> None:
    rows = table.rows()
    assert rows[0] == (0, 0, 1.0)
    assert [(i, v) for i, v, _ in rows if i in (1, 2, 3)] == [(1, -1), (1, 2), (2, -2), (2, 1), (3, 0)]
    assert sum(p for i, _, p in rows if i == 5) == pytest.approx(1.0, abs=1e-12)


def test_the_table_is_read_only(table: PerturbationTable) -> None:
    with pytest.raises(ValueError, match="read-only"):
        table.upper[1][0] = 0.5


# --- perturbing counts ----------------------------------------------------------------------------------------


def test_perturbed_counts_are_never_negative_nor_1_or_2_and_zeros_stay_zero(table: PerturbationTable) -> None:
    counts, keys = _random_cells(100_000, seed=11)
    counts[:1000] = 0
    published = perturb_counts(counts, keys, table)
    assert published.dtype == np.int64 and published.shape == counts.shape
    assert (published >= 0).all()
    assert not np.isin(published, [1, 2]).any()
    assert (published[counts == 0] == 0).all()
    assert (np.abs(published - counts) <= 2).all()
    assert set(np.unique(published[counts == 1])) == {0, 3}  # a 1 becomes 0 or 3


def test_mean_noise_over_many_cells_is_near_zero(table: PerturbationTable) -> None:
    counts, keys = _random_cells(100_000, seed=12)
    noise = perturb_counts(counts, keys, table) - counts
    assert abs(noise.mean()) < 0.1
    for row, cells in [(1, counts == 1), (2, counts == 2), (4, counts == 4), (5, counts >= 5)]:
        rates = [(noise[cells] == v).mean() for v in table.values[row]]  # each row's noise at its rates
        assert np.allclose(rates, table.probabilities(row), atol=0.02), (row, rates)


def test_the_cell_key_picks_the_interval_that_holds_it(table: PerturbationTable) -> None:
    lower = np.concatenate([[0.0], table.upper[5][:-1]])
    counts = np.full(lower.size, 9)
    assert table.perturbation(counts, lower).tolist() == table.values[5].tolist()  # [lower, upper)
    below_upper = np.nextafter(table.upper[5], 0.0)
    assert table.perturbation(counts, below_upper).tolist() == table.values[5].tolist()


@pytest.mark.parametrize(
    ("description", "counts", "keys", "says"),
    [
        ("negative count", np.array([3, -1]), np.array([0.1, 0.2]), "1 counts are negative"),
        ("key of 1", np.array([3, 1]), np.array([0.1, 1.0]), "1 cell keys are outside [0, 1)"),
        ("missing key", np.array([3, 1]), np.array([0.1]), "2 counts but 1 cell keys"),
        ("float counts", np.array([3.0, 1.0]), np.array([0.1, 0.2]), "counts must be integers"),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_bad_cells_are_refused_without_their_values(table, description, counts, keys, says) -> None:
    with pytest.raises(DisclosureError) as caught:
        perturb_counts(counts, keys, table)
    assert says in str(caught.value)


# --- record keys and cell keys --------------------------------------------------------------------------------


def test_new_record_keys_are_uniform_32_bit_integers() -> None:
    keys = new_record_keys(100_000)
    assert keys.dtype == np.uint32 and keys.shape == (100_000,)
    assert not np.array_equal(keys[:1000], new_record_keys(1000))
    assert abs(keys.mean() / KEY_SPACE - 0.5) < 0.01
    assert new_record_keys(0).shape == (0,)


@pytest.fixture()
def persons() -> duckdb.DuckDBPyConnection:
    """Persons with a record key, a municipality and a canton; canton C9 has the one municipality M9."""
    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE persons (person_id BIGINT, rk {RECORD_KEY_SQL_TYPE}, municipality VARCHAR, canton VARCHAR)"
    )
    _add_persons(con, "persons", np.arange(20_000), np.random.default_rng(5).integers(0, 10, 20_000))
    return con


def _add_persons(con: duckdb.DuckDBPyConnection, into: str, ids: np.ndarray, municipality: np.ndarray) -> None:
    con.register(
        "incoming",
        {
            "person_id": ids,
            "rk": new_record_keys(ids.size),
            "municipality": np.array([f"M{m}" for m in municipality]),
            "canton": np.array(["C9" if m == 9 else f"C{m % 3}" for m in municipality]),
        },
    )
    con.execute(f"INSERT INTO {into} SELECT person_id, rk, municipality, canton FROM incoming")
    con.unregister("incoming")


def _table(con: duckdb.DuckDBPyConnection, by: str, source: str = "persons") -> dict[str, tuple[int, float]]:
    key = cell_keys_sql('"rk"')
    sql = f'SELECT "{by}", count(*), {key} FROM {source} GROUP BY "{by}"'
    return {name: (count, key) for name, count, key in con.execute(sql).fetchall()}


def test_cell_keys_in_duckdb_equal_numpy_and_do_not_depend_on_row_order(persons) -> None:
    by_sql = _table(persons, "municipality")
    rk, municipality = persons.execute("SELECT rk, municipality FROM persons").fetchnumpy().values()
    index = np.array([int(m[1:]) for m in municipality])
    by_numpy = cell_keys(rk, index, 10)
    assert all(by_sql[f"M{m}"][1] == by_numpy[m] for m in range(10))  # exactly equal, not approximately
    persons.execute("CREATE TABLE shuffled AS SELECT * FROM persons ORDER BY random()")
    persons.execute("SET threads = 2")
    assert _table(persons, "municipality", "shuffled") == by_sql
    assert all(0.0 <= key < 1.0 and (key * KEY_SPACE).is_integer() for _, key in by_sql.values())


def test_the_same_persons_get_the_same_noise_in_every_table_and_every_night(persons, table) -> None:
    """Municipality M9 and canton C9 hold the same persons: one key, one noise; tonight's rows change nothing."""
    by_municipality = _table(persons, "municipality")
    by_canton = _table(persons, "canton")
    assert by_municipality["M9"] == by_canton["C9"]

    def published(cells: dict[str, tuple[int, float]], name: str) -> int:
        count, key = cells[name]
        return int(perturb_counts(np.array([count]), np.array([key]), table)[0])

    assert published(by_municipality, "M9") == published(by_canton, "C9")
    # the next night: the same persons, stored in another order, plus newcomers elsewhere and one in M0
    persons.execute("CREATE TABLE night2 AS SELECT * FROM persons ORDER BY random()")
    _add_persons(persons, "night2", np.arange(100_000, 100_051), np.array([1] * 50 + [0]))
    tonight = _table(persons, "municipality", "night2")
    assert tonight["M9"] == by_municipality["M9"] and published(tonight, "M9") == published(by_municipality, "M9")
    assert tonight["M0"][1] != by_municipality["M0"][1]  # one person more: another key
    many = [(f"M{m}", c, k) for m in range(10) for c, k in [by_municipality[f"M{m}"]]]
    again = perturb_counts(np.array([c for _, c, _ in many]), np.array([k for *_, k in many]), table)
    assert again.tolist() == [published(by_municipality, name) for name, _, _ in many]


def test_cell_keys_sql_is_one_aggregate_expression() -> None:
    assert cell_keys_sql('"rk"') == '(CAST(sum(CAST("rk" AS UBIGINT)) % 4294967296 AS DOUBLE) / 4294967296)'
    with pytest.raises(DisclosureError):
        cell_keys_sql(" ")
