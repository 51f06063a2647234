"""Nightly increments: new records scored against the person index, and a full relink gives the same result."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from linkage.coherence import Coherence, coherence_figures
from linkage.link import link, link_new, needs_full_relink
from linkage.model import LinkageModel, save_model, train_model
from linkage.review import decide, decision_log, enqueue_pairs, undo
from pipeline.ingest.load import ingest
from pipeline.synth import generate
from pipeline.warehouse.connection import connect
from privacy.keys import Keyring

START, END = dt.date(2024, 1, 1), dt.date(2024, 6, 30)
NIGHTS = [dt.date(2024, 4, 30), dt.date(2024, 5, 31), dt.date(2024, 6, 15), END]


def partition(con: duckdb.DuckDBPyConnection) -> set[frozenset[str]]:
    """The clustering as a set of record sets (independent of cluster ids)."""
    rows = con.execute(
        "SELECT list(source || ':' || record_id ORDER BY source, record_id) FROM linkage_clusters GROUP BY cluster_id"
    ).fetchall()
    return {frozenset(r[0]) for r in rows}


def pairs(con: duckdb.DuckDBPyConnection) -> dict[tuple[int, int], float]:
    """Scored pairs keyed by the two entities' identity signatures (entity ids and representative records
    depend on the order records arrived in)."""
    rows = con.execute(
        """SELECT least(a.signature, b.signature), greatest(a.signature, b.signature), p.match_weight
        FROM linkage_pairs p JOIN linkage_input a ON a.entity_id = p.entity_id_l
        JOIN linkage_input b ON b.entity_id = p.entity_id_r"""
    ).fetchall()
    return {(left, right): weight for left, right, weight in rows}


def copy_of(con: duckdb.DuckDBPyConnection, path: Path) -> duckdb.DuckDBPyConnection:
    """A connection to a copy of the warehouse behind ``con`` (the module's warehouse stays as it is)."""
    (name,) = con.execute("SELECT current_database()").fetchall()[0]
    con.execute(f"ATTACH '{path}' AS copy_target")
    con.execute(f"COPY FROM DATABASE {name} TO copy_target")
    con.execute("DETACH copy_target")
    return duckdb.connect(path)


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Keyring]:
    root = tmp_path_factory.mktemp("incremental")
    generate(root / "landing", persons=400, start=START, end=END, seed=5)
    ring = Keyring.generate(now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    return root / "landing", root, ring


def counted_both_ways(con: duckdb.DuckDBPyConnection) -> tuple[Coherence, Coherence]:
    """The coherence figures as a night keeps them (only the persons the last linkage reclustered counted again),
    then every person counted afresh; ``seconds`` left out."""
    kept, afresh = coherence_figures(con, incremental=True), coherence_figures(con)
    return replace(kept, seconds=0.0), replace(afresh, seconds=0.0)


@pytest.fixture(scope="module")
def incremental(
    nights: tuple[Path, Path, Keyring],
) -> tuple[duckdb.DuckDBPyConnection, LinkageModel, list, list[tuple[Coherence, Coherence]]]:
    landing, root, ring = nights
    con = connect(root / "wh")
    ingest(con, landing=landing, run_date=NIGHTS[0], ring=ring)
    model = save_model(con, train_model(con, seed=3, max_pairs=2e5, em_max_pairs=2e5))
    results = [link(con, model, night=NIGHTS[0])]
    coherence = [counted_both_ways(con)]
    for night in NIGHTS[1:]:
        ingest(con, landing=landing, run_date=night, ring=ring)
        results.append(link(con, model, night=night))
        coherence.append(counted_both_ways(con))
    return con, model, results, coherence


def test_first_night_is_full_then_increments(incremental: tuple) -> None:
    _, _, results, _ = incremental
    assert [r.mode for r in results] == ["full"] + ["incremental"] * (len(NIGHTS) - 1)
    for result in results[1:]:
        assert 0 < result.new_records < result.records
        assert result.reclustered_entities < result.entities  # only the touched components


def test_the_coherence_figures_kept_and_counted_again_for_reclustered_persons_only_are_every_persons(
    incremental: tuple,
) -> None:
    """After the full first night and each incremental one, the figures a night keeps (each person's, counted
    again only for the persons reclustered) are the figures of every person counted afresh."""
    con, _, results, coherence = incremental
    for result, (kept, afresh) in zip(results, coherence, strict=True):
        assert kept == afresh, result.mode
        assert kept.persons == result.clusters and kept.records == result.records
    assert coherence[-1][0] != coherence[0][0]  # the nights changed them
    # the kept figures of the last night were counted again for its reclustered persons only, not for all
    state = con.execute("SELECT linked_at = (SELECT finished_at FROM linkage_state) FROM linkage_coherence_state")
    assert state.fetchall() == [(True,)]


def test_kept_coherence_figures_of_another_linkage_are_not_used(incremental: tuple, tmp_path: Path) -> None:
    """Figures kept for a linkage other than the one before tonight's (here: a linkage that ran without counting
    them) are counted afresh for every person, not brought up to date."""
    con, model, *_ = incremental
    other = copy_of(con, tmp_path / "stale.duckdb")
    try:
        other.execute("UPDATE linkage_coherence SET records = records + 1")  # what stale figures would show
        other.execute("UPDATE linkage_coherence_state SET linked_at = linked_at - INTERVAL 1 DAY")
        link_new(other, model, night=END + dt.timedelta(days=1))
        kept, afresh = counted_both_ways(other)
        assert kept == afresh
    finally:
        other.close()


def test_incremental_equals_full_relink(incremental: tuple, tmp_path: Path) -> None:
    con, model, *_ = incremental
    inc_partition, inc_pairs = partition(con), pairs(con)
    other = copy_of(con, tmp_path / "copy.duckdb")
    try:
        result = link(other, model, night=END, full=True)
        assert result.mode == "full"
        full_pairs = pairs(other)
        assert full_pairs.keys() == inc_pairs.keys()
        assert all(abs(full_pairs[k] - inc_pairs[k]) < 1e-9 for k in full_pairs)
        assert partition(other) == inc_partition
    finally:
        other.close()


def test_known_identity_joins_its_entity_without_new_pairs(incremental: tuple) -> None:
    con, *_ = incremental
    split = con.execute(
        "SELECT count(*) FROM (SELECT entity_id FROM linkage_records r "
        "JOIN linkage_clusters c USING (source, record_id) GROUP BY entity_id HAVING count(DISTINCT c.cluster_id) > 1)"
    ).fetchall()[0][0]
    assert split == 0
    counts = con.execute(
        "SELECT (SELECT sum(records) FROM linkage_input), (SELECT count(*) FROM linkage_records), "
        "(SELECT count(*) FROM identity_tokens), (SELECT count(*) FROM linkage_clusters WHERE person_key IS NOT NULL)"
    ).fetchall()[0]
    assert len(set(counts)) == 1, counts


def assert_clusters_agree(con: duckdb.DuckDBPyConnection) -> None:
    """Every record has one row in ``linkage_clusters``, with its entity's cluster and its person key (an increment
    deletes and inserts again only the records whose cluster changed, and sets the keys that changed)."""
    rows = con.execute(
        """SELECT count(*), count(DISTINCT (c.source, c.record_id)), (SELECT count(*) FROM identity_tokens),
                  count(*) FILTER (WHERE c.cluster_id IS DISTINCT FROM e.cluster_id),
                  count(*) FILTER (WHERE c.person_key IS DISTINCT FROM p.person_key)
           FROM linkage_clusters c LEFT JOIN linkage_records r USING (source, record_id)
           LEFT JOIN linkage_input e USING (entity_id) LEFT JOIN person_keys p USING (source, record_id)"""
    ).fetchall()[0]
    assert rows[0] == rows[1] == rows[2] and rows[3:] == (0, 0), rows


def test_the_clusters_table_agrees_with_the_entities_and_the_person_keys_after_the_increments(
    incremental: tuple,
) -> None:
    assert_clusters_agree(incremental[0])


def test_nothing_new_changes_nothing(incremental: tuple) -> None:
    con, model, *_ = incremental
    before = partition(con), pairs(con)
    keys = con.execute("SELECT count(*) FROM person_key_history").fetchall()[0][0]
    result = link_new(con, model, night=END + dt.timedelta(days=1))
    assert result.new_records == 0 and result.pairs_scored == 0
    assert (partition(con), pairs(con)) == before
    assert con.execute("SELECT count(*) FROM person_key_history").fetchall()[0][0] == keys


def test_another_model_or_rekey_forces_a_full_relink(incremental: tuple) -> None:
    con, model, *_ = incremental
    assert needs_full_relink(con, model) is None
    other = LinkageModel(settings=model.settings, summary=model.summary)
    assert needs_full_relink(con, other) == "the model changed"
    con.execute("UPDATE linkage_state SET token_version = token_version + 1")
    try:
        assert needs_full_relink(con, model) == "the pseudonyms were re-keyed"
    finally:
        con.execute("UPDATE linkage_state SET token_version = token_version - 1")


def test_review_decisions_recluster_only_their_persons(incremental: tuple, tmp_path: Path) -> None:
    con, model, *_ = incremental
    other = copy_of(con, tmp_path / "decided.duckdb")
    try:
        linked_pair = other.execute(
            "SELECT unique_id_l, unique_id_r FROM linkage_pairs WHERE linked ORDER BY match_weight LIMIT 1"
        ).fetchall()[0]
        apart = other.execute(
            """SELECT a.unique_id, b.unique_id FROM linkage_input a, linkage_input b
            WHERE a.cluster_id < b.cluster_id AND a.sex IS NOT DISTINCT FROM b.sex ORDER BY a.entity_id, b.entity_id
            LIMIT 1"""
        ).fetchall()[0]
        other.execute(
            "CREATE TABLE decisions AS SELECT * FROM (VALUES (?, ?, 0.5, 0.6), (?, ?, 0.5, 0.6)) "
            "t(unique_id_l, unique_id_r, match_weight, match_probability)",
            [*linked_pair, *apart],
        )
        enqueue_pairs(other, "decisions", lower=0, upper=1, night=END)
        ids = {
            tuple(r[:2]): r[2]
            for r in other.execute("SELECT unique_id_l, unique_id_r, pair_id FROM review_queue").fetchall()
        }
        now = dt.datetime.now() + dt.timedelta(seconds=1)
        decide(other, [ids[tuple(sorted(linked_pair))]], "rejected", reviewer="r", at=now)
        decide(other, [ids[tuple(sorted(apart))]], "accepted", reviewer="r", at=now)
        result = link_new(other, model, night=END + dt.timedelta(days=1))
        assert result.new_records == 0 and 0 < result.reclustered_entities < result.entities
        kept, afresh = counted_both_ways(other)  # a split and a merge: both counted again
        assert kept == afresh
        assert result.keys.changed_records > 0  # records moved between persons
        assert_clusters_agree(other)
        cluster = dict(other.execute("SELECT unique_id, cluster_id FROM linkage_input").fetchall())
        assert cluster[apart[0]] == cluster[apart[1]]
        assert cluster[linked_pair[0]] != cluster[linked_pair[1]]
        after_increment = partition(other)
        link(other, model, night=END + dt.timedelta(days=2), full=True)
        assert partition(other) == after_increment

        # Undoing both decisions returns the pairs to the queue; the next night clusters them as the model says.
        later = now + dt.timedelta(days=3)
        undone = undo(other, list(ids.values()), reviewer="s", reason="second look", at=later)
        assert sorted(undone.values()) == ["accepted", "rejected"]
        assert {r[0] for r in other.execute("SELECT status FROM review_queue").fetchall()} == {"pending"}
        result = link_new(other, model, night=END + dt.timedelta(days=3))
        assert 0 < result.reclustered_entities < result.entities
        assert_clusters_agree(other)
        assert partition(other) == partition(con)
        log = decision_log(other)
        assert [(d, r) for _, d, _, _, r in log[:2]] == [("undone", "second look")] * 2
        assert sorted(d for _, d, _, _, _ in log[2:]) == ["accepted", "rejected"]
    finally:
        other.close()
