"""Frozen term frequencies: the name-and-nationality adjustment and the learnt default birth dates."""

from __future__ import annotations

import math

import duckdb
import pytest

from linkage.term_frequencies import (
    DEFAULT_DOB_MIN,
    PRIOR_ENTITIES,
    default_month_days_sql,
    month_day_key_sql,
    name_nationality_sql,
)


def _entities(rows: list[tuple[int, int, str]]) -> duckdb.DuckDBPyConnection:
    """An entity table of (family token, given token, nationality) rows with their name-and-nationality key."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE linkage_input (tok_family_name UBIGINT, tok_given_names UBIGINT, nationality VARCHAR, "
        "tfk_name_nationality UBIGINT)"
    )
    con.executemany(
        "INSERT INTO linkage_input VALUES (?, ?, ?, hash(?::UBIGINT, ?::UBIGINT, ?))",
        [(f, g, n, f, g, n) for f, g, n in rows],
    )
    return con


def _frequencies(con: duckdb.DuckDBPyConnection) -> dict[tuple[int, int, str], float]:
    found = dict(con.execute(f"SELECT key, tf FROM ({name_nationality_sql()}) t(m, c, key, tf)", ["m", "c"]).fetchall())
    keys = con.execute(
        "SELECT DISTINCT tok_family_name, tok_given_names, nationality, tfk_name_nationality FROM linkage_input"
    ).fetchall()
    return {(f, g, n): found[k] for f, g, n, k in keys}


# A population of 1,000 entities: 300 Vietnamese, 700 of another nationality with names of their own. Among the
# Vietnamese, family name 1 (NGUYEN) is 40 % and given name 1 (VAN AN) 10 %; nobody else carries them.
VNM = [(1 if i < 120 else 100 + i, 1 if i % 10 == 0 else 1000 + i, "VNM") for i in range(300)]
OTHER = [(5000 + i, 9000 + i % 50, "DEU") for i in range(700)]


def test_concentrated_names_lower_the_nationality_weight() -> None:
    tf = _frequencies(_entities(VNM + OTHER))
    share_vnm = 300 / 1000
    nguyen_van_an = tf[(1, 1, "VNM")]
    # NGUYEN and VAN AN are only Vietnamese: each about 1 / P(VNM) times more common among them than overall.
    assert nguyen_van_an > share_vnm * 2.5 * 2.5
    assert nguyen_van_an < share_vnm / share_vnm / share_vnm  # shrunk toward the population, never above 1/P
    # A name of one Vietnamese only: no concentration, the plain nationality share.
    assert tf[(299 + 100, 1000 + 299, "VNM")] == pytest.approx(share_vnm)


def test_a_small_nationality_leans_on_the_population() -> None:
    # Two entities of one person of a rare nationality: the name looks universal there, but the group is small.
    tf = _frequencies(_entities([(7, 8, "ISL"), (7, 8, "ISL"), *OTHER]))
    share = 2 / 702
    factor = math.sqrt(tf[(7, 8, "ISL")] / share)  # the same factor for family and given names
    expected = ((2 - 1) + PRIOR_ENTITIES * share) / (2 - 1 + PRIOR_ENTITIES) / share
    assert factor == pytest.approx(expected)
    assert factor < 10  # not the 351 an unsmoothed within-nationality share would give


DEFAULT_CASES = [
    # (description, extra 1 January births beside 11 x 28 ordinary dates, learnt as a default)
    ("a frequent 1 January is a default", DEFAULT_DOB_MIN, True),
    ("too few 1 January births are ordinary", DEFAULT_DOB_MIN - 1, False),
]


@pytest.mark.parametrize(("case", "januaries", "learnt"), DEFAULT_CASES, ids=[c[0] for c in DEFAULT_CASES])
def test_defaults_are_the_month_days_common_enough(case: str, januaries: int, learnt: bool) -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE linkage_input (tok_dob_month UBIGINT, tok_dob_day UBIGINT)")
    rows = [(1, 1)] * januaries + [(m, d) for m in range(2, 13) for d in range(1, 29)]
    con.executemany("INSERT INTO linkage_input VALUES (?, ?)", rows)
    found = [k for _, _, k, _ in con.execute(default_month_days_sql(), ["m", "c"]).fetchall()]
    january = con.execute(
        f"SELECT {month_day_key_sql()} FROM (SELECT 1::UBIGINT, 1::UBIGINT) t(tok_dob_month, tok_dob_day)"
    ).fetchall()[0][0]
    assert found == ([january] if learnt else []), case
