"""Linkage of the warehouse into persons: a full relink, or tonight's new records against the person index.

Tables written (linkage zone; pseudonyms and counts only):

* ``linkage_pairs``: every scored pair of entities with a match weight at or above the model's review
  threshold (``unique_id_l < unique_id_r`` are the entities' representative records), with ``linked``
  (same cluster after clustering) and ``review`` (a pair a person should look at: between the review and the
  link threshold, or above the link threshold but refused by the cluster constraints);
* ``linkage_clusters``: ``source``, ``record_id``, ``cluster_id`` (one row per record) and ``person_key``;
* ``linkage_state``: the model and token version the tables above were made with.

:func:`link_all` scores every pair the blocking rules produce (Splink's ``predict_within`` over all entities).
:func:`link_new` adds only tonight's records (:func:`linkage.input.append_input`) and scores the new entities
among themselves (``predict_within``) and against the existing ones (``predict_between``); pairs between two
old entities are already in ``linkage_pairs``. Term frequencies are a snapshot frozen with the model
(:mod:`linkage.term_frequencies`), so a pair gets the same weight whichever way it was scored.

Clustering is per connected component of the graph of links (pairs at or above the link threshold, minus
rejected, plus accepted review decisions): the constrained clustering never merges across components, so
reclustering only the components that hold a new or changed entity gives exactly the result of clustering
everything. :func:`link` chooses: a full relink when the model or the pseudonym version changed (or nothing
was linked yet), an increment otherwise.

Person keys are random pseudonymous ids that stay with a person across runs
(:func:`linkage.person_keys.assign_person_keys`, which records merges and splits in ``person_key_history``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pyarrow as pa

from linkage.cluster import Dob, Entity, connected_components, constrained_clusters
from linkage.errors import EmptyInputError
from linkage.input import INPUT_TABLE, RECORDS_TABLE, TOUCHED_TABLE, append_input, build_input, input_counts
from linkage.model import LinkageModel, drop_splink_tables, make_linker_with_db
from linkage.person_keys import KeyAssignment, assign_person_keys
from linkage.schema import CLUSTERS_TABLE, PAIRS_TABLE, STATE_TABLE, ensure_schema
from linkage.term_frequencies import default_month_days, month_day_key_sql, register_term_frequencies

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)

# Two entities (aliases a, b) with the same document and date of birth: linked whatever their weight.
SAME_DOCUMENT_AND_BIRTH_SQL = "(a.tok_document = b.tok_document AND a.tok_dob = b.tok_dob)"


@dataclass(frozen=True)
class LinkResult:
    """Counts and timings of one linkage run (no identifiers)."""

    model_id: str
    method: str
    mode: str  # full or incremental
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
    new_records: int = 0
    reclustered_entities: int = 0


# The day each record was made (crossing, visa decision, permit issue): when its document was seen in use.
# Left by an incremental linkage for the night's coherence figures (linkage.coherence): the clusters its reclustered
# entities left and joined, and the linkage_state.finished_at of the linkage before it.
COHERENCE_SCOPE = "__linkage_coherence_scope"
COHERENCE_SCOPE_BASE = "__linkage_coherence_base"
SEEN_SQL = """
SELECT 'border' AS source, record_id, crossing_time::DATE AS day FROM border_crossings
UNION ALL SELECT 'visa', record_id, decision_date FROM visa_decisions
UNION ALL SELECT 'permit', record_id, issue_date FROM residence_permits"""


def entity_attributes_sql(entities: str | None = None) -> str:
    """SQL of the attributes the merge constraints need, one row per entity in ``entity_id`` order.

    With ``entities`` (a table with an ``entity_id`` column), only those entities. ``first_seen`` and ``last_seen``
    (days since 1970-01-01) span the dates of the entity's records: the period its document was seen in use.
    """
    chosen = f"entity_id IN (SELECT entity_id FROM {entities})" if entities else "entity_id IS NOT NULL"
    return f"""
WITH seen AS (
    SELECT r.entity_id, min(s.day) - DATE '1970-01-01' AS first_seen, max(s.day) - DATE '1970-01-01' AS last_seen
    FROM {RECORDS_TABLE} r JOIN ({SEEN_SQL}) s USING (source, record_id) WHERE r.{chosen}
    GROUP BY r.entity_id
)
SELECT sex, tok_dob, tok_dob_swapped, tok_dob_year, tok_dob_month, tok_dob_day, {month_day_key_sql()},
       list_distinct(list_concat(coalesce(tok_given_parts, []), coalesce(tok_given_phonetic, []))),
       tok_name_set, tok_document, coalesce(tok_document_edits, []), doc_issuing_country,
       coalesce(first_seen, 0), coalesce(last_seen, 0)
FROM {INPUT_TABLE} LEFT JOIN seen USING (entity_id) WHERE {chosen} ORDER BY entity_id"""


def load_entities(
    con: duckdb.DuckDBPyConnection, entities: str | None = None, default_month_days: set[int] | None = None
) -> list[Entity]:
    """The constraint attributes of every entity (or of those in table ``entities``), in ``entity_id`` order.

    ``default_month_days`` are the keys of month-and-day combinations that are default dates (see
    :func:`linkage.term_frequencies.default_month_days`).
    """
    defaults = default_month_days or set()
    out = []
    for (
        sex,
        dob,
        swapped,
        year,
        month,
        day,
        month_day,
        given,
        name_set,
        document,
        edits,
        issuer,
        first_seen,
        last_seen,
    ) in con.execute(entity_attributes_sql(entities)).fetchall():
        out.append(
            Entity(
                sex=sex,
                dob=None if dob is None else Dob(dob, swapped, year, month, day, month_day in defaults),
                given=frozenset(given),
                name_set=name_set,
                document=document,
                document_edits=frozenset(edits),
                issuer=issuer,
                first_seen=int(first_seen),
                last_seen=int(last_seen),
            )
        )
    return out


def kept_pairs_sql(predictions: str, threshold: float) -> str:
    """The scored pairs of ``predictions`` that linkage keeps, ordered ``unique_id_l < unique_id_r``: those at or
    above ``threshold`` (the review threshold), and those with the same document and date of birth whatever
    their weight (:data:`SAME_DOCUMENT_AND_BIRTH_SQL`, flagged in ``same_document_and_birth``). Every backend's
    pairs pass through it."""
    return f"""
        SELECT CASE WHEN p.unique_id_l < p.unique_id_r THEN p.entity_id_l ELSE p.entity_id_r END AS entity_id_l,
               CASE WHEN p.unique_id_l < p.unique_id_r THEN p.entity_id_r ELSE p.entity_id_l END AS entity_id_r,
               least(p.unique_id_l, p.unique_id_r) AS unique_id_l,
               greatest(p.unique_id_l, p.unique_id_r) AS unique_id_r,
               p.match_weight, p.match_probability, COLUMNS('^mw_'),
               {SAME_DOCUMENT_AND_BIRTH_SQL} AS same_document_and_birth
        FROM {predictions} p
        JOIN {INPUT_TABLE} a ON a.entity_id = p.entity_id_l
        JOIN {INPUT_TABLE} b ON b.entity_id = p.entity_id_r
        WHERE p.match_weight >= {float(threshold)!r}
           OR {SAME_DOCUMENT_AND_BIRTH_SQL}"""


class PairScorer(Protocol):
    """What a linkage backend does: score entity pairs into :data:`PAIRS_TABLE` (see :mod:`linkage.backends`)."""

    name: str

    def predict(self, con: duckdb.DuckDBPyConnection, model: LinkageModel, *, first_new: int | None) -> int: ...


def store_pairs(con: duckdb.DuckDBPyConnection, predictions: str, threshold: float, *, replace: bool) -> None:
    """Write (or append) Splink predictions into :data:`PAIRS_TABLE` with ``unique_id_l < unique_id_r``.

    Kept: pairs at or above ``threshold`` (the review threshold), and pairs with the same document and date of
    birth whatever their weight (see :func:`review_edges_sql`).
    """
    select = f"""SELECT * EXCLUDE (same_document_and_birth), false AS linked, false AS review
        FROM ({kept_pairs_sql(predictions, threshold)})"""
    if replace:
        con.execute(f"CREATE OR REPLACE TABLE {PAIRS_TABLE} AS {select}")
    else:
        con.execute(f"INSERT INTO {PAIRS_TABLE} BY NAME {select}")


def predict_pairs(con: duckdb.DuckDBPyConnection, model: LinkageModel, *, first_new: int | None = None) -> int:
    """Score entity pairs with ``model`` into :data:`PAIRS_TABLE`; returns the number of pairs added.

    Args:
        con: Warehouse connection with the entity table built.
        model: The trained model.
        first_new: None scores every pair (the table is replaced). Otherwise entities with this id or above are
            new: they are scored among themselves and against the older ones, and the pairs are appended.
    """
    db, linker = make_linker_with_db(con, model.settings, check_columns=False)  # checked when trained
    register_term_frequencies(con, db, linker, model)
    threshold = model.review_threshold
    before = 0 if first_new is None else int(con.execute(f"SELECT count(*) FROM {PAIRS_TABLE}").fetchall()[0][0])
    try:
        if first_new is None:
            everything = db.register(INPUT_TABLE, dataset_display_name="entities")
            found = linker.inference.predict_within(everything, warning_mode="never")
            store_pairs(con, found.physical_name, threshold, replace=True)
        else:
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW __linkage_new AS SELECT * FROM {INPUT_TABLE} "
                f"WHERE entity_id >= {int(first_new)}"
            )
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW __linkage_old AS SELECT * FROM {INPUT_TABLE} "
                f"WHERE entity_id < {int(first_new)}"
            )
            new = db.register("__linkage_new", dataset_display_name="new_entities")
            old = db.register("__linkage_old", dataset_display_name="old_entities")
            within = linker.inference.predict_within(new, warning_mode="never")
            store_pairs(con, within.physical_name, threshold, replace=False)
            between = linker.inference.predict_between(new, old, warning_mode="never")
            store_pairs(con, between.physical_name, threshold, replace=False)
    finally:
        drop_splink_tables(con)
        con.execute("DROP VIEW IF EXISTS __linkage_new")
        con.execute("DROP VIEW IF EXISTS __linkage_old")
    return int(con.execute(f"SELECT count(*) FROM {PAIRS_TABLE}").fetchall()[0][0]) - before


def review_edges_sql() -> str:
    """Edges to cluster on, as entity ids: pairs at or above the link threshold (bound parameter), and scored pairs
    with the same document (number and issuing country) and the same date of birth whatever their weight, that no
    reviewer rejected; plus pairs a reviewer accepted (forced, processed first).

    The same passport and birth date is one person even when both names were replaced or garbled (marriage, a
    transliteration, a keying error): different people do not share both, and the model, assuming the fields
    independent, can still score such a pair below the link threshold because two name disagreements weigh a
    lot."""
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
JOIN {INPUT_TABLE} a ON a.entity_id = p.entity_id_l
JOIN {INPUT_TABLE} b ON b.entity_id = p.entity_id_r
WHERE (p.match_weight >= ? OR {SAME_DOCUMENT_AND_BIRTH_SQL}) AND NOT EXISTS (
    SELECT 1 FROM decided d WHERE d.status = 'rejected'
      AND least(d.l, d.r) = least(p.entity_id_l, p.entity_id_r)
      AND greatest(d.l, d.r) = greatest(p.entity_id_l, p.entity_id_r))
UNION ALL
SELECT l, r, 'Infinity'::DOUBLE, true FROM decided WHERE status = 'accepted'"""


def decided_entities_sql() -> str:
    """Entities of pairs a reviewer decided, or whose decision was undone, after the last linkage run (their
    components must be reclustered).

    One equi-join per end of the pair, not ``ON e.unique_id IN (q.unique_id_l, q.unique_id_r)``: DuckDB runs that
    condition as a nested-loop join of every record against every queued pair (about 30 s for 1M records and
    3,500 queued pairs, every incremental night), before the ``decided_at`` filter. An entity may come twice (both
    ends); the callers only use the set."""
    return f"""
WITH decided AS (
    SELECT unique_id_l, unique_id_r FROM review_queue
    WHERE decided_at > (SELECT coalesce(max(finished_at), TIMESTAMP '1970-01-01') FROM {STATE_TABLE})
)
SELECT e.entity_id FROM decided q JOIN {RECORDS_TABLE} e ON e.unique_id = q.unique_id_l
UNION ALL
SELECT e.entity_id FROM decided q JOIN {RECORDS_TABLE} e ON e.unique_id = q.unique_id_r"""


@dataclass(frozen=True)
class Clustering:
    """Result of :func:`cluster_entities`: new labels for the entities that were reclustered."""

    entities: np.ndarray  # entity ids reclustered
    labels: np.ndarray  # their cluster ids (the smallest entity id of each cluster)
    edges: int
    refused: int


def cluster_entities(
    con: duckdb.DuckDBPyConnection,
    model: LinkageModel,
    *,
    touched: np.ndarray | None = None,
    constrained: bool = True,
) -> Clustering:
    """Cluster entities along the links, restricted to the components that hold a ``touched`` entity.

    Args:
        con: Warehouse connection.
        model: The model (its link threshold).
        touched: Entity ids that are new or changed; None reclusters everything.
        constrained: Anti-chaining clustering (default) instead of plain connected components.
    """
    n = int(con.execute(f"SELECT count(*) FROM {INPUT_TABLE}").fetchall()[0][0])
    edges = con.execute(review_edges_sql(), [model.link_threshold]).fetchnumpy()
    left = np.asarray(edges["entity_id_l"], dtype=np.int64)
    right = np.asarray(edges["entity_id_r"], dtype=np.int64)
    weight = np.asarray(edges["match_weight"], dtype=np.float64)
    forced = np.asarray(edges["forced"], dtype=bool)
    if touched is None:
        chosen = np.arange(n, dtype=np.int64)
    else:
        components = connected_components(n, left, right)
        hit = np.zeros(n, dtype=bool)
        hit[np.unique(components[touched])] = True
        chosen = np.flatnonzero(hit[components])
    inside = np.zeros(n, dtype=bool)
    inside[chosen] = True
    keep = inside[left] & inside[right]
    left, right, weight, forced = left[keep], right[keep], weight[keep], forced[keep]
    # Only entities at the end of an edge can merge; the others stay alone and need no attributes.
    involved = np.unique(np.concatenate([left, right]))
    local = np.full(n, -1, dtype=np.int64)
    local[involved] = np.arange(len(involved), dtype=np.int64)
    sub_left, sub_right = local[left], local[right]
    labels = np.arange(n, dtype=np.int64)
    refused = 0
    if not constrained:
        labels[involved] = involved[connected_components(len(involved), sub_left, sub_right)]
    else:
        con.register("__linkage_involved", pa.table({"entity_id": involved.astype(np.int32)}))
        try:
            entities = load_entities(con, "__linkage_involved", default_month_days(con, model))
        finally:
            con.unregister("__linkage_involved")
        found, stats = constrained_clusters(entities, sub_left, sub_right, weight, forced)
        labels[involved] = involved[found]
        refused = stats.refused
    return Clustering(chosen, labels[chosen], len(left), refused)


def write_clusters(
    con: duckdb.DuckDBPyConnection, clustering: Clustering, model: LinkageModel, *, full: bool
) -> tuple[int, int]:
    """Store the labels in the entity table and :data:`CLUSTERS_TABLE`, and flag linked and review pairs.

    Only the reclustered entities' records and pairs are rewritten (all of them when ``full``); their records
    are left in the temp table ``__linkage_changed`` (source, record_id, cluster_id) for the person keys.

    Returns:
        The number of clusters and of review pairs in the whole warehouse.
    """
    table = pa.table({"entity_id": clustering.entities.astype(np.int32), "cluster_id": clustering.labels})
    con.register("__linkage_labels", table)
    try:
        if full:
            con.execute(f"DROP TABLE IF EXISTS {COHERENCE_SCOPE}")
        else:  # the clusters the reclustered entities leave and join, for the coherence figures of the night
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE {COHERENCE_SCOPE} AS
                SELECT cluster_id FROM {INPUT_TABLE}
                WHERE cluster_id IS NOT NULL AND entity_id IN (SELECT entity_id FROM __linkage_labels)
                UNION SELECT cluster_id FROM __linkage_labels"""
            )
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {COHERENCE_SCOPE_BASE} AS "
                f"SELECT max(finished_at) AS linked_at FROM {STATE_TABLE}"
            )
        con.execute(
            f"""UPDATE {INPUT_TABLE} e SET cluster_id = l.cluster_id FROM __linkage_labels l
            WHERE l.entity_id = e.entity_id"""
        )
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE __linkage_changed AS
            SELECT r.source, r.record_id, l.cluster_id
            FROM {RECORDS_TABLE} r JOIN __linkage_labels l USING (entity_id) ORDER BY r.unique_id"""
        )
    finally:
        con.unregister("__linkage_labels")
    if full:
        con.execute(
            f"""CREATE OR REPLACE TABLE {CLUSTERS_TABLE} AS
            SELECT source, record_id, cluster_id, NULL::VARCHAR AS person_key FROM __linkage_changed"""
        )
        scope = ""
    else:
        # Only the records whose cluster changed are deleted and inserted again (a reclustered entity mostly keeps
        # its cluster: 4 of 16,000 records changed in an increment against 1M). Rewriting them all made DuckDB's
        # checkpoint merge the table's row groups again, 0.27-0.35 s a night.
        con.execute(
            f"""DELETE FROM {CLUSTERS_TABLE} c USING __linkage_changed n
            WHERE c.source = n.source AND c.record_id = n.record_id AND c.cluster_id IS DISTINCT FROM n.cluster_id"""
        )
        con.execute(
            f"""INSERT INTO {CLUSTERS_TABLE}
            SELECT n.source, n.record_id, n.cluster_id, NULL::VARCHAR FROM __linkage_changed n
            ANTI JOIN {CLUSTERS_TABLE} c ON c.source = n.source AND c.record_id = n.record_id"""
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE __linkage_rescored AS SELECT DISTINCT cluster_id FROM __linkage_changed"
        )
        scope = """AND (a.cluster_id IN (SELECT cluster_id FROM __linkage_rescored)
                    OR b.cluster_id IN (SELECT cluster_id FROM __linkage_rescored))"""
    con.execute(
        f"""UPDATE {PAIRS_TABLE} p SET linked = (a.cluster_id = b.cluster_id),
               review = (a.cluster_id <> b.cluster_id AND p.match_weight >= ?)
        FROM {INPUT_TABLE} a, {INPUT_TABLE} b
        WHERE a.entity_id = p.entity_id_l AND b.entity_id = p.entity_id_r {scope}""",
        [model.review_threshold],
    )
    con.execute("DROP TABLE IF EXISTS __linkage_rescored")
    clusters = con.execute(f"SELECT count(DISTINCT cluster_id) FROM {INPUT_TABLE}").fetchall()[0][0]
    review = con.execute(f"SELECT count(*) FROM {PAIRS_TABLE} WHERE review").fetchall()[0][0]
    return int(clusters), int(review)


def _finish(con: duckdb.DuckDBPyConnection, model: LinkageModel, night: dt.date) -> KeyAssignment:
    """Person keys for the records of reclustered entities; copy them into :data:`CLUSTERS_TABLE`."""
    keys = assign_person_keys(con, "__linkage_changed", night)
    con.execute(
        f"""UPDATE {CLUSTERS_TABLE} c SET person_key = p.person_key
        FROM person_keys p, __linkage_changed n
        WHERE p.source = c.source AND p.record_id = c.record_id
          AND n.source = c.source AND n.record_id = c.record_id
          AND c.person_key IS DISTINCT FROM p.person_key"""
    )
    con.execute("DROP TABLE IF EXISTS __linkage_changed")
    token_version = pseudonym_version(con)
    con.execute(f"DELETE FROM {STATE_TABLE}")
    con.execute(f"INSERT INTO {STATE_TABLE} VALUES (?, ?, now())", [model.model_id, token_version])
    return keys


def link_all(
    con: duckdb.DuckDBPyConnection,
    model: LinkageModel,
    *,
    constrained: bool = True,
    night: dt.date | None = None,
    scorer: PairScorer | None = None,
    input_built: bool = False,
) -> LinkResult:
    """Link every record of the warehouse behind ``con`` into persons with ``model`` (a full relink).

    ``scorer`` is the backend that scores the pairs (:mod:`linkage.backends`; DuckDB when None). With
    ``input_built`` the record and entity tables are used as they are: the caller has just built them
    (:func:`linkage.input.build_input`) from the same records, to train the model on them.

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
    return _link(con, model, night=night, full=True, constrained=constrained, scorer=scorer, input_built=input_built)


def link_new(
    con: duckdb.DuckDBPyConnection,
    model: LinkageModel,
    *,
    night: dt.date | None = None,
    scorer: PairScorer | None = None,
) -> LinkResult:
    """Link the records not linked yet against the person index and among themselves (an increment).

    The warehouse must have been linked with ``model`` before (see :func:`needs_full_relink`). Components
    holding a new entity, an entity that gained records or an entity of a review decision taken since the
    last run are reclustered; everything else keeps its clusters and person keys.
    """
    return _link(con, model, night=night, full=False, scorer=scorer)


def _touched_entities(con: duckdb.DuckDBPyConnection) -> np.ndarray:
    """Entities new tonight or with new records (from :func:`append_input`) and entities of fresh decisions."""
    touched = np.concatenate(
        [
            np.asarray(con.execute(f"SELECT entity_id FROM {TOUCHED_TABLE}").fetchnumpy()["entity_id"]),
            np.asarray(con.execute(decided_entities_sql()).fetchnumpy()["entity_id"]),
        ]
    ).astype(np.int64)
    con.execute(f"DROP TABLE IF EXISTS {TOUCHED_TABLE}")
    return touched


def _link(
    con: duckdb.DuckDBPyConnection,
    model: LinkageModel,
    *,
    night: dt.date | None,
    full: bool,
    constrained: bool = True,
    scorer: PairScorer | None = None,
    input_built: bool = False,
) -> LinkResult:
    began = time.perf_counter()
    ensure_schema(con)
    if full:
        new_records, new_entities = input_counts(con) if input_built else build_input(con)
        if new_records == 0:
            raise EmptyInputError("there are no tokenized records to link")
        first_new = None
    else:
        increment = append_input(con)
        new_records, new_entities, first_new = increment.records, increment.new_entities, increment.first_new_entity
    predicted = time.perf_counter()
    if not new_entities:
        pairs = 0
    elif scorer is None:
        pairs = predict_pairs(con, model, first_new=first_new)
    else:
        pairs = scorer.predict(con, model, first_new=first_new)
    clustered = time.perf_counter()
    touched = None if full else _touched_entities(con)
    clustering = cluster_entities(con, model, touched=touched, constrained=constrained)
    clusters, review = write_clusters(con, clustering, model, full=full)
    keys = _finish(con, model, night or dt.date.today())
    finished = time.perf_counter()
    records, entities = con.execute(
        f"SELECT (SELECT count(*) FROM {RECORDS_TABLE}), count(*) FROM {INPUT_TABLE}"
    ).fetchall()[0]
    log.info(
        "linked %d new records (%d new entities, %d pairs scored); reclustered %d entities: %d persons, %d review",
        new_records,
        new_entities,
        pairs,
        len(clustering.entities),
        clusters,
        review,
    )
    return LinkResult(
        model_id=model.model_id,
        method="constrained" if constrained else "connected_components",
        mode="full" if full else "incremental",
        records=int(records),
        entities=int(entities),
        pairs_scored=pairs,
        edges_above_threshold=clustering.edges,
        refused_merges=clustering.refused,
        review_pairs=review,
        clusters=clusters,
        seconds_input=round(predicted - began, 3),
        seconds_predict=round(clustered - predicted, 3),
        seconds_cluster=round(finished - clustered, 3),
        keys=keys,
        new_records=new_records,
        reclustered_entities=len(clustering.entities),
    )


def pseudonym_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The key version of the pseudonyms linkage reads (``identity_tokens``, its input), or None when empty.

    A rekey moves every pseudonym to one new version; a linkage made under another version must start over.
    """
    version = con.execute("SELECT max(key_version) FROM identity_tokens").fetchall()[0][0]
    return None if version is None else int(version)


def require_full_relink(con: duckdb.DuckDBPyConnection) -> None:
    """Make the next linkage relink everything (its tables are stale: pseudonym columns were refilled)."""
    ensure_schema(con)
    con.execute(f"UPDATE {STATE_TABLE} SET token_version = NULL")


def forget_missing_records(con: duckdb.DuckDBPyConnection) -> int:
    """Drop the person keys of records no longer in the input (their partition was re-ingested) and make the next
    linkage relink everything; returns the keys dropped. Runs in the caller's transaction."""
    ensure_schema(con)
    gone = """FROM person_keys p WHERE NOT EXISTS (
        SELECT 1 FROM identity_tokens t WHERE t.source = p.source AND t.record_id = p.record_id)"""
    dropped = int(con.execute(f"SELECT count(*) {gone}").fetchall()[0][0])
    con.execute(f"DELETE {gone}")
    require_full_relink(con)
    return dropped


def linked_at(con: duckdb.DuckDBPyConnection) -> dt.datetime | None:
    """When the last linkage finished, or None when nothing was linked yet."""
    ensure_schema(con)
    found = con.execute(f"SELECT max(finished_at) FROM {STATE_TABLE}").fetchall()[0][0]
    return found if isinstance(found, dt.datetime) else None


def needs_full_relink(con: duckdb.DuckDBPyConnection, model: LinkageModel) -> str | None:
    """Why the next run must relink everything (no linkage yet, another model, re-keyed pseudonyms), or None."""
    tables = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if not {STATE_TABLE, INPUT_TABLE, RECORDS_TABLE, PAIRS_TABLE, CLUSTERS_TABLE} <= tables:
        return "nothing was linked yet"
    state = con.execute(f"SELECT model_id, token_version FROM {STATE_TABLE}").fetchall()
    if not state:
        return "nothing was linked yet"
    model_id, token_version = state[0]
    if model_id != model.model_id:
        return "the model changed"
    current = pseudonym_version(con)
    if token_version != current:
        return "the pseudonyms were re-keyed"
    return None


def link(
    con: duckdb.DuckDBPyConnection,
    model: LinkageModel,
    *,
    night: dt.date | None = None,
    full: bool = False,
    scorer: PairScorer | None = None,
) -> LinkResult:
    """Link tonight's records incrementally, or everything when ``full`` or :func:`needs_full_relink` says so;
    ``scorer`` is the backend that scores the pairs (:mod:`linkage.backends`; DuckDB when None)."""
    reason = "asked for" if full else needs_full_relink(con, model)
    if reason is not None:
        log.info("full relink: %s", reason)
        return link_all(con, model, night=night, scorer=scorer)
    return link_new(con, model, night=night, scorer=scorer)
