"""Linkage of hand-written cases: which records become one person and which must stay apart."""

from __future__ import annotations

import pytest

from tests.linkage.conftest import LinkedWarehouse

SAME_PERSON = [
    ("typo in the family name, no document", "Z01", "Z02"),
    ("given and family names swapped", "Z03", "Z04"),
    ("transliterated given name (MOHAMMED/MUHAMMAD)", "Z05", "Z06"),
    ("renewed passport", "Z07", "Z08"),
    ("identical records", "Z09", "Z10"),
    ("day and month of birth swapped", "Z17", "Z18"),
    ("common name, same birth date", "Z13", "Z14"),
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
