"""Batch linkage of the whole warehouse: predict pairs, cluster them into persons, write the results.

Tables written (linkage zone; pseudonyms and counts only):

* ``linkage_pairs``: every scored pair of entities with a match weight at or above the model's review
  threshold (``unique_id_l``/``unique_id_r`` are the entities' representative records), with ``linked``
  (same cluster after clustering) and ``review`` (a pair a person should look at: between the review and the
  link threshold, or above the link threshold but refused by the cluster constraints);
* ``linkage_clusters``: ``source``, ``record_id``, ``cluster_id`` (one row per record) and ``person_key``.

Person keys are random pseudonymous ids that stay with a person across runs
(:func:`linkage.person_keys.assign_person_keys`, which records merges and splits in ``person_key_history``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from linkage.cluster import Dob, Entity, connected_components, constrained_clusters
from linkage.errors import EmptyInputError
from linkage.input import INPUT_TABLE, RECORDS_TABLE, build_input
from linkage.model import LinkageModel, drop_splink_tables, make_linker
from linkage.person_keys import KeyAssignment, assign_person_keys
from linkage.review import ensure_schema as ensure_review_schema

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)

PAIRS_TABLE = "linkage_pairs"
CLUSTERS_TABLE = "linkage_clusters"


@dataclass(frozen=True)
class LinkResult:
    """Counts and timings of one batch linkage (no identifiers)."""

    model_id: str
    method: str
    records: int
    entities: int
    pairs_scored: int
    edges_above_threshold: int
    refused_merges: int
    review_pairs: int
    clusters: int
    seconds_input: float
    seconds_predict: float
    seconds_cluster: float
    keys: KeyAssignment


def entity_attributes_sql() -> str:
    """SQL of the attributes the merge constraints need, one row per entity in ``entity_id`` order."""
    return f"""
SELECT sex, tok_dob, tok_dob_swapped, tok_dob_year, tok_dob_month, tok_dob_day,
       list_distinct(list_concat(coalesce(tok_given_parts, []), coalesce(tok_given_phonetic, []))),
       tok_name_set, tok_document
FROM {INPUT_TABLE} ORDER BY entity_id"""


def load_entities(con: duckdb.DuckDBPyConnection) -> list[Entity]:
    """The constraint attributes of every entity, indexed by ``entity_id``."""
    out = []
    for sex, dob, swapped, year, month, day, given, name_set, document in con.execute(
        entity_attributes_sql()
    ).fetchall():
        out.append(
            Entity(
                sex=sex,
                dob=None if dob is None else Dob(dob, swapped, year, month, day),
                given=frozenset(given),
                name_set=name_set,
                document=document,
            )
        )
    return out


def predict_pairs(con: duckdb.DuckDBPyConnection, model: LinkageModel) -> int:
    """Score entity pairs with ``model`` into :data:`PAIRS_TABLE`; returns the number of pairs kept."""
    linker = make_linker(con, model.settings)
    predictions = linker.inference.predict(threshold_match_weight=model.review_threshold, warning_mode="never")
    con.execute(
        f"""CREATE OR REPLACE TABLE {PAIRS_TABLE} AS
        SELECT entity_id_l, entity_id_r, unique_id_l, unique_id_r, match_weight, match_probability,
               COLUMNS('^mw_'), false AS linked, false AS review
        FROM {predictions.physical_name}"""
    )
    drop_splink_tables(con)
    return int(con.execute(f"SELECT count(*) FROM {PAIRS_TABLE}").fetchall()[0][0])


def cluster_entities(
    con: duckdb.DuckDBPyConnection, model: LinkageModel, entities: int, *, constrained: bool = True
) -> tuple[np.ndarray, int, int]:
    """Cluster the entities along pairs at or above the link threshold.

    Returns:
        The cluster label of every entity, the number of edges used and the number of refused merges.
    """
    edges = con.execute(review_edges_sql(), [model.link_threshold]).fetchnumpy()
    left = np.asarray(edges["entity_id_l"], dtype=np.int64)
    right = np.asarray(edges["entity_id_r"], dtype=np.int64)
    weight = np.asarray(edges["match_weight"], dtype=np.float64)
    forced = np.asarray(edges["forced"], dtype=bool)
    if not constrained:
        return connected_components(entities, left, right), len(left), 0
    labels, stats = constrained_clusters(load_entities(con), left, right, weight, forced)
    return labels, len(left), stats.refused


def review_edges_sql() -> str:
    """Edges to cluster on: pairs at or above the link threshold (bound parameter) that no reviewer rejected,
    plus pairs a reviewer accepted (forced, processed first), as entity ids."""
    return f"""
WITH decided AS (
    SELECT a.entity_id AS l, b.entity_id AS r, q.status
    FROM review_queue q
    JOIN {RECORDS_TABLE} a ON a.unique_id = q.unique_id_l
    JOIN {RECORDS_TABLE} b ON b.unique_id = q.unique_id_r
    WHERE q.status <> 'pending' AND a.entity_id <> b.entity_id
)
SELECT p.entity_id_l, p.entity_id_r, p.match_weight, false AS forced
FROM {PAIRS_TABLE} p
WHERE p.match_weight >= ? AND NOT EXISTS (
    SELECT 1 FROM decided d WHERE d.status = 'rejected'
      AND least(d.l, d.r) = least(p.entity_id_l, p.entity_id_r)
      AND greatest(d.l, d.r) = greatest(p.entity_id_l, p.entity_id_r))
UNION ALL
SELECT l, r, 'Infinity'::DOUBLE, true FROM decided WHERE status = 'accepted'"""


def write_clusters(con: duckdb.DuckDBPyConnection, labels: np.ndarray, model: LinkageModel) -> tuple[int, int]:
    """Write :data:`CLUSTERS_TABLE` from entity labels and flag linked and review pairs.

    Returns:
        The number of clusters and of review pairs.
    """
    table = pa.table({"entity_id": np.arange(len(labels), dtype=np.int32), "cluster_id": labels})
    con.register("__linkage_labels", table)
    try:
        con.execute(
            f"""CREATE OR REPLACE TABLE {CLUSTERS_TABLE} AS
            SELECT r.source, r.record_id, l.cluster_id, NULL::VARCHAR AS person_key
            FROM {RECORDS_TABLE} r JOIN __linkage_labels l USING (entity_id) ORDER BY r.unique_id"""
        )
        con.execute(
            f"""UPDATE {PAIRS_TABLE} p SET linked = (a.cluster_id = b.cluster_id)
            FROM __linkage_labels a, __linkage_labels b
            WHERE a.entity_id = p.entity_id_l AND b.entity_id = p.entity_id_r"""
        )
    finally:
        con.unregister("__linkage_labels")
    con.execute(f"UPDATE {PAIRS_TABLE} SET review = NOT linked AND match_weight >= ?", [model.review_threshold])
    clusters = con.execute(f"SELECT count(DISTINCT cluster_id) FROM {CLUSTERS_TABLE}").fetchall()[0][0]
    review = con.execute(f"SELECT count(*) FROM {PAIRS_TABLE} WHERE review").fetchall()[0][0]
    return int(clusters), int(review)


def link_all(
    con: duckdb.DuckDBPyConnection,
    model: LinkageModel,
    *,
    constrained: bool = True,
    night: dt.date | None = None,
) -> LinkResult:
    """Link every record of the warehouse behind ``con`` into persons with ``model``.

    Args:
        con: Warehouse connection.
        model: A trained model (see :func:`linkage.model.train_model` / :func:`linkage.model.load_model`).
        constrained: Use the anti-chaining clustering (default) instead of plain connected components.
        night: The night the person keys are assigned for (today by default); see
            :func:`linkage.person_keys.assign_person_keys`.

    Returns:
        Counts and timings; the results are in ``linkage_clusters`` and ``linkage_pairs``.

    Raises:
        EmptyInputError: the warehouse holds no tokenized record.
    """
    began = time.perf_counter()
    ensure_review_schema(con)
    records, entities = build_input(con)
    if records == 0:
        raise EmptyInputError("there are no tokenized records to link")
    predicted = time.perf_counter()
    pairs = predict_pairs(con, model)
    clustered = time.perf_counter()
    labels, edges, refused = cluster_entities(con, model, entities, constrained=constrained)
    clusters, review = write_clusters(con, labels, model)
    keys = assign_person_keys(con, CLUSTERS_TABLE, night or dt.date.today())
    con.execute(
        f"""UPDATE {CLUSTERS_TABLE} c SET person_key = p.person_key FROM person_keys p
        WHERE p.source = c.source AND p.record_id = c.record_id"""
    )
    finished = time.perf_counter()
    result = LinkResult(
        model_id=model.model_id,
        method="constrained" if constrained else "connected_components",
        records=records,
        entities=entities,
        pairs_scored=pairs,
        edges_above_threshold=edges,
        refused_merges=refused,
        review_pairs=review,
        clusters=clusters,
        seconds_input=round(predicted - began, 3),
        seconds_predict=round(clustered - predicted, 3),
        seconds_cluster=round(finished - clustered, 3),
        keys=keys,
    )
    log.info("linked %d records into %d clusters (%d review pairs)", records, clusters, review)
    return result
