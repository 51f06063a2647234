"""Clustering scored pairs into persons without chaining unrelated people.

Connected components at a threshold merge two people as soon as one record of each scores above it, and a
common name turns such errors into chains (one mis-keyed record joins two WANG WEIs, then their clusters
join further people). :func:`constrained_clusters` instead merges along edges in descending match weight
(Kruskal order, union-find) and refuses a merge that would put *incompatible* entities in one cluster:

* different sex (both known);
* dates of birth that cannot be the same date keyed twice: not equal, not day/month swapped, different
  year and different month-and-day (a defaulted 1 January keeps the year, a year typo keeps the day);
* given names with nothing in common (no shared name part or phonetic code, different name sets) while the
  documents differ too (both known, and more than one keying error apart): twins share a family name, a date
  of birth and often a sex, never a passport number.

Clusters that share a document number are exempt from the last two rules (the same passport keyed with a
wrong birth date is one person; twins and namesakes do not share documents).

Each cluster keeps the set of values it holds (small sets), so a merge check costs a few set operations.
Only edges between different clusters are checked; a refused edge stays in the pairs table for review.

:func:`connected_components` is the plain alternative (same edges, no constraints) for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components as _scipy_components

STRONG_WEIGHT = 20.0  # match weight from which only the sex rule applies


class Dob(NamedTuple):
    """Date-of-birth tokens of one entity."""

    dob: int
    swapped: int
    year: int | None
    month: int | None
    day: int | None


class Entity(NamedTuple):
    """What the merge constraints look at, per entity (tokens only)."""

    sex: str | None
    dob: Dob | None
    given: frozenset[int]
    name_set: int | None
    document: int | None
    document_edits: frozenset[int] = frozenset()


@dataclass
class _Cluster:
    sexes: set[str] = field(default_factory=set)
    dobs: set[Dob] = field(default_factory=set)
    given: set[int] = field(default_factory=set)
    name_sets: set[int] = field(default_factory=set)
    documents: set[int] = field(default_factory=set)
    document_edits: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, e: Entity) -> _Cluster:
        return cls(
            sexes={e.sex} if e.sex else set(),
            dobs={e.dob} if e.dob else set(),
            given=set(e.given),
            name_sets={e.name_set} if e.name_set is not None else set(),
            documents={e.document} if e.document is not None else set(),
            document_edits=set(e.document_edits),
        )

    def absorb(self, other: _Cluster) -> None:
        self.sexes |= other.sexes
        self.dobs |= other.dobs
        self.given |= other.given
        self.name_sets |= other.name_sets
        self.documents |= other.documents
        self.document_edits |= other.document_edits


def dobs_compatible(a: Dob, b: Dob) -> bool:
    """Whether two dates of birth can be one date keyed twice (equal, swapped, same year or same day)."""
    if a.dob == b.dob or a.swapped == b.dob or a.dob == b.swapped:
        return True
    if a.year is not None and a.year == b.year:
        return True
    return a.month is not None and a.month == b.month and a.day == b.day


def compatible(a: _Cluster, b: _Cluster, max_dob_checks: int = 400, *, strong: bool = False) -> bool:
    """Whether two clusters may be merged (see the module docstring).

    A ``strong`` edge (match weight at or above :data:`STRONG_WEIGHT`) must still agree on sex but is exempt
    from the birth-date and the given-name/document rules: a pair that scores that high despite a disagreeing
    birth date or given name agrees on nearly everything else (typos in keyed data, e.g. two digits of a birth
    date), while twins and namesakes, whom the rules protect, never score that high.
    """
    if a.sexes and b.sexes and a.sexes.isdisjoint(b.sexes):
        return False
    if strong or (a.documents and b.documents and not a.documents.isdisjoint(b.documents)):
        return True  # a shared document is not something twins or namesakes have
    if len(a.dobs) * len(b.dobs) <= max_dob_checks:
        if not all(dobs_compatible(x, y) for x in a.dobs for y in b.dobs):
            return False
    elif not any(dobs_compatible(x, y) for x in a.dobs for y in b.dobs):
        return False
    names_disjoint = a.given and b.given and a.given.isdisjoint(b.given) and a.name_sets.isdisjoint(b.name_sets)
    documents_differ = (
        a.documents
        and b.documents
        and a.documents.isdisjoint(b.documents)
        and a.document_edits.isdisjoint(b.document_edits)  # a mistyped number is not another passport
    )
    return not (names_disjoint and documents_differ)


@dataclass
class ClusterStats:
    """Counts of one clustering run."""

    edges: int = 0
    merges: int = 0
    refused: int = 0
    refused_edges: list[int] = field(default_factory=list)


def constrained_clusters(
    entities: list[Entity],
    left: np.ndarray,
    right: np.ndarray,
    weight: np.ndarray,
    forced: np.ndarray | None = None,
) -> tuple[np.ndarray, ClusterStats]:
    """Union-find over edges in descending weight, refusing merges of incompatible clusters.

    Args:
        entities: Attributes of entity ``i`` at position ``i``.
        left: Entity index of each edge's first end.
        right: Entity index of each edge's other end.
        weight: Match weight of each edge (ties are processed in input order).
        forced: Edges a reviewer accepted: merged whatever the constraints say.

    Returns:
        The cluster label of every entity (the smallest entity index in its cluster) and the run's counts;
        ``refused_edges`` holds the positions (in the input arrays) of edges whose merge was refused.
    """
    n = len(entities)
    parent = list(range(n))
    size = [1] * n
    state: dict[int, _Cluster] = {}
    stats = ClusterStats(edges=len(left))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    order = np.argsort(-weight, kind="stable")
    weights = weight.tolist()
    lefts, rights = left[order].tolist(), right[order].tolist()
    for pos, a, b in zip(order.tolist(), lefts, rights, strict=True):
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        ca = state.get(ra) or state.setdefault(ra, _Cluster.of(entities[ra]))
        cb = state.get(rb) or state.setdefault(rb, _Cluster.of(entities[rb]))
        if not (forced is not None and forced[pos]) and not compatible(ca, cb, strong=weights[pos] >= STRONG_WEIGHT):
            stats.refused += 1
            stats.refused_edges.append(pos)
            continue
        if size[ra] < size[rb]:
            ra, rb, ca, cb = rb, ra, cb, ca
        parent[rb] = ra
        size[ra] += size[rb]
        ca.absorb(cb)
        del state[rb]
        stats.merges += 1
    roots = np.fromiter((find(i) for i in range(n)), dtype=np.int64, count=n)
    return canonical_labels(roots), stats


def connected_components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Plain connected components of ``n`` entities; labels are the smallest entity index of each component."""
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
    _, labels = _scipy_components(graph, directed=False)
    return canonical_labels(labels.astype(np.int64))


def canonical_labels(labels: np.ndarray) -> np.ndarray:
    """Relabel clusters by their smallest member index (deterministic whatever the algorithm's labels)."""
    n = len(labels)
    smallest = np.full(int(labels.max()) + 1 if n else 0, n, dtype=np.int64)
    np.minimum.at(smallest, labels, np.arange(n, dtype=np.int64))
    return smallest[labels]
