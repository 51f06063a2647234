"""Pairwise scores and cluster summaries: hand-computed cases, the missing-record rule, brute-force agreement."""

from __future__ import annotations

import itertools
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.evaluate import (
    ClusterSummary,
    EvaluationError,
    PairwiseScores,
    cluster_summary,
    load_truth,
    pairwise_scores,
    quote_name,
)

Row = tuple[str, str, object]


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    """One in-memory database for the module (opening one takes about 0.1 s); tests replace its tables."""
    return duckdb.connect()


def _tables(con: duckdb.DuckDBPyConnection, clusters: list[Row], truth: list[Row]) -> None:
    """Create tables ``c`` (source, record_id, cluster_id) and ``t`` (source, record_id, person_id)."""
    con.execute("CREATE OR REPLACE TABLE c (source VARCHAR, record_id VARCHAR, cluster_id VARCHAR)")
    con.execute("CREATE OR REPLACE TABLE t (source VARCHAR, record_id VARCHAR, person_id VARCHAR)")
    if clusters:
        con.executemany("INSERT INTO c VALUES (?, ?, ?)", [list(r) for r in clusters])
    if truth:
        con.executemany("INSERT INTO t VALUES (?, ?, ?)", [list(r) for r in truth])


def _v(pairs: str) -> list[Row]:
    """``"1a 2a 3b"`` -> visa records 1, 2, 3 labelled a, a, b; a label ``-`` means NULL."""
    return [("visa", item[:-1], None if item[-1] == "-" else item[-1]) for item in pairs.split()]


CASES = [
    # (description, clusters, truth, (tp, fp, fn), (records, clusters, persons, without cluster, without truth))
    ("perfect", _v("1x 2x 3x 4y"), _v("1a 2a 3a 4b"), (3, 0, 0), (4, 2, 2, 0, 0)),
    ("all singletons predicted", _v("1x 2y 3z"), _v("1a 2a 3a"), (0, 0, 3), (3, 3, 1, 0, 0)),
    ("everything merged", _v("1x 2x 3x 4x"), _v("1a 2a 3b 4b"), (2, 4, 0), (4, 1, 2, 0, 0)),
    ("person split in two", _v("1x 2x 3y 4y"), _v("1a 2a 3a 4a"), (2, 0, 4), (4, 2, 1, 0, 0)),
    ("one wrong member", _v("1x 2x 3x 4y"), _v("1a 2a 3b 4b"), (1, 2, 1), (4, 2, 2, 0, 0)),
    ("truth singletons only", _v("1x 2y"), _v("1a 2b"), (0, 0, 0), (2, 2, 2, 0, 0)),
    ("truth record missing from clusters", _v("1x 2x"), _v("1a 2a 3a"), (1, 0, 2), (3, 2, 1, 1, 0)),
    ("NULL cluster id is a singleton", _v("1x 2x 3-"), _v("1a 2a 3a"), (1, 0, 2), (3, 2, 1, 1, 0)),
    ("two NULL cluster ids are not a pair", _v("1- 2-"), _v("1a 2a"), (0, 0, 1), (2, 2, 1, 2, 0)),
    ("clustered record without truth left out", _v("1x 2x 9x"), _v("1a 2a"), (1, 0, 0), (2, 1, 1, 0, 1)),
    (
        "same record_id in two sources: two records",
        [("visa", "1", "x"), ("permit", "1", "x")],
        [("visa", "1", "a"), ("permit", "1", "b")],
        (0, 1, 0),
        (2, 1, 2, 0, 0),
    ),
    ("empty", [], [], (0, 0, 0), (0, 0, 0, 0, 0)),
]


@pytest.mark.parametrize(("description", "clusters", "truth", "pairs", "counts"), CASES, ids=[c[0] for c in CASES])
def test_hand_computed_cases(con, description, clusters, truth, pairs, counts) -> None:
    _tables(con, clusters, truth)
    s = pairwise_scores(con, "c", "t")
    assert (s.true_positives, s.false_positives, s.false_negatives) == pairs
    assert (s.records, s.clusters, s.persons, s.records_without_cluster, s.records_without_truth) == counts


@pytest.mark.parametrize(
    ("description", "counts", "rates"),
    [
        ("normal", (1, 2, 1), (1 / 3, 1 / 2, 0.4)),
        ("nothing predicted", (0, 0, 3), (1.0, 0.0, 0.0)),
        ("nothing to find", (0, 2, 0), (0.0, 1.0, 0.0)),
        ("empty", (0, 0, 0), (1.0, 1.0, 1.0)),
        ("perfect", (5, 0, 0), (1.0, 1.0, 1.0)),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_rates_and_empty_denominators(description, counts, rates) -> None:
    s = PairwiseScores(*counts, records=0, clusters=0, persons=0, records_without_cluster=0, records_without_truth=0)
    assert (s.precision, s.recall, s.f1) == pytest.approx(rates)
    assert s.as_dict()["f1"] == pytest.approx(rates[2])


def test_column_types_may_differ_between_the_tables() -> None:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE c AS SELECT * FROM (VALUES ('visa', 1, 10), ('visa', 2, 10)) x(source, record_id, cluster_id)"
    )
    con.execute(
        "CREATE TABLE t AS SELECT * FROM (VALUES ('visa', '1', 'p'), ('visa', '2', 'p')) "
        "x(source, record_id, person_id)"
    )
    assert pairwise_scores(con, "c", "t").true_positives == 1


def test_views_and_schema_qualified_names() -> None:
    con = duckdb.connect()
    _tables(con, _v("1x 2x"), _v("1a 2a"))
    con.execute("CREATE SCHEMA s")
    con.execute('CREATE VIEW s."my clusters" AS SELECT * FROM c')
    assert pairwise_scores(con, "s.my clusters", "t").f1 == 1.0


@pytest.mark.parametrize(
    ("description", "clusters", "truth", "message"),
    [
        ("record twice in clusters", _v("1x 1y 2x"), _v("1a 2a"), "clustering lists 1 record more than once"),
        ("record twice in truth", _v("1x 2x"), _v("1a 2a 2b"), "truth lists 1 record more than once"),
        ("NULL person id", _v("1x 2x"), _v("1a 2-"), "1 record without a person_id"),
    ],
    ids=lambda x: x if isinstance(x, str) and " " in x else "",
)
def test_refused_inputs(con, description, clusters, truth, message) -> None:
    _tables(con, clusters, truth)
    with pytest.raises(EvaluationError, match=message):
        pairwise_scores(con, "c", "t")


def test_bad_table_name_is_refused_before_any_sql() -> None:
    with pytest.raises(EvaluationError, match="not a table name"):
        quote_name("a..b")
    assert quote_name('we"ird.t') == '"we""ird"."t"'


def _brute_force(cluster_of: dict[int, int | None], person_of: dict[int, int]) -> tuple[int, int, int]:
    """Enumerate every pair of truth records; a record without cluster (absent or None) links to nothing."""
    tp = fp = fn = 0
    for a, b in itertools.combinations(sorted(person_of), 2):
        ca, cb = cluster_of.get(a), cluster_of.get(b)
        same_cluster = ca is not None and ca == cb
        same_person = person_of[a] == person_of[b]
        tp += same_cluster and same_person
        fp += same_cluster and not same_person
        fn += same_person and not same_cluster
    return tp, fp, fn


@settings(max_examples=40, deadline=None)
@given(
    labels=st.lists(
        st.tuples(st.integers(0, 5), st.one_of(st.none(), st.integers(0, 5)), st.sampled_from(["both", "truth", "cl"])),
        max_size=25,
    )
)
def test_agrees_with_brute_force_pair_enumeration(
    con: duckdb.DuckDBPyConnection, labels: list[tuple[int, int | None, str]]
) -> None:
    person_of = {i: p for i, (p, _, side) in enumerate(labels) if side != "cl"}
    cluster_of = {i: c for i, (_, c, side) in enumerate(labels) if side != "truth"}
    _tables(
        con,
        [("border", str(i), None if c is None else str(c)) for i, c in cluster_of.items()],
        [("border", str(i), str(p)) for i, p in person_of.items()],
    )
    s = pairwise_scores(con, "c", "t")
    assert (s.true_positives, s.false_positives, s.false_negatives) == _brute_force(cluster_of, person_of)
    assert s.records == len(person_of)
    assert s.records_without_truth == len(set(cluster_of) - set(person_of))
    assert s.records_without_cluster == sum(cluster_of.get(i) is None for i in person_of)


def test_cluster_summary_counts_sizes_and_null_singletons(con) -> None:
    _tables(con, _v("1x 2x 3x 4y 5y 6z 7- 8-"), _v("1a 2a 3b"))
    summary = cluster_summary(con, "c")
    assert summary == ClusterSummary(sizes=((1, 3), (2, 1), (3, 1)))
    assert (summary.clusters, summary.records, summary.singletons, summary.largest, summary.pairs) == (5, 8, 3, 3, 4)
    assert cluster_summary(con, "t", column="person_id").sizes == ((1, 1), (2, 1))
    assert cluster_summary(con, "t", column="person_id").as_dict()["sizes"] == {"1": 1, "2": 1}
    con.execute("DELETE FROM c")
    assert cluster_summary(con, "c").as_dict() == {
        "clusters": 0,
        "records": 0,
        "singletons": 0,
        "largest": 0,
        "pairs": 0,
        "sizes": {},
    }


def test_load_truth_reads_text_and_ignores_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "truth.csv"
    path.write_text("record_id,source,person_id,extra\n007,visa,P1,x\n008,visa,P1,y\n1,permit,P2,z\n", encoding="utf-8")
    con = duckdb.connect()
    assert load_truth(con, path, table="truth") == 3
    assert con.execute("SELECT * FROM truth ORDER BY record_id").fetchall() == [
        ("visa", "007", "P1"),
        ("visa", "008", "P1"),
        ("permit", "1", "P2"),
    ]
    assert load_truth(con, path, table="truth") == 3  # replaced, not appended
    with pytest.raises(EvaluationError, match="not found"):
        load_truth(con, tmp_path / "missing.csv")
