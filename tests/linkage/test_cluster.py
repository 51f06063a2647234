"""Anti-chaining clustering on tiny graphs of hand-made entities."""

from __future__ import annotations

import numpy as np
import pytest

from linkage.cluster import Dob, Entity, connected_components, constrained_clusters, dobs_compatible


def entity(
    sex: str | None = "M", dob: int | None = 1, year: int = 1, given: int = 1, doc: int | None = 1, edits: int = 0
) -> Entity:
    birth = None if dob is None else Dob(dob, dob, year, dob, dob)
    near = frozenset({edits}) if edits else frozenset()
    return Entity(sex=sex, dob=birth, given=frozenset({given}), name_set=given, document=doc, document_edits=near)


def run(entities: list[Entity], edges: list[tuple[int, int, float]]) -> np.ndarray:
    arr = np.array(edges, dtype=np.float64).reshape(-1, 3)
    labels, _ = constrained_clusters(entities, arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2])
    return labels


CASES = [
    # (description, entities, edges, expected labels)
    ("compatible chain merges", [entity(), entity(doc=2), entity(doc=None)], [(0, 1, 9), (1, 2, 8)], [0, 0, 0]),
    ("different sex is refused", [entity(), entity(sex="F")], [(0, 1, 20)], [0, 1]),
    ("incompatible birth dates refused", [entity(), entity(dob=7, year=2, doc=2)], [(0, 1, 12)], [0, 1]),
    ("the same document with a mis-keyed birth date merges", [entity(), entity(dob=7, year=2)], [(0, 1, 12)], [0, 0]),
    ("the same document does not override the sex rule", [entity(), entity(sex="F")], [(0, 1, 12)], [0, 1]),
    (
        "a bridge record joins the stronger side only",
        [entity(dob=1, year=1), entity(dob=None, doc=None), entity(dob=7, year=2, doc=3)],
        [(0, 1, 12), (1, 2, 10)],
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
    ("a strong edge overrides the birth-date rule", [entity(), entity(dob=7, year=9)], [(0, 1, 25)], [0, 0]),
    ("but not the sex rule", [entity(), entity(sex="F")], [(0, 1, 40)], [0, 1]),
]


@pytest.mark.parametrize(("case", "entities", "edges", "expected"), CASES, ids=[c[0] for c in CASES])
def test_constrained_clusters(case: str, entities: list[Entity], edges: list, expected: list[int]) -> None:
    assert run(entities, edges).tolist() == expected, case


def test_connected_components_chains() -> None:
    labels = connected_components(3, np.array([0, 1]), np.array([1, 2]))
    assert labels.tolist() == [0, 0, 0]


def test_dob_compatibility() -> None:
    a = Dob(10, 11, 1980, 2, 3)
    assert dobs_compatible(a, Dob(11, 10, 1980, 3, 2))  # swapped
    assert dobs_compatible(a, Dob(12, 12, 1980, 1, 1))  # defaulted to 1 January
    assert dobs_compatible(a, Dob(13, 13, 1981, 2, 3))  # year typo
    assert not dobs_compatible(a, Dob(14, 14, 1983, 5, 6))
