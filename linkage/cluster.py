"""Clustering scored pairs into persons without chaining unrelated people.

Connected components at a threshold merge two people as soon as one record of each scores above it, and a
common name turns such errors into chains (one mis-keyed record joins two WANG WEIs, then their clusters
join further people). :func:`constrained_clusters` instead merges along edges in descending match weight
(Kruskal order, union-find) and refuses a merge that would put *incompatible* entities in one cluster. A person
may not hold:

* two sexes (both known);
* two documents of the same issuing country in use at the same time (each seen more than :data:`CONCURRENT_DAYS`
  after the other was first seen), unless one number is a keying error of the other: a renewed passport replaces
  the old one, namesakes travel on their own passports at the same time;
* two dates of birth that are more than one keying error apart: not equal, not day/month swapped, differing in
  more than one of year, month and day, and not a default month and day (1 January, learnt from the data with the
  model) against a date of the same year;
* given names with nothing in common (no shared name part or phonetic code, different name sets) while the
  documents differ too (both known, and more than one keying error apart): twins share a family name, a date
  of birth and often a sex, never a passport number.

The rules are checked against the whole cluster, not pair by pair: each cluster keeps the set of values it
holds (small sets), and a merge must be compatible with all of them, so a chain A-B-C cannot merge what A-C
alone would refuse. Clusters that share a document number are exempt from the last two rules (the same
passport keyed with a wrong birth date is one person; twins and namesakes do not share documents), and so are
edges of :data:`STRONG_WEIGHT` or more. A refused edge stays in the pairs table and goes to clerical review;
a reviewer's accepted pair is merged whatever the rules say.

:func:`connected_components` is the plain alternative (same edges, no constraints) for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components as _scipy_components

STRONG_WEIGHT = 20.0  # match weight from which only the sex and the concurrent-document rules apply
CONCURRENT_DAYS = 30  # two documents of one issuer seen in use over a longer common period are two people


class Dob(NamedTuple):
    """Date-of-birth tokens of one entity; ``default`` when its month and day are a default date (1 January)."""

    dob: int
    swapped: int
    year: int | None
    month: int | None
    day: int | None
    default: bool = False


class Document(NamedTuple):
    """A document (number and issuer token) with the period it was seen in use (days since 1970-01-01)."""

    issuer: str | None
    first_seen: int
    last_seen: int
    edits: frozenset[int] = frozenset()

    def joined(self, other: Document) -> Document:
        """The same document seen on more records: the union of the periods."""
        return Document(
            self.issuer,
            min(self.first_seen, other.first_seen),
            max(self.last_seen, other.last_seen),
            self.edits | other.edits,
        )


def documents_concurrent(a: Document, b: Document, days: int = CONCURRENT_DAYS) -> bool:
    """Two different documents of one issuer (not one keying error apart) in use at the same time: each was seen
    more than ``days`` after the other was first seen. A renewal replaces one document by the other (the old one
    seen at most ``days`` into the new one's use); namesakes' passports interleave."""
    if a.issuer is None or a.issuer != b.issuer or not a.edits.isdisjoint(b.edits):
        return False
    return a.last_seen - b.first_seen > days and b.last_seen - a.first_seen > days


class Entity(NamedTuple):
    """What the merge constraints look at, per entity (tokens only)."""

    sex: str | None
    dob: Dob | None
    given: frozenset[int]
    name_set: int | None
    document: int | None
    document_edits: frozenset[int] = frozenset()
    issuer: str | None = None  # the document's issuing country
    first_seen: int = 0  # first and last day (since 1970-01-01) a record of the entity was made
    last_seen: int = 0


@dataclass
class _Cluster:
    sexes: set[str] = field(default_factory=set)
    dobs: set[Dob] = field(default_factory=set)
    given: set[int] = field(default_factory=set)
    name_sets: set[int] = field(default_factory=set)
    documents: dict[int, Document] = field(default_factory=dict)
    document_edits: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, e: Entity) -> _Cluster:
        use = Document(e.issuer, e.first_seen, e.last_seen, e.document_edits)
        return cls(
            sexes={e.sex} if e.sex else set(),
            dobs={e.dob} if e.dob else set(),
            given=set(e.given),
            name_sets={e.name_set} if e.name_set is not None else set(),
            documents={e.document: use} if e.document is not None else {},
            document_edits=set(e.document_edits),
        )

    def absorb(self, other: _Cluster) -> None:
        self.sexes |= other.sexes
        self.dobs |= other.dobs
        self.given |= other.given
        self.name_sets |= other.name_sets
        for number, use in other.documents.items():
            mine = self.documents.get(number)
            self.documents[number] = use if mine is None else mine.joined(use)
        self.document_edits |= other.document_edits


def dobs_compatible(a: Dob, b: Dob) -> bool:
    """Whether two dates of birth can be one date keyed twice: equal, day and month swapped, one of year, month and
    day different, or a default month and day against a date of the same year."""
    if a.dob == b.dob or a.swapped == b.dob or a.dob == b.swapped:
        return True
    same_year = a.year is not None and a.year == b.year
    agreeing = same_year + (a.month is not None and a.month == b.month) + (a.day is not None and a.day == b.day)
    return agreeing >= 2 or (same_year and (a.default or b.default))


def _concurrent_documents(a: _Cluster, b: _Cluster) -> bool:
    """Whether merging would give one person two documents of one issuer in use at the same time."""
    return any(
        documents_concurrent(x, y)
        for number_x, x in a.documents.items()
        for number_y, y in b.documents.items()
        if number_x != number_y
    )


def compatible(a: _Cluster, b: _Cluster, max_dob_checks: int = 400, *, strong: bool = False) -> bool:
    """Whether two clusters may be merged (see the module docstring).

    A ``strong`` edge (match weight at or above :data:`STRONG_WEIGHT`) must still agree on sex and not join
    concurrent documents, but is exempt from the birth-date and the given-name/document rules: a pair that scores
    that high despite a disagreeing birth date or given name agrees on nearly everything else (typos in keyed
    data, e.g. two digits of a birth date), while twins and namesakes, whom the rules protect, rarely score that
    high; namesakes born on the same day who do, travel on their own passports.
    """
    if a.sexes and b.sexes and a.sexes.isdisjoint(b.sexes):
        return False
    if _concurrent_documents(a, b):
        return False
    if strong or not a.documents.keys().isdisjoint(b.documents.keys()):
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
        and a.documents.keys().isdisjoint(b.documents.keys())
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
        weight: Match weight of each edge (ties are processed by ``left``, then ``right``).
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

    order = np.lexsort((right, left, -weight))  # ties by entity ids: the result does not depend on the edges' order
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
