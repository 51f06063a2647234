"""The tables linkage owns, declared in one place, and their numbered migrations.

Kept tables (created by migrations 1, 3, 4 and 5, never rebuilt):

* ``linkage_models``: every trained model (settings JSON, training summary, thresholds), one version each;
* ``linkage_term_frequencies``: the term frequencies frozen with each model, and its learnt default birth dates;
* ``linkage_state``: the model and pseudonym key version of the last linkage (what forces a full relink);
* ``review_queue``: pairs for clerical review (agreement patterns, decisions; never a name or date);
* ``review_decisions``: every decision on a queued pair and every revision of one, with who, when and why;
* ``person_keys``, ``person_key_history``: the stable pseudonymous person keys and their merges and splits;
* ``linkage_nights``: one row of counts per linkage night, the baseline that tonight is compared against;
* ``person_record_keys``: each person key's secret random record key, what the cell key method of disclosure
  control sums (:mod:`linkage.person_keys`);
* ``linkage_model_promotions``: every decision to promote a candidate model or keep the current one, with who,
  when, why and the comparison's figures (:mod:`linkage.promotion`).

Derived tables (rebuilt by every full relink, appended by incremental nights): ``linkage_records``,
``linkage_input`` (:mod:`linkage.input`), ``linkage_pairs`` and ``linkage_clusters`` (:mod:`linkage.link`); and
(migration 6) ``linkage_coherence``, each person's coherence figures, with ``linkage_coherence_state``, the
linkage they are those of (:func:`linkage.coherence.coherence_figures`: a night counts again only the persons
its incremental linkage reclustered).
Migration 2 adds the pseudonym and frequency-key columns that were introduced after a warehouse was linked;
migration 3 the decision log (filled with the decisions already taken) and the per-night figures; migration 4
the record keys (drawn for every person key that exists); migration 5 a model's status (``candidate`` until
promoted; the models saved before count as promoted at their training time, so a warehouse keeps its model), the
run that trained it, and the promotion decisions.

Linkage reads the pipeline's ``identity_tokens`` and record tables as its input and writes nothing else.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from linkage.input import INPUT_TABLE, RECORDS_TABLE, TF_KEY_COLUMNS, TOKEN_COLUMNS
from privacy.schema import Component, Migration, apply_migrations, table_columns
from privacy.sql import quote_identifier
from privacy.tokens import ALL_TOKENS

MODELS_TABLE = "linkage_models"
TF_TABLE = "linkage_term_frequencies"
STATE_TABLE = "linkage_state"
REVIEW_TABLE = "review_queue"
PERSON_KEYS_TABLE = "person_keys"
PERSON_KEY_HISTORY_TABLE = "person_key_history"
REVIEW_DECISIONS_TABLE = "review_decisions"
NIGHTS_TABLE = "linkage_nights"
RECORD_KEYS_TABLE = "person_record_keys"
PAIRS_TABLE = "linkage_pairs"
CLUSTERS_TABLE = "linkage_clusters"
PROMOTIONS_TABLE = "linkage_model_promotions"
COHERENCE_TABLE = "linkage_coherence"
COHERENCE_STATE_TABLE = "linkage_coherence_state"

MODELS_DDL = f"""CREATE TABLE IF NOT EXISTS {MODELS_TABLE} (
    model_id VARCHAR PRIMARY KEY, version INTEGER NOT NULL, created_at TIMESTAMP NOT NULL,
    settings JSON NOT NULL, summary JSON NOT NULL, link_threshold DOUBLE NOT NULL, review_threshold DOUBLE NOT NULL)"""
TF_DDL = f"""CREATE TABLE IF NOT EXISTS {TF_TABLE} (
    model_id VARCHAR NOT NULL, column_name VARCHAR NOT NULL, value UBIGINT NOT NULL, tf DOUBLE NOT NULL)"""
STATE_DDL = f"""CREATE TABLE IF NOT EXISTS {STATE_TABLE} (
    model_id VARCHAR NOT NULL, token_version INTEGER, finished_at TIMESTAMP NOT NULL)"""
REVIEW_DDL = f"""CREATE TABLE IF NOT EXISTS {REVIEW_TABLE} (
    pair_id VARCHAR PRIMARY KEY, unique_id_l VARCHAR NOT NULL, unique_id_r VARCHAR NOT NULL,
    match_weight DOUBLE NOT NULL, match_probability DOUBLE, agreement VARCHAR NOT NULL,
    queued_on DATE NOT NULL, status VARCHAR NOT NULL DEFAULT 'pending', decided_by VARCHAR,
    decided_at TIMESTAMP)"""
PERSON_KEYS_DDL = f"""CREATE TABLE IF NOT EXISTS {PERSON_KEYS_TABLE} (
    source VARCHAR NOT NULL, record_id VARCHAR NOT NULL, person_key VARCHAR NOT NULL,
    assigned_on DATE NOT NULL, PRIMARY KEY (source, record_id))"""
PERSON_KEY_HISTORY_DDL = f"""CREATE TABLE IF NOT EXISTS {PERSON_KEY_HISTORY_TABLE} (
    night DATE NOT NULL, old_key VARCHAR NOT NULL, new_key VARCHAR NOT NULL, reason VARCHAR NOT NULL,
    records BIGINT NOT NULL)"""

REVIEW_DECISIONS_DDL = f"""CREATE TABLE IF NOT EXISTS {REVIEW_DECISIONS_TABLE} (
    pair_id VARCHAR NOT NULL, decision VARCHAR NOT NULL, reviewer VARCHAR NOT NULL, decided_at TIMESTAMP NOT NULL,
    reason VARCHAR)"""
# Decisions taken before the log existed: each decided pair's current decision, without a reason.
REVIEW_DECISIONS_BACKFILL = f"""INSERT INTO {REVIEW_DECISIONS_TABLE}
    SELECT pair_id, status, coalesce(decided_by, 'unknown'), coalesce(decided_at, TIMESTAMP '1970-01-01'), NULL
    FROM {REVIEW_TABLE} WHERE status <> 'pending'"""
NIGHTS_DDL = f"""CREATE TABLE IF NOT EXISTS {NIGHTS_TABLE} (
    night DATE NOT NULL, finished_at TIMESTAMP NOT NULL, mode VARCHAR NOT NULL, model_version INTEGER NOT NULL,
    new_records BIGINT NOT NULL, records BIGINT NOT NULL, persons BIGINT NOT NULL, new_persons BIGINT NOT NULL,
    joined_existing BIGINT NOT NULL, merged_keys BIGINT NOT NULL, split_keys BIGINT NOT NULL,
    review_queued BIGINT NOT NULL, review_pending BIGINT NOT NULL, largest_person_records BIGINT NOT NULL,
    persons_incompatible_birth_dates BIGINT NOT NULL, persons_concurrent_documents BIGINT NOT NULL,
    persons_repeated_direction BIGINT NOT NULL)"""

RECORD_KEYS_DDL = f"""CREATE TABLE IF NOT EXISTS {RECORD_KEYS_TABLE} (
    person_key VARCHAR PRIMARY KEY, record_key UINTEGER NOT NULL, assigned_on DATE NOT NULL)"""


# A model is a candidate until promoted; the current model is the last promoted one (linkage.model.load_model).
# Models saved before statuses existed were in use as they were saved: they count as promoted then.
MODEL_STATUS_DDL = (
    f"ALTER TABLE {MODELS_TABLE} ADD COLUMN IF NOT EXISTS status VARCHAR",
    f"ALTER TABLE {MODELS_TABLE} ADD COLUMN IF NOT EXISTS promoted_at TIMESTAMP",
    f"ALTER TABLE {MODELS_TABLE} ADD COLUMN IF NOT EXISTS trained_for VARCHAR",
    f"UPDATE {MODELS_TABLE} SET status = 'promoted', promoted_at = created_at WHERE status IS NULL",
)
PROMOTIONS_DDL = f"""CREATE TABLE IF NOT EXISTS {PROMOTIONS_TABLE} (
    decided_at TIMESTAMP NOT NULL, candidate_id VARCHAR NOT NULL, candidate_version INTEGER NOT NULL,
    current_id VARCHAR, current_version INTEGER, decision VARCHAR NOT NULL, forced BOOLEAN NOT NULL,
    decided_by VARCHAR NOT NULL, reason VARCHAR NOT NULL, failed VARCHAR[] NOT NULL, comparison JSON NOT NULL)"""

# Each person's coherence figures (linkage.coherence), kept so that a night counts again only the persons its
# incremental linkage reclustered; the state names the linkage (linkage_state.finished_at) they are those of.
COHERENCE_DDL = f"""CREATE TABLE IF NOT EXISTS {COHERENCE_TABLE} (
    cluster_id BIGINT, records BIGINT NOT NULL, birth_dates BIGINT NOT NULL, documents BIGINT NOT NULL,
    incompatible_dates BOOLEAN NOT NULL, same_issuer BOOLEAN NOT NULL, concurrent_documents BOOLEAN NOT NULL,
    crossings BIGINT NOT NULL, repeats BIGINT NOT NULL)"""
COHERENCE_STATE_DDL = f"CREATE TABLE IF NOT EXISTS {COHERENCE_STATE_TABLE} (linked_at TIMESTAMP)"


def add_record_keys(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``person_record_keys`` and draw a record key for every person key that has none."""
    from linkage.person_keys import draw_record_keys

    con.execute(RECORD_KEYS_DDL)
    draw_record_keys(con, dt.datetime.now(dt.UTC).date())


def add_token_columns(con: duckdb.DuckDBPyConnection) -> None:
    """Add to ``linkage_records`` and ``linkage_input`` (when linked already) the pseudonym and frequency-key
    columns introduced since; NULL for existing entities (a null level) until the next full relink fills them."""
    types = {spec.column: spec.sql_type for spec in ALL_TOKENS} | dict.fromkeys(TF_KEY_COLUMNS, "UBIGINT")
    for table in (RECORDS_TABLE, INPUT_TABLE):
        present = table_columns(con, table)
        if present is None:
            continue
        for column in (c for c in (*TOKEN_COLUMNS, *TF_KEY_COLUMNS) if c not in present):
            con.execute(
                f"ALTER TABLE {quote_identifier(table)} ADD COLUMN IF NOT EXISTS {quote_identifier(column)} "
                f"{types[column]}"
            )


LINKAGE = Component(
    name="linkage",
    tables=(
        MODELS_TABLE,
        TF_TABLE,
        STATE_TABLE,
        REVIEW_TABLE,
        PERSON_KEYS_TABLE,
        PERSON_KEY_HISTORY_TABLE,
        REVIEW_DECISIONS_TABLE,
        NIGHTS_TABLE,
        RECORD_KEYS_TABLE,
        PROMOTIONS_TABLE,
        COHERENCE_TABLE,
        COHERENCE_STATE_TABLE,
        RECORDS_TABLE,
        INPUT_TABLE,
        PAIRS_TABLE,
        CLUSTERS_TABLE,
    ),
    migrations=(
        Migration(
            1,
            "models, frozen term frequencies, link state, review queue, person keys",
            (MODELS_DDL, TF_DDL, STATE_DDL, REVIEW_DDL, PERSON_KEYS_DDL, PERSON_KEY_HISTORY_DDL),
        ),
        Migration(2, "pseudonym and frequency-key columns of linked records and entities", apply=add_token_columns),
        Migration(
            3,
            "review decision log (decisions, revisions, reasons) and per-night linkage figures",
            (REVIEW_DECISIONS_DDL, REVIEW_DECISIONS_BACKFILL, NIGHTS_DDL),
        ),
        Migration(4, "secret random record keys of the person keys (cell key method)", apply=add_record_keys),
        Migration(
            5,
            "model status (candidate, promoted: earlier models count as promoted), training run, promotion decisions",
            (*MODEL_STATUS_DDL, PROMOTIONS_DDL),
        ),
        Migration(
            6,
            "each person's coherence figures, counted again only for reclustered persons",
            (COHERENCE_DDL, COHERENCE_STATE_DDL),
        ),
    ),
)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Bring linkage's tables up to date on a database that is not a migrated warehouse (a scratch or test
    database), with the privacy log its steps append to; on a warehouse opened by the pipeline this is a no-op.
    Runs in the caller's transaction, if any."""
    from privacy.audit.log import AUDIT

    apply_migrations(con, [AUDIT, LINKAGE], transactional=False)
