"""The clerical review queue: pseudonymous pairs, decisions kept and turned into constraints."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from linkage.errors import ReviewError
from linkage.review import decide, decision_log, enqueue_pairs, pending_pairs, undo
from tests.reference.review import review_constraints

NIGHT = dt.date(2024, 1, 2)
AT = dt.datetime(2024, 1, 3, 9, 0)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        """CREATE TABLE preds AS SELECT * FROM (VALUES
            ('border:B1', 'visa:V1', 12.0, 0.999, 3, 4),
            ('border:B2', 'visa:V2', 2.5, 0.85, 2, 4),
            ('visa:V3', 'border:B3', -1.0, 0.33, 1, 2),
            ('border:B4', 'visa:V4', -9.0, 0.002, 0, 0)
        ) t(unique_id_l, unique_id_r, match_weight, match_probability, gamma_family_name, gamma_dob)"""
    )
    return con


def test_only_uncertain_pairs_are_queued_once_with_their_agreement_pattern(con: duckdb.DuckDBPyConnection) -> None:
    assert enqueue_pairs(con, "preds", lower=-2.0, upper=6.0, night=NIGHT) == 2
    assert enqueue_pairs(con, "preds", lower=-2.0, upper=6.0, night=NIGHT) == 0
    pairs = pending_pairs(con)
    assert [(p.unique_id_l, p.unique_id_r) for p in pairs] == [("border:B3", "visa:V3"), ("border:B2", "visa:V2")]
    assert pairs[0].agreement == "family_name: 1, dob: 2"


def test_decisions_are_kept_and_become_constraints(con: duckdb.DuckDBPyConnection) -> None:
    enqueue_pairs(con, "preds", lower=-2.0, upper=6.0, night=NIGHT)
    b2, b3 = sorted(pending_pairs(con), key=lambda p: p.unique_id_l)
    decide(con, [b2.pair_id], "accepted", reviewer="analyst-7", at=AT)
    decide(con, [b3.pair_id], "rejected", reviewer="analyst-7", at=AT)
    assert pending_pairs(con) == []
    assert review_constraints(con) == ([("border:B2", "visa:V2")], [("border:B3", "visa:V3")])
    with pytest.raises(ReviewError, match="already decided"):
        decide(con, [b2.pair_id], "rejected", reviewer="analyst-8", at=AT)
    with pytest.raises(ReviewError, match="unknown pair id"):
        decide(con, ["nope"], "accepted", reviewer="analyst-8", at=AT)
    with pytest.raises(ReviewError, match="decision must be one of"):
        decide(con, [b2.pair_id], "maybe", reviewer="analyst-8", at=AT)


def test_a_decision_can_be_undone_with_a_reason_and_decided_again(con: duckdb.DuckDBPyConnection) -> None:
    enqueue_pairs(con, "preds", lower=-2.0, upper=6.0, night=NIGHT)
    b2, b3 = sorted(pending_pairs(con), key=lambda p: p.unique_id_l)
    decide(con, [b2.pair_id], "accepted", reviewer="analyst-7", at=AT)
    with pytest.raises(ReviewError, match="reason is required"):
        undo(con, [b2.pair_id], reviewer="analyst-8", reason=" ", at=AT)
    with pytest.raises(ReviewError, match="not decided, nothing to undo"):
        undo(con, [b3.pair_id], reviewer="analyst-8", reason="typo", at=AT)
    with pytest.raises(ReviewError, match="unknown pair id"):
        undo(con, ["nope"], reviewer="analyst-8", reason="typo", at=AT)
    later = AT + dt.timedelta(hours=1)
    assert undo(con, [b2.pair_id], reviewer="analyst-8", reason="passport photo differs", at=later) == {
        b2.pair_id: "accepted"
    }
    assert {p.pair_id for p in pending_pairs(con)} == {b2.pair_id, b3.pair_id}
    assert review_constraints(con) == ([], [])
    decide(con, [b2.pair_id], "rejected", reviewer="analyst-8", at=later + dt.timedelta(hours=1))
    assert review_constraints(con) == ([], [("border:B2", "visa:V2")])
    assert [(d, who, why) for _, d, who, _, why in decision_log(con, b2.pair_id)] == [
        ("rejected", "analyst-8", None),
        ("undone", "analyst-8", "passport photo differs"),
        ("accepted", "analyst-7", None),
    ]
