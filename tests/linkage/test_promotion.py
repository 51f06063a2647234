"""Candidate models: compared with the current one on the review decisions and the gate measures, promoted only
when not worse; every decision recorded once.

The warehouse is the linkage tests' small one (a synthetic background plus the hand-written cases), trained and
linked once for the module; each test works on its own copy. Candidates are the current model under another id,
with or without another link threshold: a hand-made difference whose effect on each decided pair is known.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import uuid
from pathlib import Path

import duckdb
import pytest

from linkage.link import link_all
from linkage.model import LinkageModel, load_model, save_model, train_model
from linkage.promotion import (
    Comparison,
    DecisionFigures,
    GateFigures,
    PromotionError,
    Tolerance,
    compare_models,
    current_model,
    judge,
    promote,
)
from linkage.review import decide, enqueue_pairs, pair_id_sql
from pipeline.cli.main import main
from pipeline.ingest.load import ingest
from pipeline.nightly.maintenance import compare_models_step, promote_step, train_candidate_step
from pipeline.nightly.settings import load_settings
from pipeline.synth import generate
from pipeline.warehouse.connection import connect, transaction
from privacy.keys import Keyring, KeyVersion
from tests.linkage.conftest import SEED, write_cases

LINKED_TABLES = ("linkage_input", "linkage_records", "linkage_pairs", "linkage_clusters", "linkage_state")
# A fixed key: the pair weights depend on the key (Bloom-filter similarities), and lowest_link needs the two
# lowest links above the threshold apart by more than 0.1, which a random key does not always give.
FIXED_KEY = Keyring("5eed5eed5eed5eed", 1, (KeyVersion(1, bytes(range(32)), "2026-01-01T00:00:00+00:00"),))
KEY_TABLES = ("person_keys", "person_key_history", "linkage_term_frequencies", "linkage_models")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ingested, trained (the current model), linked, and every scored pair queued for review (all pending)."""
    root = tmp_path_factory.mktemp("promotion")
    generate(root / "landing", persons=200, start=dt.date(2024, 1, 1), end=dt.date(2024, 12, 31), seed=SEED)
    write_cases(root / "landing")
    con = connect(root / "wh")
    try:
        ingest(con, landing=root / "landing", run_date=dt.date(2024, 12, 31), ring=FIXED_KEY)
        model = save_model(con, train_model(con, seed=SEED, max_pairs=2e5, em_max_pairs=2e5))
        link_all(con, model, night=dt.date(2024, 12, 31))
        con.execute("CREATE TEMP VIEW scored AS SELECT * FROM linkage_pairs")
        enqueue_pairs(con, "scored", lower=float("-inf"), upper=float("inf"), night=dt.date(2024, 12, 31))
    finally:
        con.close()
    return root / "wh"


@pytest.fixture
def wh(built: Path, tmp_path: Path) -> Path:
    shutil.copytree(built, tmp_path / "wh")
    return tmp_path / "wh"


def lowest_link(con: duckdb.DuckDBPyConnection, threshold: float) -> tuple[str, float, float]:
    """The scored pair with the lowest weight at or above ``threshold``: its pair id, its weight, and the next
    weight up (a candidate threshold between the two moves this pair alone across)."""
    rows = con.execute(
        f"""SELECT {pair_id_sql("unique_id_l", "unique_id_r")}, match_weight FROM linkage_pairs
            WHERE match_weight >= ? ORDER BY match_weight LIMIT 2""",
        [threshold],
    ).fetchall()
    assert len(rows) == 2 and rows[1][1] - rows[0][1] > 0.1, rows
    return str(rows[0][0]), float(rows[0][1]), float(rows[1][1])


def highest_below(con: duckdb.DuckDBPyConnection, threshold: float) -> str:
    rows = con.execute(
        f"""SELECT {pair_id_sql("unique_id_l", "unique_id_r")} FROM linkage_pairs WHERE match_weight < ?
            ORDER BY match_weight DESC LIMIT 1""",
        [threshold],
    ).fetchall()
    assert rows, "a pair between the review and the link threshold"
    return str(rows[0][0])


def decide_pairs(con: duckdb.DuckDBPyConnection, decision: str, *pair_ids: str) -> None:
    with transaction(con):
        decide(con, list(pair_ids), decision, reviewer="clerk", at=dt.datetime(2025, 1, 2, tzinfo=dt.UTC))


def candidate_of(
    con: duckdb.DuckDBPyConnection, model: LinkageModel, *, link_threshold: float | None = None
) -> LinkageModel:
    """``model`` under a new id (with another link threshold if given), saved as a candidate."""
    threshold = model.link_threshold if link_threshold is None else link_threshold
    changed = dataclasses.replace(model, model_id=uuid.uuid4().hex, link_threshold=threshold)
    return save_model(con, changed, candidate=True)


def compared(warehouse: Path, candidate: LinkageModel) -> Comparison:
    """The comparison on a read-only connection: any write to the warehouse would fail."""
    con = connect(warehouse, read_only=True)
    try:
        return compare_models(con, load_model(con, candidate.model_id), current_model(con))
    finally:
        con.close()


def entries(con: duckdb.DuckDBPyConnection, kind: str) -> list[dict[str, object]]:
    found = [json.loads(bytes(e)) for (e,) in con.execute("SELECT entry FROM audit_log ORDER BY leaf_index").fetchall()]
    return [e for e in found if e["kind"] == kind]


def gate_counts(figures: GateFigures) -> dict[str, object]:
    return {k: v for k, v in dataclasses.asdict(figures).items() if k != "seconds"}


def test_an_equal_candidate_is_promoted_once(wh: Path) -> None:
    con = connect(wh)
    current = load_model(con)
    accepted, _, _ = lowest_link(con, current.link_threshold)
    rejected = highest_below(con, current.link_threshold)
    decide_pairs(con, "accepted", accepted)
    decide_pairs(con, "rejected", rejected)
    candidate = candidate_of(con, current)
    assert load_model(con).model_id == current.model_id, "a candidate waits for its promotion"
    con.close()

    comparison = compared(wh, candidate)

    assert comparison.decisions == DecisionFigures(
        decided=2, accepted=1, rejected=1, missing=0, candidate_wrong=0, current_wrong=0
    )
    assert comparison.current is not None
    assert gate_counts(comparison.candidate) == gate_counts(comparison.current)
    assert (comparison.records_changing_person, comparison.persons_merged, comparison.persons_split) == (0, 0, 0)
    assert comparison.failed == () and comparison.not_worse
    assert Comparison.from_dict(json.loads(json.dumps(comparison.as_dict()))) == comparison  # through an XCom

    con = connect(wh)
    try:
        with transaction(con):
            done = promote(con, candidate.model_id[:8], comparison, decided_by="operator")
        assert (done.decision, done.model_version, done.previous_version, done.recorded) == (
            "promoted",
            candidate.version,
            current.version,
            True,
        )
        assert load_model(con).model_id == candidate.model_id
        assert con.execute(
            "SELECT decision, forced, decided_by, candidate_version, current_version FROM linkage_model_promotions"
        ).fetchall() == [("promoted", False, "operator", candidate.version, current.version)]
        (entry,) = entries(con, "model_promoted")
        assert entry["model_version"] == candidate.version and entry["previous_version"] == current.version
        assert entry["figures"]["wrong_decisions_candidate"] == 0  # type: ignore[index]
        assert entry["figures"]["records"] == comparison.records  # type: ignore[index]

        with transaction(con):  # again (a re-run task): nothing changes
            again = promote(con, candidate.model_id, comparison, decided_by="operator")
        assert (again.decision, again.recorded) == ("current", False)
        assert con.execute("SELECT count(*) FROM linkage_model_promotions").fetchall() == [(1,)]
        assert len(entries(con, "model_promoted")) == 1
    finally:
        con.close()


def test_a_candidate_that_gets_a_decided_pair_wrong_is_kept(wh: Path) -> None:
    """The clerks said the lowest link is one person; a candidate whose link threshold lies above that pair's weight
    scores it below its threshold: one wrong decision more than the current model, so it is not promoted."""
    con = connect(wh)
    current = load_model(con)
    pair, weight, above = lowest_link(con, current.link_threshold)
    decide_pairs(con, "accepted", pair)
    candidate = candidate_of(con, current, link_threshold=(weight + above) / 2)
    con.close()

    comparison = compared(wh, candidate)

    assert (comparison.decisions.current_wrong, comparison.decisions.candidate_wrong) == (0, 1)
    assert comparison.failed == ("review_decisions",)  # the accepted pair stays linked: the persons are the same
    assert "1 of 1 review decisions wrong (current model 0)" in comparison.explain()[0]

    con = connect(wh)
    try:
        for _ in range(2):  # a re-run decides the same and records nothing more
            with transaction(con):
                kept = promote(con, candidate.model_id, comparison, decided_by="airflow linkage_model/run-1")
            assert (kept.decision, kept.model_id, kept.failed) == ("kept", current.model_id, ("review_decisions",))
        assert load_model(con).model_id == current.model_id
        assert con.execute("SELECT decision, failed FROM linkage_model_promotions").fetchall() == [
            ("kept", ["review_decisions"])
        ]
        (entry,) = entries(con, "model_kept")
        assert (entry["model_version"], entry["candidate_version"]) == (current.version, candidate.version)

        with pytest.raises(PromotionError, match="needs a reason"):
            promote(con, candidate.model_id, comparison, decided_by="operator", force=True)
        with transaction(con):
            forced = promote(
                con, f"v{candidate.version}", comparison, decided_by="operator", force=True, reason="clerks agree"
            )
        assert (forced.decision, forced.forced) == ("promoted", True)
        assert load_model(con).model_id == candidate.model_id
        assert con.execute(
            "SELECT reason, forced FROM linkage_model_promotions WHERE decision = 'promoted'"
        ).fetchall() == [("clerks agree", True)]
        (entry,) = entries(con, "model_promoted")
        assert entry["forced"] is True and entry["reason_given"] is True and "clerks agree" not in json.dumps(entry)
    finally:
        con.close()


def test_a_candidate_that_gets_fewer_decisions_wrong_is_promoted(wh: Path) -> None:
    """The clerks said the lowest link is two persons: the current model gets it wrong, the candidate whose threshold
    lies above it gets it right (the rejected pair is unlinked for both, so the persons are the same)."""
    con = connect(wh)
    current = load_model(con)
    pair, weight, above = lowest_link(con, current.link_threshold)
    decide_pairs(con, "rejected", pair)
    candidate = candidate_of(con, current, link_threshold=(weight + above) / 2)
    con.close()

    comparison = compared(wh, candidate)

    assert (comparison.decisions.current_wrong, comparison.decisions.candidate_wrong) == (1, 0)
    assert comparison.not_worse
    con = connect(wh)
    try:
        with transaction(con):
            assert promote(con, candidate.model_id, comparison, decided_by="operator").decision == "promoted"
        assert load_model(con).model_id == candidate.model_id
    finally:
        con.close()


def test_a_candidate_that_would_split_persons_is_kept(wh: Path) -> None:
    """A far higher link threshold splits persons (pairs with the same document and birth date stay linked): the
    share of records changing person fails, even with no review decision to score."""
    con = connect(wh)
    current = load_model(con)
    candidate = candidate_of(con, current, link_threshold=current.link_threshold + 30)
    con.close()

    comparison = compared(wh, candidate)

    assert comparison.current is not None
    assert comparison.decisions.decided == 0 and any("vacuously" in note for note in comparison.notes)
    assert comparison.candidate.persons > comparison.current.persons
    assert comparison.persons_split > 0 and comparison.persons_merged == 0
    assert comparison.records_changing_person > 0.05 * comparison.records
    assert comparison.failed == ("records_changing_person",)


def test_without_a_current_model_the_candidate_is_promoted(wh: Path) -> None:
    con = connect(wh)
    model = load_model(con)
    con.execute("UPDATE linkage_models SET status = 'candidate', promoted_at = NULL")  # only candidates saved
    assert current_model(con) is None
    con.close()

    comparison = compared(wh, model)

    assert comparison.current is None and comparison.current_id is None
    assert comparison.not_worse and comparison.notes == (
        "no current model: the candidate is promoted without a comparison",
    )
    con = connect(wh)
    try:
        with transaction(con):
            done = promote(con, model.model_id, comparison, decided_by="operator")
        assert (done.decision, done.previous_version) == ("promoted", None)
        assert load_model(con).model_id == model.model_id
    finally:
        con.close()


def test_comparing_writes_nothing_and_leaves_the_connection_as_it_was(wh: Path) -> None:
    con = connect(wh)
    try:
        current = load_model(con)
        candidate = candidate_of(con, current, link_threshold=current.link_threshold + 3)
        before = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in (*LINKED_TABLES, *KEY_TABLES)}
        comparison = compare_models(con, candidate, current)  # on the read-write connection of a night
        after = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in (*LINKED_TABLES, *KEY_TABLES)}
        assert after == before
        assert con.execute("SELECT current_database(), current_setting('search_path')").fetchall() == [
            ("migralink", "")
        ]
        assert con.execute(
            "SELECT count(*) FROM duckdb_databases() WHERE database_name = '__promotion'"
        ).fetchall() == [(0,)]
        assert comparison.candidate.links < comparison.candidate.persons + comparison.records  # counts, computed
    finally:
        con.close()


@pytest.mark.parametrize(
    ("candidate", "changing", "failed"),
    [
        ({}, 50, ()),
        ({}, 51, ("records_changing_person",)),
        ({"largest_person_records": 22}, 0, ()),  # 20 + max(2, 10 % of 20)
        ({"largest_person_records": 23}, 0, ("largest_person",)),
        ({"persons_incompatible_birth_dates": 4}, 0, ("incompatible_birth_dates",)),
        ({"persons_birth_years_apart": 2}, 0, ("birth_years_apart",)),
        ({"persons_incompatible_birth_dates": 2, "persons": 10}, 0, ()),  # fewer is better; persons not judged
    ],
)
def test_the_gate_rule(candidate: dict[str, int], changing: int, failed: tuple[str, ...]) -> None:
    current = GateFigures(900, 20, 3, 1, 5, 7, 300, 0.0)
    decisions = DecisionFigures(4, 2, 2, 0, candidate_wrong=1, current_wrong=1)
    got, _ = judge(
        decisions,
        dataclasses.replace(current, **candidate),
        current,
        records=1000,
        changing=changing,
        tolerance=Tolerance(),
    )
    assert got == failed
    assert Tolerance().largest_allowed(100) == 110


def test_the_decision_rule() -> None:
    figures = GateFigures(900, 20, 3, 1, 5, 7, 300, 0.0)

    def failed(decisions: DecisionFigures) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return judge(decisions, figures, figures, records=1000, changing=0, tolerance=Tolerance())

    assert failed(DecisionFigures(4, 2, 2, 0, candidate_wrong=2, current_wrong=1))[0] == ("review_decisions",)
    assert failed(DecisionFigures(4, 2, 2, 0, candidate_wrong=1, current_wrong=1))[0] == ()
    assert failed(DecisionFigures(4, 2, 2, 1, candidate_wrong=0, current_wrong=3)) == (
        (),
        ("1 decided pairs not scored: a record of theirs is no longer in the warehouse",),
    )
    assert failed(DecisionFigures(0, 0, 0, 0, 0, 0)) == (
        (),
        ("no review decisions to score: the decision rule holds vacuously",),
    )


def test_the_steps_can_be_run_again(wh: Path) -> None:
    """A DAG task re-run: training reuses its run's candidate, promoting the current model changes nothing."""
    settings = load_settings(None, warehouse=wh)
    first = train_candidate_step(settings, seed=SEED, trained_for="linkage_model/manual__1")
    again = train_candidate_step(settings, seed=SEED, trained_for="linkage_model/manual__1")
    assert first["reused"] is False and again["reused"] is True
    assert again["candidate_id"] == first["candidate_id"] and first["candidate_version"] == 2
    found = compare_models_step(settings, str(first["candidate_id"]))
    assert json.loads(json.dumps(found)) == found, "an XCom: JSON only"
    assert found["candidate_version"] == 2 and found["current_version"] == 1
    results = [promote_step(settings, str(first["candidate_id"]), found, decided_by="airflow") for _ in range(2)]
    decision = "promoted" if found["not_worse"] else "kept"
    assert [(r["decision"], r["recorded"]) for r in results] == [
        (decision, True),
        ("current" if decision == "promoted" else "kept", False),
    ]
    con = connect(wh, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM linkage_model_promotions").fetchall() == [(1,)]
        assert con.execute("SELECT count(*) FROM linkage_models WHERE trained_for IS NOT NULL").fetchall() == [(1,)]
        assert [e["status"] for e in entries(con, "model_trained")] == ["candidate"]
    finally:
        con.close()


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("migralink: error: ")
    return lines[0]


def test_the_model_commands(wh: Path, capsys: pytest.CaptureFixture[str]) -> None:
    con = connect(wh)
    current = load_model(con)
    pair, weight, above = lowest_link(con, current.link_threshold)
    decide_pairs(con, "accepted", pair)
    worse = candidate_of(con, current, link_threshold=(weight + above) / 2)
    con.close()
    at = ["--warehouse", str(wh)]

    assert main(["model", "list", *at]) == 0
    listed = capsys.readouterr().out
    assert "current" in listed and "candidate" in listed and worse.model_id[:8] in listed

    for ref, message in (("zz-top", "is not a model id"), ("v99", "no linkage model v99"), ("0000", "no linkage")):
        assert main(["model", "compare", ref, *at]) == 1
        assert message in one_line_error(capsys)
    assert main(["model", "compare", f"v{worse.version}", *at]) == 0
    shown = capsys.readouterr().out
    assert "wrong review decisions" in shown and "verdict: candidate v2 is worse" in shown

    assert main(["model", "promote", f"v{worse.version}", "--force", *at]) == 1
    assert "--force needs --reason" in one_line_error(capsys)
    assert main(["model", "promote", f"v{worse.version}", *at]) == 1
    assert "not promoted: worse than v1: 1 of 1 review decisions wrong" in one_line_error(capsys)
    assert main(["model", "list", *at]) == 0
    assert "kept (review_decisions)" in capsys.readouterr().out

    assert main(["model", "promote", worse.model_id[:8], "--force", "--reason", "a test", "--by", "ops", *at]) == 0
    assert "promoted model v2 (forced)" in capsys.readouterr().out
    assert main(["model", "promote", f"v{worse.version}", *at]) == 0
    assert "is the current model already" in capsys.readouterr().out
    con = connect(wh, read_only=True)
    try:
        assert con.execute(
            "SELECT decision, forced, decided_by, reason FROM linkage_model_promotions ORDER BY decided_at"
        ).fetchall()[1:] == [("promoted", True, "ops", "a test")]
    finally:
        con.close()
