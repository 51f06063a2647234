"""Coherence figures (persons that look like different people merged) and their place in the linkage report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from linkage.coherence import Coherence, coherence_figures
from linkage.report import name_weight_frame, write_report
from linkage.schema import STATE_DDL, TF_DDL, TF_TABLE
from linkage.term_frequencies import DEFAULT_DOB
from privacy.keys import Keyring
from privacy.tokens import IDENTITY_TOKENS, Tokenizer
from tests.linkage.conftest import CASES, LinkedWarehouse

TOKENIZER = Tokenizer(Keyring.generate(now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))
SPECS = {spec.column: spec for spec in IDENTITY_TOKENS}
DATE_COLUMNS = ("tok_dob", "tok_dob_swapped", "tok_dob_year", "tok_dob_month", "tok_dob_day")
DAY0 = dt.date(2024, 1, 1)


@dataclass(frozen=True)
class Rec:
    """One record of a test person: birth date, document (number, issuer), day (offset from DAY0), source and
    crossing direction."""

    dob: str | None = "1990-06-20"
    document: tuple[str, str] | None = None
    day: int = 0
    source: str = "border"
    direction: str = "ARR"


def _token(column: str, *inputs: str) -> object:
    return TOKENIZER.tokens_for(SPECS[column], [inputs])[0]


def _build(persons: Sequence[Sequence[Rec]], *, defaults: bool = True) -> duckdb.DuckDBPyConnection:
    """In-memory linkage tables of ``persons`` (one entity per record, person i is cluster i), real tokens; with
    ``defaults``, a model that took 1 January for a default date."""
    con = duckdb.connect()
    con.execute(
        """CREATE TABLE linkage_input (entity_id INTEGER, cluster_id BIGINT, records INTEGER, tok_dob UBIGINT,
        tok_dob_swapped UBIGINT, tok_dob_year UBIGINT, tok_dob_month UBIGINT, tok_dob_day UBIGINT,
        tok_document UBIGINT, tok_document_edits UBIGINT[], doc_issuing_country VARCHAR, nationality VARCHAR,
        tok_family_name UBIGINT, tok_given_names UBIGINT)"""
    )
    con.execute("CREATE TABLE linkage_records (source VARCHAR, record_id VARCHAR, entity_id INTEGER)")
    con.execute("CREATE TABLE linkage_clusters (source VARCHAR, record_id VARCHAR, cluster_id BIGINT)")
    con.execute(
        "CREATE TABLE border_crossings (record_id VARCHAR, direction VARCHAR, crossing_time TIMESTAMP, "
        "crossing_date DATE)"
    )
    con.execute("CREATE TABLE visa_decisions (record_id VARCHAR, decision_date DATE)")
    con.execute("CREATE TABLE residence_permits (record_id VARCHAR, issue_date DATE)")
    entity = 0
    for person, records in enumerate(persons):
        for rec in records:
            rid = f"R{entity}"
            dates = [_token(c, rec.dob) if rec.dob else None for c in DATE_COLUMNS]
            number, issuer = rec.document or (None, None)
            document = [_token(c, number, issuer) if number else None for c in ("tok_document", "tok_document_edits")]
            con.execute(
                "INSERT INTO linkage_input VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, 'VNM', 1, 2)",
                [entity, person, *dates, *document, issuer],
            )
            con.execute("INSERT INTO linkage_records VALUES (?, ?, ?)", [rec.source, rid, entity])
            con.execute("INSERT INTO linkage_clusters VALUES (?, ?, ?)", [rec.source, rid, person])
            day = DAY0 + dt.timedelta(days=rec.day)
            if rec.source == "border":
                time = dt.datetime.combine(day, dt.time(10))
                con.execute("INSERT INTO border_crossings VALUES (?, ?, ?, ?)", [rid, rec.direction, time, day])
            elif rec.source == "visa":
                con.execute("INSERT INTO visa_decisions VALUES (?, ?)", [rid, day])
            else:
                con.execute("INSERT INTO residence_permits VALUES (?, ?)", [rid, day])
            entity += 1
    if defaults:  # the model took 1 January for a default date
        january = [_token(c, "2000-01-01") for c in ("tok_dob_month", "tok_dob_day")]
        con.execute(TF_DDL)
        con.execute(STATE_DDL)
        con.execute("INSERT INTO linkage_state VALUES ('m', 1, now())")
        con.execute(
            f"INSERT INTO {TF_TABLE} VALUES ('m', ?, hash(?::UBIGINT, ?::UBIGINT), 0.05)", [DEFAULT_DOB, *january]
        )
    return con


BACKGROUND = [[Rec(dob="1990-02-01")], [Rec(dob="1990-02-07")]]  # other persons, coherent


@pytest.mark.parametrize(
    ("dates", "incompatible"),
    [
        (("2003-03-05", "2003-12-16"), 1),  # same year, month and day both differ
        (("2003-11-20", "2003-04-25"), 1),  # same year only
        (("1985-03-02", "1987-09-14"), 1),  # nothing in common
        (("2003-03-05", "2003-05-03", "2003-12-16"), 1),  # two compatible, a third is not
        (("2003-03-05", "2003-05-03"), 0),  # day and month swapped
        (("2003-03-05", "2003-03-15"), 0),  # one component differs (day)
        (("2003-03-05", "2004-03-05"), 0),  # one component differs (year)
        (("2003-01-01", "2003-07-19"), 0),  # a defaulted 1 January against a date of the same year
        (("2003-07-07", "2003-11-19"), 1),  # a day equal to its month is not a default the model learnt
        (("2003-01-01", "2004-07-19"), 1),  # a default date of another year
        (("2003-03-05", "2003-03-05"), 0),  # one date
        (("2003-03-05", None), 0),  # a record without a birth date
    ],
)
def test_incompatible_birth_dates(dates: tuple[str | None, ...], incompatible: int) -> None:
    figures = coherence_figures(_build([*BACKGROUND, [Rec(dob=d) for d in dates]]))
    assert figures.persons_incompatible_birth_dates == incompatible
    assert figures.persons_several_birth_dates == (len({d for d in dates if d}) > 1)


def test_without_a_learnt_default_1_january_counts_as_an_ordinary_day() -> None:
    """A model that found no default date (too few 1 January births) makes 1 January an ordinary date (stricter)."""
    figures = coherence_figures(_build([[Rec(dob="2003-01-01"), Rec(dob="2003-07-19")]], defaults=False))
    assert figures.persons_incompatible_birth_dates == 1


VNM_A, VNM_B = ("C1234567", "VNM"), ("C7654321", "VNM")


@pytest.mark.parametrize(
    ("records", "same_issuer", "concurrent"),
    [
        # two passports of one country, B used while A still was: two travellers
        ([Rec(document=VNM_A, day=0), Rec(document=VNM_B, day=50), Rec(document=VNM_A, day=100)], 1, 1),
        # the same seen through a visa decision and a permit
        (
            [
                Rec(document=VNM_A, day=0, source="visa"),
                Rec(document=VNM_B, day=50),
                Rec(document=VNM_A, day=100, source="permit"),
            ],
            1,
            1,
        ),
        # a renewal: A up to day 50, B from day 100
        ([Rec(document=VNM_A, day=0), Rec(document=VNM_A, day=50), Rec(document=VNM_B, day=100)], 1, 0),
        # two issuers (a dual national) at the same time
        ([Rec(document=VNM_A, day=0), Rec(document=("C7654321", "FRA"), day=50), Rec(document=VNM_A, day=100)], 0, 0),
        # a mistyped number (two digits transposed) is not another document
        ([Rec(document=VNM_A, day=0), Rec(document=("C1234576", "VNM"), day=50), Rec(document=VNM_A, day=100)], 0, 0),
        # one document, and records without one
        ([Rec(document=VNM_A, day=0), Rec(document=VNM_A, day=50), Rec(day=100)], 0, 0),
    ],
)
def test_documents_of_one_issuer(records: list[Rec], same_issuer: int, concurrent: int) -> None:
    figures = coherence_figures(_build([*BACKGROUND, records]))
    assert figures.persons_same_issuer_documents == same_issuer
    assert figures.persons_concurrent_documents == concurrent


def _crossings(*directions: str, days: Sequence[int] | None = None) -> list[Rec]:
    return [Rec(direction=d, day=day) for d, day in zip(directions, days or range(len(directions)), strict=True)]


def test_repeated_direction_crossings_in_time_order() -> None:
    persons = [
        _crossings("ARR", "DEP", "ARR"),  # alternating
        _crossings("ARR", "ARR", "DEP"),  # one repeat
        _crossings("ARR", "ARR", "ARR", "DEP", "DEP"),  # three
        _crossings("DEP", "ARR", "ARR", days=[5, 0, 9]),  # stored out of order: ARR DEP ARR in time
        _crossings("DEP"),  # a single crossing
        [Rec(source="visa"), Rec(source="visa", day=3)],  # no crossings
    ]
    figures = coherence_figures(_build(persons))
    assert figures.persons_several_crossings == 4
    assert figures.persons_repeated_direction == 2
    assert figures.repeated_direction_crossings == 4
    assert figures.by_repeated_crossings == (("0", 2), ("1", 1), ("2", 0), ("3+", 1))


def test_sizes_and_distributions() -> None:
    persons = [
        [Rec(dob="2001-01-02", document=VNM_A)] * 12,
        [Rec(dob="2001-01-02"), Rec(dob="1980-05-05", document=VNM_A), Rec(dob="1970-05-05", document=VNM_B)],
        [Rec(dob=None)],
    ]
    figures = coherence_figures(_build(persons))
    assert (figures.persons, figures.records, figures.largest_person_records) == (3, 16, 12)
    assert figures.by_birth_dates == (("none", 1), ("1", 1), ("2", 0), ("3", 1), ("4+", 0))
    assert figures.by_documents == (("none", 1), ("1", 1), ("2", 1), ("3", 0), ("4+", 0))
    assert dict(figures.by_records) == {"1": 1, "2": 0, "3-5": 1, "6-10": 0, "11-20": 1, "21-50": 0, "51+": 0}
    assert (figures.persons_several_birth_dates, figures.persons_several_documents) == (1, 1)


def test_only_counts_leave_the_figures_and_no_scratch_table_stays() -> None:
    con = _build([*BACKGROUND, [Rec(dob="2003-03-05", document=VNM_A)]])
    figures = coherence_figures(con)
    for value in figures.as_dict().values():
        if isinstance(value, tuple):
            assert all(isinstance(label, str) and isinstance(n, int) for label, n in value)
        else:
            assert isinstance(value, int | float)
    assert isinstance(figures, Coherence)
    assert not con.execute("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '__coherence%'").fetchall()


def test_name_weights_are_skipped_with_a_note_when_the_pairs_have_no_weight_columns() -> None:
    con = _build(BACKGROUND)
    con.execute("CREATE TABLE linkage_pairs (entity_id_l INTEGER, entity_id_r INTEGER, match_weight DOUBLE)")
    note = name_weight_frame(con)
    assert isinstance(note, str) and note.startswith("not shown") and "mw_family_name" in note


def test_name_weights_include_the_term_frequency_adjustments() -> None:
    con = _build([*BACKGROUND, [Rec(), Rec()], [Rec(), Rec()]])
    con.execute(
        """CREATE TABLE linkage_pairs AS SELECT * FROM (VALUES (2, 3, 10.0, 4.0, -1.5, 5.0, 0.5, 1.0),
        (4, 5, 10.0, 4.0, 2.0, 5.0, 1.0, 1.0)) t(entity_id_l, entity_id_r, match_weight, mw_family_name,
        mw_tf_adj_family_name, mw_given_names, mw_tf_adj_given_names, mw_nationality)"""
    )
    frame = name_weight_frame(con)
    assert not isinstance(frame, str)
    assert list(frame["pairs"]) == [2]
    assert frame["p10"].iloc[0] == pytest.approx(9.0 + 0.1 * (13.0 - 9.0))
    assert frame["median"].iloc[0] == pytest.approx((9.0 + 13.0) / 2)


@pytest.mark.charts  # the charts' titles are in their SVGs
def test_report_has_the_coherence_and_naming_tradition_sections(linked: LinkedWarehouse, tmp_path: Path) -> None:
    path = write_report(linked.con, linked.model, dt.date(2024, 12, 31), tmp_path)
    page = path.read_text(encoding="utf-8")
    assert "<h2>Coherence</h2>" in page and "<h2>Weights per naming tradition</h2>" in page
    assert "persons with birth dates more than one keying error apart" in page
    assert "Persons by distinct full birth dates" in page and "Name evidence of pairs" in page
    assert page.count("<svg") >= 6
    identifiers = {v for case in CASES for v in (case[1], case[2], case[3], case[6]) if len(v) >= 6}
    assert not [v for v in identifiers if v in page]
