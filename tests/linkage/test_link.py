"""Linkage of hand-written cases: which records become one person and which must stay apart."""

from __future__ import annotations

import math

import pytest

from linkage.model import drop_splink_tables, make_linker
from tests.linkage.conftest import NAMESAKES, LinkedWarehouse

SAME_PERSON = [
    ("typo in the family name, no document", "Z01", "Z02"),
    ("given and family names swapped", "Z03", "Z04"),
    ("transliterated given name (MOHAMMED/MUHAMMAD)", "Z05", "Z06"),
    ("renewed passport", "Z07", "Z08"),
    ("identical records", "Z09", "Z10"),
    ("day and month of birth swapped", "Z17", "Z18"),
    ("common name, same birth date", "Z13", "Z14"),
    ("typos in both the family and the given name, no document", "Z19", "Z20"),
    ("given names recorded as initials, no document", "Z21", "Z22"),
    ("both names replaced, same passport and birth date", "Z23", "Z24"),
    ("a birth-date keying error", "Z25", "Z26"),
    ("a default 1 January against the full date", "Z27", "Z28"),
]
DIFFERENT_PEOPLE = [
    ("twins of different sex", "Z09", "Z11"),
    ("twins of the same sex", "Z09", "Z12"),
    ("common name, different birth date", "Z13", "Z15"),
    ("common name, different birth date, no document", "Z14", "Z16"),
]


@pytest.mark.parametrize(("case", "a", "b"), SAME_PERSON, ids=[c[0] for c in SAME_PERSON])
def test_links_the_same_person(linked: LinkedWarehouse, case: str, a: str, b: str) -> None:
    assert linked.cluster(a) == linked.cluster(b), case


@pytest.mark.parametrize(("case", "a", "b"), DIFFERENT_PEOPLE, ids=[c[0] for c in DIFFERENT_PEOPLE])
def test_keeps_different_people_apart(linked: LinkedWarehouse, case: str, a: str, b: str) -> None:
    assert linked.cluster(a) != linked.cluster(b), case


def test_twelve_nguyen_van_an_records_are_six_persons(linked: LinkedWarehouse) -> None:
    """Same name, birth year, sex and nationality; six birth dates and six passports: six men, each whole."""
    clusters = [linked.cluster(rid) for rid, *_ in NAMESAKES]
    assert len(set(clusters)) == len(NAMESAKES) // 2
    assert all(clusters[i] == clusters[i + 1] for i in range(0, len(clusters), 2))


def test_every_record_has_one_cluster_and_person_key(linked: LinkedWarehouse) -> None:
    records, clustered, keys, clusters = linked.con.execute(
        "SELECT (SELECT count(*) FROM identity_tokens), count(*), count(DISTINCT person_key), "
        "count(DISTINCT cluster_id) FROM linkage_clusters"
    ).fetchall()[0]
    assert records == clustered == linked.result.records
    assert keys == clusters == linked.result.clusters


def test_review_pairs_are_between_thresholds_or_refused(linked: LinkedWarehouse) -> None:
    bad = linked.con.execute(
        "SELECT count(*) FROM linkage_pairs WHERE review AND (linked OR match_weight < ?)",
        [linked.model.review_threshold],
    ).fetchall()[0][0]
    assert bad == 0


def _scored(linked: LinkedWarehouse, table: str) -> dict[tuple[str, str], tuple[float, float, float]]:
    """Every pair of ``table`` (an entity table) scored by the session's model: weight and the name weights."""
    linker = make_linker(linked.con, linked.model.settings, table)
    try:
        found = linker.inference.predict(threshold_match_weight=-100, warning_mode="never")
        rows = linked.con.execute(
            f"SELECT unique_id_l, unique_id_r, match_weight, mw_family_name, mw_given_names FROM {found.physical_name}"
        ).fetchall()
    finally:
        drop_splink_tables(linked.con)
    return {(a, b): (w, f, g) for a, b, w, f, g in rows}


def _level_weight(linked: LinkedWarehouse, comparison: str, label: str) -> float:
    (level,) = [
        lv
        for c in linked.model.settings["comparisons"]
        if c["output_column_name"] == comparison
        for lv in c["comparison_levels"]
        if lv.get("label_for_charts") == label
    ]
    return math.log2(level["m_probability"] / level["u_probability"])


def test_missing_field_encodings_are_a_null_level_not_a_disagreement(linked: LinkedWarehouse) -> None:
    """A migrated warehouse before its rekey: clk_family and clk_given NULL on the old records."""
    con = linked.con
    con.execute("CREATE OR REPLACE TABLE __unmigrated AS SELECT * FROM linkage_input")
    con.execute("UPDATE __unmigrated SET clk_family = NULL, clk_given = NULL")
    try:
        full, unmigrated = _scored(linked, "linkage_input"), _scored(linked, "__unmigrated")
    finally:
        con.execute("DROP TABLE __unmigrated")
    assert full.keys() == unmigrated.keys() and len(full) >= 20
    changed = 0
    for index, comparison in ((1, "family_name"), (2, "given_names")):
        field_level = _level_weight(linked, comparison, f"{comparison} CLK Dice >= 0.85")
        dissimilar = _level_weight(linked, comparison, "All other comparisons")
        # Given names: equal initials do not need the encoding, so such a pair falls to the initials level.
        initials = _level_weight(linked, comparison, "same initials") if comparison == "given_names" else None
        for pair, scores in full.items():
            before, after = scores[index], unmigrated[pair][index]
            if before != after:  # only the field's own levels depend on its encoding: now unknown (weight 0)
                assert after == 0.0 or (initials is not None and math.isclose(after, initials))
                assert math.isclose(before, field_level) or math.isclose(before, dissimilar)
                changed += 1
    assert changed  # the data exercise the field levels
    z = [w for (a, b), (w, _f, _g) in unmigrated.items() if {a, b} == {"border:Z19", "border:Z20"}]
    assert z and z[0] >= linked.model.link_threshold  # typos in both names: the full-name encoding still links
