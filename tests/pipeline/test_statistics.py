"""Migration statistics on a handful of hand-made persons whose figures are worked out by hand below.

Host state UTO. Vintage 1: night 2024-07-01, cut-off 2024-06-30. Vintage 2 (next night, cut-off 2024-07-01):
C's and D's pending arrivals become final (same outcome), A's pending departure resolves as not a migration,
a new person G arrives on the cut-off (pending, provisionally resident), a permit K is issued on the cut-off,
and D's overstay ends.

Persons and crossings (NR = non-resident, R = resident; * = pending in vintage 1):
  A  IND F 1990  ARR 2023-03-10 NR->R migrant; DEP 2024-05-05 R->NR*  (v2: final, R->R, not a migrant)
  B  CHN M 2005  ARR 2023-03-20 NR->NR; DEP 2023-04-01 NR->NR (a visit)
  C  UTO M 1960  DEP 2023-01-15 R->NR migrant; ARR 2024-02-01 NR->R*  (a citizen: never in the stock)
  D  GBR X ----  ARR 2024-03-05 NR->NR*  (v2: final, not a migrant)
  E  IND F 2015  ARR 2023-03-10 NR->R migrant
  F  CHN F 1980  ARR 2023-06-01 NR->R migrant; ARR 2023-08-01 R->R (repeated direction)
  H  BRA M 1995  ARR 2023-09-30 NR->NR; DEP 2023-10-31 NR->NR; ARR 2023-10-31 NR->R migrant (same day, seq 2)
  G  GBR F 2000  (v2 only) ARR 2024-07-01 NR->R*
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from pipeline.errors import ConfigError, WarehouseError
from pipeline.statistics.report import write_statistics_report
from pipeline.statistics.tables import (
    FLOWS_TABLE,
    MEASURES,
    OVERSTAYS_TABLE,
    PERMITS_TABLE,
    REVISIONS_TABLE,
    STOCK_TABLE,
    compute_statistics,
    stock_by_month,
)
from pipeline.warehouse.connection import transaction
from pipeline.warehouse.schema import migrate

D = dt.date.fromisoformat
HOST = "UTO"
NIGHT1, CUTOFF1 = D("2024-07-01"), D("2024-06-30")
NIGHT2, CUTOFF2 = D("2024-07-02"), D("2024-07-01")
STAT_TABLES = (FLOWS_TABLE, PERMITS_TABLE, STOCK_TABLE, OVERSTAYS_TABLE, REVISIONS_TABLE)

# record, person, direction, date, seq, before, after, long-term (None: pending), anomaly, nationality, sex,
# birth year, country of birth, authorization category
R, NR = "RESIDENT", "NON_RESIDENT"
CROSSINGS_V1 = [
    ("bA1", "pA", "ARR", "2023-03-10", 0, NR, R, True, None, "IND", "F", 1990, "IND", "WORK"),
    ("bA2", "pA", "DEP", "2024-05-05", 1, R, NR, None, None, "IND", "F", 1990, "IND", "PERMANENT"),
    ("bB1", "pB", "ARR", "2023-03-20", 0, NR, NR, False, None, "CHN", "M", 2005, None, "VISITOR"),
    ("bB2", "pB", "DEP", "2023-04-01", 1, NR, NR, False, None, "CHN", "M", 2005, None, "VISITOR"),
    ("bC1", "pC", "DEP", "2023-01-15", 0, R, NR, True, None, "UTO", "M", 1960, None, None),
    ("bC2", "pC", "ARR", "2024-02-01", 1, NR, R, None, None, "UTO", "M", 1960, None, None),
    ("bD1", "pD", "ARR", "2024-03-05", 0, NR, NR, None, None, "GBR", "X", None, None, "VISITOR"),
    ("bE1", "pE", "ARR", "2023-03-10", 0, NR, R, True, None, "IND", "F", 2015, "IND", "FAMILY"),
    ("bF1", "pF", "ARR", "2023-06-01", 0, NR, R, True, None, "CHN", "F", 1980, "HKG", "PERMANENT"),
    ("bF2", "pF", "ARR", "2023-08-01", 1, R, R, False, "repeated_direction", "CHN", "F", 1980, "HKG", "PERMANENT"),
    ("bH1", "pH", "ARR", "2023-09-30", 0, NR, NR, False, None, "BRA", "M", 1995, "BRA", "VISITOR"),
    ("bH2", "pH", "DEP", "2023-10-31", 1, NR, NR, False, None, "BRA", "M", 1995, "BRA", "VISITOR"),
    ("bH3", "pH", "ARR", "2023-10-31", 2, NR, R, True, None, "BRA", "M", 1995, "BRA", "WORK"),
]
CROSSINGS_V2 = [
    *(c for c in CROSSINGS_V1 if c[0] not in {"bA2", "bC2", "bD1"}),
    ("bA2", "pA", "DEP", "2024-05-05", 1, R, R, False, None, "IND", "F", 1990, "IND", "PERMANENT"),
    ("bC2", "pC", "ARR", "2024-02-01", 1, NR, R, True, None, "UTO", "M", 1960, None, None),
    ("bD1", "pD", "ARR", "2024-03-05", 0, NR, NR, False, None, "GBR", "X", None, None, "VISITOR"),
    ("bG1", "pG", "ARR", "2024-07-01", 0, NR, R, None, None, "GBR", "F", 2000, "GBR", "STUDENT"),
]
# record, person (None: not in linkage_clusters), type, reason, issue, valid from, valid until, nationality, sex,
# birth year
PERMITS = [
    ("rA1", "pA", "TEMPORARY", "remunerated activities", "2023-02-15", "2023-03-01", "2024-02-29", "IND", "F", 1990),
    ("rA2", "pA", "PERMANENT", "family", "2024-02-20", "2024-03-01", None, "IND", "F", 1990),  # not a first
    ("rE1", "pE", "TEMPORARY", "family", "2023-02-15", None, "2023-07-14", "IND", "F", 2015),
    ("rF1", "pF", "PERMANENT", "family", "2023-05-20", "2023-05-20", None, "CHN", "F", 1980),
    ("rL1", None, "TEMPORARY", "humanitarian", "2023-11-05", "2023-11-05", "2024-05-04", "AFG", "M", 1970),
    ("rP1", "pP", "TEMPORARY", "education", "2024-01-10", "2024-01-10", "2024-03-09", "VNM", "M", 2004),
    ("rI1", "pI", "PROTECTION", "asylum", "2024-04-01", "2024-04-01", "2029-03-31", "SYR", "M", 1985),
    ("rJ1", "pJ", "TEMPORARY", None, "2024-06-15", "2024-06-15", "2024-12-14", "SYR", "F", 1999),
    ("rK1", "pK", "TEMPORARY", "education", "2024-07-01", "2024-07-01", "2025-06-30", "IND", "M", 2001),
]
# stay, person, arrival, departure, end, nationality, visa required, covered until, entry without visa,
# overstay days, overstay start
STAYS_V1 = [
    ("S1", "pD", "2024-03-05", None, "2024-06-30", "GBR", True, "2024-04-04", False, 87, "2024-04-05"),
    ("S2", "pX", "2023-01-10", "2023-03-15", "2023-03-15", "CHN", True, "2023-02-28", False, 15, "2023-03-01"),
    ("S3", "pY", "2023-02-01", "2023-09-01", "2023-09-01", "CHN", True, None, True, 213, "2023-02-01"),
    ("S4", "pZ", "2022-01-01", None, "2024-06-30", "IND", True, "2022-12-31", False, 547, "2023-01-01"),
    ("S5", "pV", "2024-01-05", "2024-01-20", "2024-01-20", "VNM", False, None, True, 0, None),  # visa-exempt
    ("S6", "pI", "2024-04-10", None, "2024-06-30", "SYR", True, "2029-03-31", True, 0, None),
    ("S7", "pW", "2023-09-01", "2024-05-13", "2024-05-13", "IND", True, "2024-01-14", False, 120, "2024-01-15"),
    # no departure, but ended by the next arrival (a missed departure): closed, not open
    ("S8", "pU", "2023-05-01", None, "2023-07-01", "IND", True, "2023-05-31", False, 31, "2023-06-01"),
]
STAYS_V2 = [  # D left on the new cut-off; open stays now end on it
    ("S1", "pD", "2024-03-05", "2024-07-01", "2024-07-01", "GBR", True, "2024-04-04", False, 88, "2024-04-05"),
    ("S4", "pZ", "2022-01-01", None, "2024-07-01", "IND", True, "2022-12-31", False, 548, "2023-01-01"),
    ("S6", "pI", "2024-04-10", None, "2024-07-01", "SYR", True, "2029-03-31", True, 0, None),
    *(s for s in STAYS_V1 if s[0] not in {"S1", "S4", "S6"}),
]


def key(person: str) -> str:
    """A person key like the real ones ('P' + 32 hex digits) for the short names above."""
    return "P" + hashlib.md5(person.encode()).hexdigest()


def load(con: duckdb.DuckDBPyConnection, version: int) -> None:
    """(Re)create the input tables as the histories of vintage ``version`` would leave them."""
    night = NIGHT1 if version == 1 else NIGHT2
    crossings = [(c[0], key(c[1]), *c[2:]) for c in (CROSSINGS_V1 if version == 1 else CROSSINGS_V2)]
    con.execute(
        """CREATE OR REPLACE TABLE crossing_classification (
            record_id VARCHAR, person_key VARCHAR, direction VARCHAR, crossing_date DATE, seq INTEGER,
            residence_before VARCHAR, residence_after VARCHAR, long_term_migration BOOLEAN, status VARCHAR,
            resolved_date DATE, anomaly VARCHAR, nationality VARCHAR, sex VARCHAR, birth_year INTEGER,
            country_of_birth VARCHAR, authorization_category VARCHAR, computed_on DATE)"""
    )
    con.executemany(
        """INSERT INTO crossing_classification VALUES (?, ?, ?, ?, ?, ?, ?, ?,
            CASE WHEN ? IS NULL THEN 'pending' ELSE 'final' END, ?::DATE + 365, ?, ?, ?, ?, ?, ?, ?)""",
        [(*c[:8], c[7], c[3], *c[8:], night) for c in crossings],
    )
    con.execute(
        """CREATE OR REPLACE TABLE person_stays (
            person_key VARCHAR, stay_id VARCHAR, arrival_record_id VARCHAR, departure_record_id VARCHAR,
            arrival_date DATE, departure_date DATE, end_date DATE, nationality VARCHAR, visa_required BOOLEAN,
            covered_until DATE, entry_without_visa BOOLEAN, overstay_days INTEGER, overstay_start DATE)"""
    )
    con.executemany(
        "INSERT INTO person_stays VALUES (?, ?, 'a' || ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(key(s[1]), s[0], s[0], *s[2:]) for s in (STAYS_V1 if version == 1 else STAYS_V2)],
    )
    con.execute("DELETE FROM residence_permits")
    con.executemany(
        """INSERT INTO residence_permits (record_id, permit_type, reason, issue_date, valid_from, valid_until,
            country_of_birth, region, birth_year, sex, nationality, doc_issuing_country, partition_date, run_id)
           VALUES (?, ?, ?, ?, ?, ?, NULL, 'NORTH', ?, ?, ?, ?, ?, 'run')""",
        [(p[0], *p[2:7], p[9], p[8], p[7], p[7], p[4]) for p in PERMITS],
    )
    con.execute(
        """CREATE OR REPLACE TABLE linkage_clusters (
            source VARCHAR, record_id VARCHAR, cluster_id BIGINT, person_key VARCHAR)"""
    )
    rows = [("permit", p[0], key(p[1])) for p in PERMITS if p[1]]
    rows += [("border", c[0], c[1]) for c in crossings]
    con.executemany("INSERT INTO linkage_clusters VALUES (?, ?, hash(?) % 1000, ?)", [(*r, r[2]) for r in rows])


def warehouse() -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse with the real schema (``residence_permits`` as ingest makes it)."""
    con = duckdb.connect()
    migrate(con)
    return con


@pytest.fixture(scope="module")
def stats() -> duckdb.DuckDBPyConnection:
    """A warehouse with vintage 1 and vintage 2 computed, each in its own transaction."""
    con = warehouse()
    for version, night, cutoff in ((1, NIGHT1, CUTOFF1), (2, NIGHT2, CUTOFF2)):
        load(con, version)
        with transaction(con):
            compute_statistics(con, night=night, cutoff=cutoff, host=HOST)
    return con


@pytest.fixture
def fresh() -> duckdb.DuckDBPyConnection:
    con = warehouse()
    load(con, 1)
    return con


def flows(con, vintage, period, dimension="total", category="total"):
    """(arrivals, departures, net migration, pending crossings, figure) of one cell, or None."""
    rows = con.execute(
        f"""SELECT arrivals, departures, net_migration, pending_crossings, figure FROM {FLOWS_TABLE}
            WHERE vintage = ? AND period = ? AND dimension = ? AND category = ?""",
        [vintage, period, dimension, category],
    ).fetchall()
    assert len(rows) <= 1
    return rows[0] if rows else None


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        pytest.param("2023-01", (0, 1, -1, 0, "final"), id="citizen-emigrates"),
        pytest.param("2023-02", None, id="no-crossing-no-cell"),
        pytest.param("2023-03", (2, 0, 2, 0, "final"), id="two-migrants-one-visitor"),
        pytest.param("2023-04", (0, 0, 0, 0, "final"), id="visitor-leaves-zero-cell"),
        pytest.param("2023-08", (0, 0, 0, 0, "final"), id="repeated-arrival-is-no-migration"),
        pytest.param("2023-10", (1, 0, 1, 0, "final"), id="same-day-departure-and-migrant-arrival"),
        pytest.param("2024-02", (1, 0, 1, 1, "provisional"), id="pending-arrival-counted-provisionally"),
        pytest.param("2024-03", (0, 0, 0, 1, "provisional"), id="pending-non-migrant-makes-cell-provisional"),
        pytest.param("2024-05", (0, 1, -1, 1, "provisional"), id="pending-departure-counted-provisionally"),
        pytest.param("2023", (4, 1, 3, 0, "final"), id="year-2023"),
        pytest.param("2024", (1, 1, 0, 3, "provisional"), id="year-2024"),
    ],
)
def test_total_flows_per_month_and_year(stats, period, expected) -> None:
    assert flows(stats, NIGHT1, period) == expected


@pytest.mark.parametrize(
    ("period", "dimension", "category", "expected"),
    [
        pytest.param("2023", "citizenship", "IND", (2, 0, 2, 0, "final"), id="citizenship-IND"),
        pytest.param("2023", "citizenship", "UTO", (0, 1, -1, 0, "final"), id="citizens-counted-in-flows"),
        pytest.param("2023", "citizenship", "CHN", (1, 0, 1, 0, "final"), id="citizenship-CHN"),
        pytest.param("2024", "citizenship", "UTO", (1, 0, 1, 1, "provisional"), id="citizenship-UTO-2024"),
        pytest.param("2024", "citizenship", "IND", (0, 1, -1, 1, "provisional"), id="citizenship-IND-2024"),
        pytest.param("2023", "country_of_birth", "IND", (2, 0, 2, 0, "final"), id="birth-IND"),
        pytest.param("2023", "country_of_birth", "HKG", (1, 0, 1, 0, "final"), id="birth-HKG"),
        pytest.param("2023", "country_of_birth", "unknown", (0, 1, -1, 0, "final"), id="birth-unknown"),
        pytest.param("2023", "sex", "F", (3, 0, 3, 0, "final"), id="sex-F"),
        pytest.param("2023", "sex", "M", (1, 1, 0, 0, "final"), id="sex-M"),
        pytest.param("2024", "sex", "X", (0, 0, 0, 1, "provisional"), id="sex-X"),
        pytest.param("2023", "age_band", "0-14", (1, 0, 1, 0, "final"), id="age-0-14"),
        pytest.param("2023", "age_band", "15-24", (0, 0, 0, 0, "final"), id="age-15-24-visitor"),
        pytest.param("2023", "age_band", "25-44", (3, 0, 3, 0, "final"), id="age-25-44"),
        pytest.param("2023", "age_band", "45-64", (0, 1, -1, 0, "final"), id="age-45-64"),
        pytest.param("2024", "age_band", "45-64", (1, 0, 1, 1, "provisional"), id="age-reached-in-crossing-year"),
        pytest.param("2024", "age_band", "unknown", (0, 0, 0, 1, "provisional"), id="age-unknown"),
        pytest.param("2023", "authorization_category", "WORK", (2, 0, 2, 0, "final"), id="auth-WORK"),
        pytest.param("2023", "authorization_category", "none", (0, 1, -1, 0, "final"), id="auth-none"),
        pytest.param("2023-03", "citizenship", "CHN", (0, 0, 0, 0, "final"), id="month-cell-CHN"),
    ],
)
def test_flows_by_dimension(stats, period, dimension, category, expected) -> None:
    assert flows(stats, NIGHT1, period, dimension, category) == expected


def test_every_dimension_adds_up_to_the_total(stats) -> None:
    mismatches = stats.execute(
        f"""WITH t AS (SELECT vintage, period, arrivals, departures FROM {FLOWS_TABLE} WHERE dimension = 'total')
            SELECT d.vintage, d.period, d.dimension FROM {FLOWS_TABLE} d JOIN t USING (vintage, period)
            WHERE d.dimension <> 'total' GROUP BY d.vintage, d.period, d.dimension, t.arrivals, t.departures
            HAVING sum(d.arrivals) <> t.arrivals OR sum(d.departures) <> t.departures"""
    ).fetchall()
    dimensions = stats.execute(f"SELECT DISTINCT dimension FROM {FLOWS_TABLE} ORDER BY 1").fetchall()
    assert mismatches == []
    assert [d for (d,) in dimensions] == [
        "age_5y",
        "age_band",
        "authorization_category",
        "citizenship",
        "country_of_birth",
        "sex",
        "total",
    ]


def test_cell_keys_are_the_members_record_keys_summed_and_add_up_like_the_counts(stats) -> None:
    """A cell key is the sum of its members' record keys mod 2^32: the same persons give the same key in every
    breakdown, so each dimension's cell keys add up (mod 2^32) to the total's, and a year's to its months'."""
    modulus = 2**32
    by_dimension = stats.execute(
        f"""WITH t AS (SELECT vintage, period, arrivals_ck, departures_ck FROM {FLOWS_TABLE} WHERE dimension = 'total')
            SELECT count(*) FILTER (WHERE s.a % {modulus} <> t.arrivals_ck OR s.d % {modulus} <> t.departures_ck),
                   count(*)
            FROM (SELECT vintage, period, dimension, sum(arrivals_ck) AS a, sum(departures_ck) AS d
                  FROM {FLOWS_TABLE} WHERE dimension <> 'total' GROUP BY ALL) s JOIN t USING (vintage, period)"""
    ).fetchall()[0]
    assert by_dimension[0] == 0 and by_dimension[1] > 0
    by_year = stats.execute(
        f"""SELECT count(*) FILTER (WHERE m.ck % {modulus} <> y.first_permits_ck), count(*)
            FROM (SELECT vintage, left(period, 4) AS year, dimension, category, sum(first_permits_ck) AS ck
                  FROM {PERMITS_TABLE} WHERE period_type = 'month' GROUP BY ALL) m
            JOIN {PERMITS_TABLE} y ON y.vintage = m.vintage AND y.period = m.year AND y.period_type = 'year'
                 AND y.dimension = m.dimension AND y.category = m.category"""
    ).fetchall()[0]
    assert by_year[0] == 0 and by_year[1] > 0
    # Directly: a year's arrivals cell key is the record keys of that year's arriving persons, once per arrival
    # (these persons have no drawn key: theirs comes from the hash of the person key).
    direct = stats.execute(
        f"""SELECT (sum(coalesce(r.record_key, hash(c.person_key) % {modulus})) % {modulus})::UBIGINT
            FROM crossing_classification c LEFT JOIN person_record_keys r USING (person_key)
            WHERE year(c.crossing_date) = 2023 AND c.direction = 'ARR' AND c.long_term_migration"""
    ).fetchall()[0][0]
    latest = stats.execute(
        f"""SELECT arrivals_ck, arrivals FROM {FLOWS_TABLE} WHERE period = '2023' AND dimension = 'total'
            ORDER BY vintage DESC LIMIT 1"""
    ).fetchall()[0]
    assert latest[1] > 0 and latest[0] == direct


@pytest.mark.parametrize(
    ("period", "dimension", "category", "expected"),
    [
        pytest.param("2023", "total", "total", 4, id="total-2023-first-permits-only"),
        pytest.param("2024", "total", "total", 3, id="total-2024-renewal-not-counted"),
        pytest.param("2023-02", "total", "total", 2, id="month"),
        pytest.param("2023", "validity", "12 months or over", 1, id="12-months-inclusive-end"),
        pytest.param("2023", "validity", "3-5 months", 1, id="3-5-months-from-issue-date"),
        pytest.param("2023", "validity", "unlimited", 1, id="unlimited"),
        pytest.param("2023", "validity", "6-11 months", 1, id="6-11-months"),
        pytest.param("2024", "validity", "under 3 months", 1, id="under-3-months"),
        pytest.param("2024", "validity", "12 months or over", 1, id="5-years"),
        pytest.param("2023", "reason", "family", 2, id="reason-family"),
        pytest.param("2023", "reason", "remunerated activities", 1, id="reason-work"),
        pytest.param("2023", "reason", "other", 1, id="reason-other-category"),
        pytest.param("2024", "reason", "other", 1, id="reason-asylum-is-other"),
        pytest.param("2024", "reason", "unknown", 1, id="reason-null"),
        pytest.param("2023", "citizenship", "IND", 2, id="citizenship-IND"),
        pytest.param("2023", "citizenship", "AFG", 1, id="unlinked-permit-is-its-own-person"),
        pytest.param("2024", "citizenship", "IND", None, id="permit-after-cutoff-ignored"),
        pytest.param("2023", "age_band", "0-14", 1, id="age-band"),
    ],
)
def test_first_permits(stats, period, dimension, category, expected) -> None:
    rows = stats.execute(
        f"""SELECT first_permits, figure FROM {PERMITS_TABLE}
            WHERE vintage = ? AND period = ? AND dimension = ? AND category = ?""",
        [NIGHT1, period, dimension, category],
    ).fetchall()
    assert rows == ([(expected, "final")] if expected is not None else [])


@pytest.mark.parametrize(
    ("period", "category", "expected"),
    [
        pytest.param("2023-01", "total", ("2023-01-31", 0, 0, 0, "final"), id="only-a-citizen-crossed"),
        pytest.param("2023-03", "total", ("2023-03-31", 2, 0, 0, "final"), id="two-migrants-not-the-visitor"),
        pytest.param("2023-03", "CHN", ("2023-03-31", 0, 0, 0, "final"), id="visitor-only-zero"),
        pytest.param("2023-06", "total", ("2023-06-30", 3, 0, 0, "final"), id="third-resident"),
        pytest.param("2023-09", "BRA", ("2023-09-30", 0, 0, 0, "final"), id="arrival-on-month-end-non-resident"),
        pytest.param("2023-10", "BRA", ("2023-10-31", 1, 0, 0, "final"), id="last-crossing-of-the-day-decides"),
        pytest.param("2024-02", "total", ("2024-02-29", 4, 0, 0, "final"), id="pending-citizen-excluded"),
        pytest.param("2024-03", "total", ("2024-03-31", 4, 0, 1, "provisional"), id="pending-visitor-provisional"),
        pytest.param("2024-03", "GBR", ("2024-03-31", 0, 0, 1, "provisional"), id="pending-visitor-cell"),
        pytest.param("2024-05", "total", ("2024-05-31", 3, 0, 2, "provisional"), id="pending-departure"),
        pytest.param("2024-05", "IND", ("2024-05-31", 1, 0, 1, "provisional"), id="pending-departure-IND"),
        pytest.param("2024-06", "total", ("2024-06-30", 3, 0, 2, "provisional"), id="cutoff-month"),
        pytest.param("2024-06", "UTO", None, id="no-citizen-category"),
        pytest.param("2024-07", "total", None, id="nothing-after-cutoff-month"),
    ],
)
def test_resident_stock_at_month_ends(stats, period, category, expected) -> None:
    dimension = "total" if category == "total" else "citizenship"
    rows = stats.execute(
        f"""SELECT strftime(reference_date, '%Y-%m-%d'), residents, pending_residents, pending_persons, figure
            FROM {STOCK_TABLE} WHERE vintage = ? AND period = ? AND dimension = ? AND category = ?""",
        [NIGHT1, period, dimension, category],
    ).fetchall()
    assert rows == ([expected] if expected is not None else [])


def test_resident_stock_covers_every_month_end_up_to_the_cutoff(stats) -> None:
    months = stats.execute(
        f"SELECT count(*), min(period), max(period) FROM {STOCK_TABLE} WHERE vintage = ? AND dimension = 'total'",
        [NIGHT1],
    ).fetchall()
    assert months == [(18, "2023-01", "2024-06")]


@pytest.mark.parametrize(
    ("period", "category", "expected"),
    [
        # overstays, 1-30, 31-90, 91-180, 181-365, over 365, open, entries without visa, figure
        pytest.param("2023-01", "total", (1, 0, 0, 0, 0, 1, 1, 0, "provisional"), id="open-over-365"),
        pytest.param("2023-02", "total", (1, 0, 0, 0, 1, 0, 0, 1, "final"), id="entry-without-visa-181-365"),
        pytest.param("2023-03", "total", (1, 1, 0, 0, 0, 0, 0, 0, "final"), id="1-30"),
        pytest.param("2024-01", "total", (1, 0, 0, 1, 0, 0, 0, 0, "final"), id="91-180-exempt-entry-not-counted"),
        pytest.param("2024-04", "total", (1, 0, 1, 0, 0, 0, 1, 1, "provisional"), id="open-31-90-and-entry"),
        pytest.param("2023-06", "total", (1, 0, 1, 0, 0, 0, 0, 0, "final"), id="ended-by-next-arrival-is-closed"),
        pytest.param("2023", "total", (4, 1, 1, 0, 1, 1, 1, 1, "provisional"), id="year-2023"),
        pytest.param("2024", "total", (2, 0, 1, 1, 0, 0, 1, 1, "provisional"), id="year-2024"),
        pytest.param("2023", "CHN", (2, 1, 0, 0, 1, 0, 0, 1, "final"), id="by-nationality-CHN"),
        pytest.param("2024", "SYR", (0, 0, 0, 0, 0, 0, 0, 1, "final"), id="entry-only-SYR"),
        pytest.param("2024", "VNM", None, id="visa-exempt-VNM-absent"),
    ],
)
def test_overstays_by_band_and_nationality(stats, period, category, expected) -> None:
    dimension = "total" if category == "total" else "citizenship"
    rows = stats.execute(
        f"""SELECT overstays, overstays_1_30, overstays_31_90, overstays_91_180, overstays_181_365,
                   overstays_over_365, open_overstays, entries_without_visa, figure
            FROM {OVERSTAYS_TABLE} WHERE vintage = ? AND period = ? AND dimension = ? AND category = ?""",
        [NIGHT1, period, dimension, category],
    ).fetchall()
    assert rows == ([expected] if expected is not None else [])


def test_second_vintage_keeps_the_first_and_finalizes(stats) -> None:
    assert flows(stats, NIGHT1, "2024-05") == (0, 1, -1, 1, "provisional")
    assert flows(stats, NIGHT2, "2024-05") == (0, 0, 0, 0, "final")
    assert flows(stats, NIGHT2, "2024-02") == (1, 0, 1, 0, "final")
    assert flows(stats, NIGHT2, "2024-07") == (1, 0, 1, 1, "provisional")
    assert flows(stats, NIGHT2, "2024") == (2, 0, 2, 1, "provisional")
    stock = stats.execute(
        f"""SELECT period, strftime(reference_date, '%Y-%m-%d'), residents, pending_residents, figure
            FROM {STOCK_TABLE} WHERE vintage = ? AND dimension = 'total' AND period >= '2024-05' ORDER BY period""",
        [NIGHT2],
    ).fetchall()
    assert stock == [
        ("2024-05", "2024-05-31", 4, 0, "final"),
        ("2024-06", "2024-06-30", 4, 0, "final"),
        ("2024-07", "2024-07-01", 5, 1, "provisional"),  # the cut-off month: stock on the cut-off day
    ]


def revisions(con, table, dimension="total", category="total"):
    return con.execute(
        f"""SELECT period, measure, previous_value, current_value, previous_figure, current_figure
            FROM {REVISIONS_TABLE} WHERE vintage = ? AND table_name = ? AND dimension = ? AND category = ?
            ORDER BY period, measure""",
        [NIGHT2, table, dimension, category],
    ).fetchall()


def test_revisions_of_flows_between_vintages(stats) -> None:
    p, f = "provisional", "final"
    assert revisions(stats, FLOWS_TABLE) == [
        ("2024", "arrivals", 1, 2, p, p),
        ("2024", "departures", 1, 0, p, p),
        ("2024", "net_migration", 0, 2, p, p),
        ("2024-02", "arrivals", 1, 1, p, f),  # confirmed: same value, now final
        ("2024-02", "departures", 0, 0, p, f),
        ("2024-02", "net_migration", 1, 1, p, f),
        ("2024-03", "arrivals", 0, 0, p, f),
        ("2024-03", "departures", 0, 0, p, f),
        ("2024-03", "net_migration", 0, 0, p, f),
        ("2024-05", "arrivals", 0, 0, p, f),
        ("2024-05", "departures", 1, 0, p, f),  # the provisional departure did not happen
        ("2024-05", "net_migration", -1, 0, p, f),
    ]  # 2024-07 is a first publication, not a revision
    assert ("2024", "arrivals", None, 1, None, p) in revisions(stats, FLOWS_TABLE, "authorization_category", "STUDENT")
    assert ("2024", "arrivals", 0, 1, p, p) in revisions(stats, FLOWS_TABLE, "citizenship", "GBR")
    assert stats.execute(
        f"SELECT DISTINCT previous_vintage FROM {REVISIONS_TABLE} WHERE vintage = ?", [NIGHT2]
    ).fetchall() == [(NIGHT1,)]
    assert stats.execute(f"SELECT count(*) FROM {REVISIONS_TABLE} WHERE vintage = ?", [NIGHT1]).fetchall() == [(0,)]


def test_revisions_of_stock_permits_and_overstays(stats) -> None:
    p, f = "provisional", "final"
    assert revisions(stats, STOCK_TABLE) == [
        ("2024-03", "residents", 4, 4, p, f),
        ("2024-04", "residents", 4, 4, p, f),
        ("2024-05", "residents", 3, 4, p, f),
        ("2024-06", "residents", 3, 4, p, f),
    ]
    assert revisions(stats, PERMITS_TABLE) == [("2024", "first_permits", 3, 4, f, f)]
    overstays = revisions(stats, OVERSTAYS_TABLE)
    assert {(r[0], r[4], r[5]) for r in overstays} == {("2024", p, f), ("2024-04", p, f)}
    assert all(r[2] == r[3] for r in overstays) and len(overstays) == 2 * len(MEASURES[OVERSTAYS_TABLE])  # same band


def table_contents(con) -> dict[str, list[tuple]]:
    return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in STAT_TABLES}


def test_rerunning_a_night_gives_identical_tables(fresh) -> None:
    first = compute_statistics(fresh, night=NIGHT1, cutoff=CUTOFF1, host=HOST)
    before = table_contents(fresh)
    again = compute_statistics(fresh, night=NIGHT1, cutoff=CUTOFF1, host=HOST)
    assert table_contents(fresh) == before and again == first
    load(fresh, 2)
    compute_statistics(fresh, night=NIGHT2, cutoff=CUTOFF2, host=HOST)
    after = table_contents(fresh)
    compute_statistics(fresh, night=NIGHT2, cutoff=CUTOFF2, host=HOST)
    assert table_contents(fresh) == after


def test_summary_counts(fresh) -> None:
    summary = compute_statistics(fresh, night=NIGHT1, cutoff=CUTOFF1, host=HOST)
    counted = {t: fresh.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in STAT_TABLES}
    assert dataclasses.astuple(summary) == (
        NIGHT1,
        CUTOFF1,
        counted[FLOWS_TABLE],
        counted[PERMITS_TABLE],
        counted[STOCK_TABLE],
        counted[OVERSTAYS_TABLE],
        0,
        4,  # 2024-02, 2024-03, 2024-05 and 2024
        4,  # 2024-03 to 2024-06
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.revisions = 1  # type: ignore[misc]


def test_runs_inside_the_callers_transaction(fresh) -> None:
    with pytest.raises(RuntimeError), transaction(fresh):
        compute_statistics(fresh, night=NIGHT1, cutoff=CUTOFF1, host=HOST)
        raise RuntimeError("the caller fails after the statistics")
    tables = [
        t for (t,) in fresh.execute("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'stat_%'").fetchall()
    ]
    assert len(tables) == 5  # declared by the schema registry; the rollback left them as they were: empty
    assert [fresh.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables] == [0] * 5


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        pytest.param({"host": "uto"}, ConfigError, id="host-not-a-code"),
        pytest.param({"cutoff": NIGHT1 + dt.timedelta(days=1)}, ConfigError, id="cutoff-after-night"),
        pytest.param({"drop": "person_stays"}, WarehouseError, id="missing-input-table"),
    ],
)
def test_refuses_bad_arguments_and_missing_inputs(fresh, changes, error) -> None:
    if "drop" in changes:
        fresh.execute(f"DROP TABLE {changes.pop('drop')}")
    arguments = {"night": NIGHT1, "cutoff": CUTOFF1, "host": HOST, **changes}
    with pytest.raises(error):
        compute_statistics(fresh, **arguments)


def test_statistics_tables_hold_no_person_level_data(stats) -> None:
    columns = stats.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE table_name LIKE 'stat_%'"
    ).fetchall()
    assert not [c for c in columns if c[1] in {"person_key", "record_id", "stay_id", "birth_year"}]
    keys = {k for (k,) in stats.execute("SELECT person_key FROM linkage_clusters").fetchall()}
    for table in STAT_TABLES:
        values = {str(v) for row in stats.execute(f"SELECT * FROM {table}").fetchall() for v in row}
        assert not values & keys, table


@pytest.mark.charts
def test_report_has_the_chart_as_svg_and_no_person_keys(stats, tmp_path: Path) -> None:
    path = write_statistics_report(stats, NIGHT2, tmp_path / "reports")
    page = path.read_text(encoding="utf-8")
    assert path.name == "statistics-2024-07-02.html"
    assert "<svg" in page and "<script" not in page and "chart not drawn" not in page  # drawn by vl-convert
    assert "Long-term migration per month" in page and "provisional" in page
    assert "<td>2023</td><td>4</td><td>1</td><td>3</td><td>4</td><td>4</td>" in page
    assert '<td class="text">stat_migration_flows</td><td>' in page
    keys = {k for (k,) in stats.execute("SELECT DISTINCT person_key FROM linkage_clusters").fetchall()}
    assert not [k for k in keys if k in page]


class ReportPage(HTMLParser):
    """The tables of a report page (rows of cell texts, header row included) and the terms of its ``<dl>``."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.terms: list[str] = []
        self._cell: list[str] | None = None
        self.feed(page)

    def handle_starttag(self, tag, attrs) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in {"td", "th", "dt"}:
            self._cell = []

    def handle_endtag(self, tag) -> None:
        if tag in {"td", "th"} and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "dt" and self._cell is not None:
            self.terms.append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def year_table(self) -> tuple[list[str], list[dict[str, str]]]:
        """The year table's headers and its rows as header -> cell text."""
        (table,) = [t for t in self.tables if t and t[0] and t[0][0] == "year"]
        headers, *rows = table
        assert all(len(row) == len(headers) for row in rows)
        return headers, [dict(zip(headers, row, strict=True)) for row in rows]


NOT_COUNTS = {"residents on", "status"}  # the year table's only columns that hold no count


def is_integer(cell: str) -> bool:
    try:
        int(cell.replace(",", ""))
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("night", [NIGHT1, NIGHT2])
def test_report_year_table_has_a_number_in_every_count_column_and_a_status_column(
    stats, tmp_path: Path, night: dt.date
) -> None:
    headers, rows = ReportPage(write_statistics_report(stats, night, tmp_path).read_text("utf-8")).year_table()
    assert [r["year"] for r in rows] == ["2023", "2024"]
    assert {"status", "residents on", "non-citizen residents"} <= set(headers)
    assert [(r["year"], h, r[h]) for r in rows for h in headers if h not in NOT_COUNTS and not is_integer(r[h])] == []
    assert [r["residents on"] for r in rows] == ["2023-12-31", {NIGHT1: CUTOFF1, NIGHT2: CUTOFF2}[night].isoformat()]
    for row in rows:
        assert row["status"] == "final" or row["status"].startswith("provisional: "), row
        named = row["status"].removeprefix("provisional: ").split(", ") if row["status"] != "final" else []
        assert set(named) <= set(headers) - NOT_COUNTS - {"year", "first permits"}  # permits are always final


def test_report_year_table_says_which_totals_are_provisional(stats, tmp_path: Path) -> None:
    _headers, rows = ReportPage(write_statistics_report(stats, NIGHT2, tmp_path).read_text("utf-8")).year_table()
    assert rows == [
        {
            "year": "2023",
            "arrivals": "4",
            "departures": "1",
            "net migration": "3",
            "first permits": "4",
            "non-citizen residents": "4",
            "residents on": "2023-12-31",
            "overstays": "4",
            "entries without visa": "1",
            "status": "provisional: overstays, entries without visa",  # Z's overstay is still running
        },
        {
            "year": "2024",
            "arrivals": "2",
            "departures": "0",
            "net migration": "2",
            "first permits": "4",
            "non-citizen residents": "5",
            "residents on": "2024-07-01",
            "overstays": "2",
            "entries without visa": "1",
            "status": "provisional: arrivals, departures, net migration, non-citizen residents",  # G is pending
        },
    ]


def test_report_defines_every_header_of_the_year_table(stats, tmp_path: Path) -> None:
    report = ReportPage(write_statistics_report(stats, NIGHT2, tmp_path).read_text("utf-8"))
    headers, _rows = report.year_table()
    assert [h for h in headers if h not in report.terms] == []
    assert {"provisional", "final", "vintage", "data cut-off"} <= set(report.terms)
    assert len(report.terms) == len(set(report.terms))


def test_report_year_table_counts_an_empty_year_as_zero_and_leaves_out_years_before_the_border_data(
    fresh, tmp_path: Path
) -> None:
    # No overstay and no entry without a visa in 2024; a first permit in 2022, before the first crossing
    # (2023-01-15): 2022 has no arrivals, departures or stock that could be counted, so it is not a row.
    fresh.execute("DELETE FROM person_stays WHERE coalesce(overstay_start, arrival_date) >= DATE '2024-01-01'")
    fresh.execute(
        """INSERT INTO residence_permits (record_id, permit_type, reason, issue_date, valid_from, valid_until,
            country_of_birth, region, birth_year, sex, nationality, doc_issuing_country, partition_date, run_id)
           VALUES ('rQ1', 'TEMPORARY', 'family', DATE '2022-06-01', DATE '2022-06-01', DATE '2023-05-31', NULL,
                   'NORTH', 1980, 'F', 'NPL', 'NPL', DATE '2022-06-01', 'run')"""
    )
    compute_statistics(fresh, night=NIGHT1, cutoff=CUTOFF1, host=HOST)
    assert fresh.execute(f"SELECT count(*) FROM {PERMITS_TABLE} WHERE period = '2022'").fetchall() == [
        (7,)
    ]  # one row per dimension
    assert fresh.execute(f"SELECT count(*) FROM {OVERSTAYS_TABLE} WHERE period LIKE '2024%'").fetchall() == [(0,)]
    page = write_statistics_report(fresh, NIGHT1, tmp_path).read_text("utf-8")
    _headers, rows = ReportPage(page).year_table()
    assert [r["year"] for r in rows] == ["2023", "2024"]
    assert (rows[1]["overstays"], rows[1]["entries without visa"]) == ("0", "0")
    assert "–" not in page
    assert "Not in the table: 2022" in page


def test_report_refuses_a_night_without_statistics(stats, tmp_path: Path) -> None:
    with pytest.raises(WarehouseError):
        write_statistics_report(stats, D("2020-01-01"), tmp_path)


def test_empty_inputs_give_empty_tables(fresh) -> None:
    for table in ("crossing_classification", "person_stays", "residence_permits", "linkage_clusters"):
        fresh.execute(f"DELETE FROM {table}")
    summary = compute_statistics(fresh, night=NIGHT1, cutoff=CUTOFF1, host=HOST)
    assert dataclasses.astuple(summary) == (NIGHT1, CUTOFF1, 0, 0, 0, 0, 0, 0, 0)


def _stock_by_range_join(con: duckdb.DuckDBPyConnection, cutoff: dt.date, host: str) -> list[tuple]:
    """The resident stock per month end as first written (each deciding crossing joined to the month ends it
    covers), kept here as the reference the running sums must equal."""
    return con.execute(
        """WITH deciding AS (
            SELECT crossing_date AS since,
                   lead(crossing_date, 1, DATE '9999-12-31') OVER (PARTITION BY person_key ORDER BY seq) AS until,
                   residence_after = 'RESIDENT' AS resident, status = 'pending' AS pending, nationality,
                   coalesce(rk.record_key::UBIGINT, hash(c.person_key) % 4294967296) AS record_key
            FROM crossing_classification c LEFT JOIN person_record_keys rk USING (person_key)
            WHERE crossing_date <= $cutoff)
        SELECT m.month, m.reference_date, coalesce(d.nationality, 'unknown') AS citizenship,
               count(*) FILTER (WHERE d.resident) AS residents,
               (coalesce(sum(d.record_key) FILTER (WHERE d.resident), 0) % 4294967296)::UBIGINT AS residents_ck,
               count(*) FILTER (WHERE d.resident AND d.pending) AS pending_residents,
               count(*) FILTER (WHERE d.pending) AS pending_persons
        FROM deciding d JOIN st_month_ends m ON m.reference_date >= d.since AND m.reference_date < d.until
        WHERE d.nationality IS DISTINCT FROM $host
        GROUP BY ALL ORDER BY ALL""",
        {"cutoff": cutoff, "host": host},
    ).fetchall()


@pytest.mark.parametrize("cutoff", [D("2024-06-15"), D("2024-06-30"), D("2023-01-09")])
def test_the_resident_stock_by_running_sums_equals_the_range_join(cutoff: dt.date) -> None:
    """Random histories (same-day crossings, host citizens, unknown nationalities, persons without a record key,
    crossings after the cut-off) give the same rows by running sums over the months as by the range join."""
    import random

    rng = random.Random(7)
    rows, keys = [], []
    for p in range(600):
        person = f"P{p:04d}"
        if rng.random() < 0.9:
            keys.append((person, rng.randrange(2**32)))
        day = D("2023-01-01") + dt.timedelta(days=rng.randrange(560))
        for seq in range(rng.randint(1, 8)):
            rows.append(
                (
                    person,
                    seq,
                    day,
                    rng.choice(["RESIDENT", "NON_RESIDENT"]),
                    rng.choice(["pending", "final", "final"]),
                    rng.choice(["AFG", "IND", HOST, None, "SYR"]),
                )
            )
            day += dt.timedelta(days=rng.choice([0, 0, 1, 17, 45, 200]))
    # the only person of a citizenship, whose next crossing records another: the cell ends with that crossing
    rows += [
        ("Z", 0, D("2023-01-05"), "RESIDENT", "final", "ZZZ"),
        ("Z", 1, D("2023-03-02"), "RESIDENT", "final", "IND"),
    ]
    con = duckdb.connect()
    con.execute(
        """CREATE TABLE crossing_classification (person_key VARCHAR, seq INTEGER, crossing_date DATE,
           residence_after VARCHAR, status VARCHAR, nationality VARCHAR)"""
    )
    con.execute("CREATE TABLE person_record_keys (person_key VARCHAR, record_key UBIGINT)")
    con.executemany("INSERT INTO crossing_classification VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.executemany("INSERT INTO person_record_keys VALUES (?, ?)", keys)
    stock_by_month(con, {"cutoff": cutoff, "host": HOST})
    running = con.execute("SELECT * FROM st_stock ORDER BY ALL").fetchall()
    assert running == _stock_by_range_join(con, cutoff, HOST)
    assert len(running) >= (3 if cutoff.year == 2023 else 40)
    assert any(r[3] == 0 for r in running) and any(r[6] > 0 for r in running)  # zero cells and pending ones
    assert [r[0] for r in running if r[2] == "ZZZ"] == ["2023-01", "2023-02"][: 1 if cutoff.year == 2023 else 2]
