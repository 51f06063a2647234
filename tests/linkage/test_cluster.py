"""Anti-chaining clustering on tiny graphs of hand-made entities."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.cluster import (
    STRONG_WEIGHT,
    Dob,
    Entity,
    connected_components,
    constrained_clusters,
    dobs_compatible,
)

DEFAULT = (1, 1)  # month and day the model learnt as a default date


def birth(year: int, month: int, day: int) -> Dob:
    """Tokens of a date (the tests use the parts themselves as tokens)."""
    swapped = (year, day, month) if day <= 12 else (year, month, day)
    return Dob(hash((year, month, day)), hash(swapped), year, month, day, (month, day) == DEFAULT)


def entity(
    sex: str | None = "M",
    dob: tuple[int, int, int] | None = (1980, 2, 3),
    given: int = 1,
    doc: int | None = 1,
    edits: int = 0,
    issuer: str | None = "VNM",
    seen: tuple[int, int] = (0, 0),
) -> Entity:
    near = frozenset({edits}) if edits else frozenset()
    return Entity(
        sex=sex,
        dob=None if dob is None else birth(*dob),
        given=frozenset({given}),
        name_set=given,
        document=doc,
        document_edits=near,
        issuer=issuer,
        first_seen=seen[0],
        last_seen=seen[1],
    )


def run(entities: list[Entity], edges: list[tuple[int, int, float]]) -> np.ndarray:
    arr = np.array(edges, dtype=np.float64).reshape(-1, 3)
    labels, _ = constrained_clusters(entities, arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2])
    return labels


OTHER_DATE = (1983, 5, 6)  # more than one keying error from 1980-02-03
CASES = [
    # (description, entities, edges, expected labels)
    ("compatible chain merges", [entity(), entity(doc=2), entity(doc=None)], [(0, 1, 9), (1, 2, 8)], [0, 0, 0]),
    ("different sex is refused", [entity(), entity(sex="F")], [(0, 1, 20)], [0, 1]),
    ("incompatible birth dates refused", [entity(), entity(dob=OTHER_DATE, doc=2)], [(0, 1, 12)], [0, 1]),
    (
        "same year, other day and month refused (namesakes of one cohort)",
        [entity(), entity(dob=(1980, 12, 16), doc=2)],
        [(0, 1, 14)],
        [0, 1],
    ),
    (
        "a default 1 January against a full date of the same year merges",
        [entity(), entity(dob=(1980, 1, 1), doc=2)],
        [(0, 1, 14)],
        [0, 0],
    ),
    ("one keying error in the day merges", [entity(), entity(dob=(1980, 2, 8), doc=2)], [(0, 1, 14)], [0, 0]),
    (
        "the same document with a mis-keyed birth date merges",
        [entity(), entity(dob=OTHER_DATE)],
        [(0, 1, 12)],
        [0, 0],
    ),
    ("the same document does not override the sex rule", [entity(), entity(sex="F")], [(0, 1, 12)], [0, 1]),
    (
        "a bridge record joins the stronger side only",
        [entity(), entity(dob=None, doc=None), entity(dob=OTHER_DATE, doc=3)],
        [(0, 1, 12), (1, 2, 10)],
        [0, 0, 2],
    ),
    (
        "a chain through a default date is split where its ends differ",
        [entity(), entity(dob=(1980, 1, 1), doc=None), entity(dob=(1980, 12, 16), doc=None)],
        [(0, 1, 12), (1, 2, 11)],
        [0, 0, 2],
    ),
    ("other given names and documents refused", [entity(), entity(given=2, doc=2)], [(0, 1, 12)], [0, 1]),
    ("other given names, same document merge", [entity(), entity(given=2)], [(0, 1, 12)], [0, 0]),
    (
        "other given names, a mistyped document merge",
        [entity(edits=7), entity(given=2, doc=2, edits=7)],
        [(0, 1, 12)],
        [0, 0],
    ),
    ("a strong edge overrides the names/document rule", [entity(), entity(given=2, doc=2)], [(0, 1, 25)], [0, 0]),
    ("a strong edge overrides the birth-date rule", [entity(), entity(dob=OTHER_DATE)], [(0, 1, 25)], [0, 0]),
    ("but not the sex rule", [entity(), entity(sex="F")], [(0, 1, 40)], [0, 1]),
    (
        "a renewed passport (periods apart) merges",
        [entity(seen=(0, 300)), entity(doc=2, seen=(320, 700))],
        [(0, 1, 15)],
        [0, 0],
    ),
    (
        "two passports of one issuer in use at once are two people, even on a strong edge",
        [entity(seen=(0, 300)), entity(doc=2, seen=(100, 700))],
        [(0, 1, 30)],
        [0, 1],
    ),
    (
        "a short overlap (records of the old passport after renewal) merges",
        [entity(seen=(0, 300)), entity(doc=2, seen=(290, 700))],
        [(0, 1, 15)],
        [0, 0],
    ),
    (
        "passports of two issuers at once (second nationality) merge",
        [entity(seen=(0, 300)), entity(doc=2, issuer="FRA", seen=(100, 700))],
        [(0, 1, 15)],
        [0, 0],
    ),
    (
        "a mistyped number in use at the same time merges",
        [entity(edits=5, seen=(0, 300)), entity(doc=2, edits=5, seen=(100, 700))],
        [(0, 1, 15)],
        [0, 0],
    ),
    (
        "concurrent documents are checked against the whole cluster",
        [entity(seen=(0, 100)), entity(doc=None), entity(doc=2, seen=(50, 400))],
        [(0, 1, 15), (1, 2, 14)],
        [0, 0, 2],
    ),
]


@pytest.mark.parametrize(("case", "entities", "edges", "expected"), CASES, ids=[c[0] for c in CASES])
def test_constrained_clusters(case: str, entities: list[Entity], edges: list, expected: list[int]) -> None:
    assert run(entities, edges).tolist() == expected, case


def test_refused_edges_are_reported() -> None:
    entities = [entity(), entity(dob=(1980, 1, 1), doc=None), entity(dob=(1980, 12, 16), doc=None)]
    arr = np.array([[0, 1, 12], [1, 2, 11]], dtype=np.float64)
    _, stats = constrained_clusters(entities, arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2])
    assert stats.refused == 1 and stats.refused_edges == [1]


def test_connected_components_chains() -> None:
    labels = connected_components(3, np.array([0, 1]), np.array([1, 2]))
    assert labels.tolist() == [0, 0, 0]


DOB_CASES = [
    # (description, other date, compatible with 1980-02-03)
    ("equal", (1980, 2, 3), True),
    ("day and month swapped", (1980, 3, 2), True),
    ("year typo", (1981, 2, 3), True),
    ("month typo", (1980, 7, 3), True),
    ("day typo", (1980, 2, 13), True),
    ("defaulted to 1 January", (1980, 1, 1), True),
    ("same year, other day and month", (1980, 12, 16), False),
    ("another year and 1 January", (1983, 1, 1), False),
    ("nothing in common", (1983, 5, 6), False),
]


@pytest.mark.parametrize(("case", "other", "expected"), DOB_CASES, ids=[c[0] for c in DOB_CASES])
def test_dob_compatibility(case: str, other: tuple[int, int, int], expected: bool) -> None:
    assert dobs_compatible(birth(1980, 2, 3), birth(*other)) is expected, case
    assert dobs_compatible(birth(*other), birth(1980, 2, 3)) is expected, case


# One person: NGUYEN VAN AN born 1987-04-09 with up to one keying error per record, a default date or not, a
# passport renewed once (or none recorded); strangers of the same name, year, sex and nationality.
variants = st.sampled_from([(1987, 4, 9), (1987, 9, 4), (1987, 4, 19), (1988, 4, 9), (1987, 1, 1), None])
person_records = st.lists(st.tuples(variants, st.sampled_from([1, 2, None])), min_size=1, max_size=6)
PASSPORTS = {1: (0, 200), 2: (220, 700), None: (0, 0)}  # renewed on day 220
DEFAULT_1987 = (1987, 1, 1)


def person_with_stranger(
    records: list[tuple[tuple[int, int, int] | None, int | None]],
    stranger: Entity,
    weights: list[float],
    stranger_weights: list[float],
) -> tuple[list[int], int]:
    """Cluster the person's records (a chain) and a stranger who scores against every one of them."""
    person = [entity(dob=dob, doc=doc, seen=PASSPORTS[doc]) for dob, doc in records]
    n = len(person)
    edges = [(i, i + 1, weights[i]) for i in range(n - 1)]
    edges += [(i, n, stranger_weights[i]) for i in range(n)]
    labels = run([*person, stranger], edges).tolist()
    return labels[:n], labels[n]


@settings(max_examples=200, deadline=None)
@given(
    records=person_records,
    day=st.integers(min_value=2, max_value=28).filter(lambda d: d not in (4, 9, 19)),
    month=st.integers(min_value=2, max_value=12).filter(lambda m: m not in (4, 9)),
    weights=st.lists(st.floats(min_value=6, max_value=60), min_size=6, max_size=6),
    stranger_weights=st.lists(st.floats(min_value=6, max_value=STRONG_WEIGHT - 0.01), min_size=6, max_size=6),
)
def test_a_common_name_stranger_born_another_day_never_joins(
    records: list[tuple[tuple[int, int, int] | None, int | None]],
    day: int,
    month: int,
    weights: list[float],
    stranger_weights: list[float],
) -> None:
    stranger = entity(dob=(1987, month, day), doc=9, seen=(150, 400))
    person, theirs = person_with_stranger(records, stranger, weights, stranger_weights)
    # A record with no date or a default one, and no document, could be either man's: only the others count.
    dated = [label for label, (dob, doc) in zip(person, records, strict=True) if doc or dob not in (None, DEFAULT_1987)]
    assert theirs not in dated


@settings(max_examples=200, deadline=None)
@given(
    records=person_records,
    weights=st.lists(st.floats(min_value=6, max_value=60), min_size=6, max_size=6),
    stranger_weights=st.lists(st.floats(min_value=6, max_value=60), min_size=6, max_size=6),
)
def test_a_namesake_born_the_same_day_never_joins_a_passport_in_use(
    records: list[tuple[tuple[int, int, int] | None, int | None]],
    weights: list[float],
    stranger_weights: list[float],
) -> None:
    namesake = entity(dob=(1987, 4, 9), doc=9, seen=(100, 400))  # overlaps both of the person's passports
    person, theirs = person_with_stranger(records, namesake, weights, stranger_weights)
    documented = [label for label, (_, doc) in zip(person, records, strict=True) if doc is not None]
    assert theirs not in documented


def test_the_result_does_not_depend_on_the_order_of_the_edges() -> None:
    """Equal weights are common (identical pairs); the whole-cluster rules make their order matter."""
    entities = [entity(dob=(1980, 2, 3)), entity(dob=(1980, 1, 1), doc=None), entity(dob=(1980, 12, 16), doc=None)]
    edges = [(0, 1, 12.0), (1, 2, 12.0)]
    assert run(entities, edges).tolist() == run(entities, edges[::-1]).tolist() == [0, 0, 2]
