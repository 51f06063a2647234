"""The nightly linkage step: records into persons with stable person keys, uncertain pairs to review.

Runs after ingest in its own transaction: if it fails, tonight's records stay ingested (and are linked by the
next run) and no linkage table is half written. Tonight's new records are linked against the person index and
among themselves (:func:`linkage.link.link_new`); the whole warehouse is relinked only when the model or the
pseudonyms changed, or when asked (``full``). The saved model is used; a new
warehouse without a model gets one trained first, and the summary says so. Retraining is otherwise a separate,
deliberate step (``migralink model train``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from linkage import (
    PAIRS_TABLE,
    ModelNotFoundError,
    PairScorer,
    build_input,
    coherence_figures,
    enqueue_pairs,
    link,
    link_all,
    load_model,
    record_night,
    save_model,
    train_model,
    write_report,
)
from pipeline.errors import PipelineError
from pipeline.warehouse.connection import transaction
from privacy.audit.log import append as audit

log = logging.getLogger(__name__)

CHART_CACHE = ".chart-cache"  # under the warehouse: the linkage report's charts already rendered

MIN_RECORDS_TO_TRAIN = 500  # fewer records than this give EM too few pairs to estimate anything
TRAINING_SEED = 20240101


@dataclass(frozen=True)
class LinkStepSummary:
    """What tonight's linkage did (counts only)."""

    status: str  # linked, current (nothing to do), skipped (too little data for a first model)
    reason: str
    trained: bool = False
    mode: str = ""  # full or incremental
    new_records: int = 0
    model_id: str = ""
    model_version: int = 0
    records: int = 0
    persons: int = 0
    new_persons: int = 0
    merged_keys: int = 0
    split_keys: int = 0
    review_pairs_queued: int = 0  # new pairs queued tonight
    review_pairs_pending: int = 0  # pairs waiting for a decision, tonight's and earlier nights'
    # Coherence (linkage.coherence): persons that look like different people merged.
    persons_incompatible_birth_dates: int = 0
    persons_concurrent_documents: int = 0
    persons_repeated_direction: int = 0
    largest_person_records: int = 0
    report: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def tokenized_records(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute("SELECT count(*) FROM identity_tokens").fetchall()[0][0])


class TooFewRecordsError(PipelineError):
    """The warehouse has too few records to train a linkage model."""


def check_training_data(con: duckdb.DuckDBPyConnection) -> int:
    """The number of pseudonymized records to train on; refuses fewer than :data:`MIN_RECORDS_TO_TRAIN`.

    Raises:
        TooFewRecordsError: too few records for EM to estimate anything.
    """
    records = tokenized_records(con)
    if records < MIN_RECORDS_TO_TRAIN:
        noun = "record" if records == 1 else "records"
        raise TooFewRecordsError(
            f"{records:,} {noun}: too few to train a linkage model (needs {MIN_RECORDS_TO_TRAIN:,})"
        )
    return records


def train_and_save(  # type: ignore[no-untyped-def]
    con: duckdb.DuckDBPyConnection, *, seed: int = TRAINING_SEED, rebuild_input: bool = True
):
    """Train a model on the whole warehouse and save it as the next version (``rebuild_input``: see
    :func:`linkage.model.train_model`).

    Training runs outside a transaction (Splink's sampling steps abort an enclosing one); it only writes
    scratch tables, which it drops. Saving the model is atomic.
    """
    model = train_model(con, seed=seed, rebuild_input=rebuild_input)
    with transaction(con):
        saved = save_model(con, model)
        audit(con, "model_trained", model_version=saved.version, records=saved.summary.records)
        return saved


def linkage_is_current(con: duckdb.DuckDBPyConnection) -> bool:
    """True when every record has a person key and no review decision came after the last linkage."""
    # More records than person keys (one per record: the table's key) means some record has none, without the
    # anti join of a million records with a million keys (0.17 s a night that brought new records).
    tokens, keys = con.execute(
        "SELECT (SELECT count(*) FROM identity_tokens), (SELECT count(*) FROM person_keys)"
    ).fetchall()[0]
    if tokens > keys:
        return False
    unkeyed = con.execute(
        "SELECT EXISTS (SELECT 1 FROM identity_tokens ANTI JOIN person_keys USING (source, record_id))"
    ).fetchall()[0][0]
    newer_decisions = con.execute(
        "SELECT count(*) FROM review_queue WHERE decided_at > "
        "(SELECT coalesce(max(finished_at), TIMESTAMP '1970-01-01') FROM linkage_runs)"
    ).fetchall()[0][0]
    return not unkeyed and newer_decisions == 0


def link_night(
    con: duckdb.DuckDBPyConnection,
    night: dt.date,
    *,
    reports: Path | None = None,
    full: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    scorer: PairScorer | None = None,
    chart_cache: Path | None = None,
) -> LinkStepSummary:
    """Link tonight's records into persons for ``night``; train a model first if the warehouse has none.

    Does nothing (status ``current``) when every record already has a person key, no reviewer decided
    anything since the last linkage and no ``full`` relink was asked for. With ``reports``, the night's linkage
    quality report (HTML) is written there (its charts kept in ``chart_cache`` when given, see
    :class:`linkage.report.ChartCache`). ``progress(stage, done, total)`` is told when each stage (training,
    linking, report) starts and ends.
    """
    tell = progress or (lambda _stage, _done, _total: None)
    if not full and linkage_is_current(con):
        return LinkStepSummary("current", "every record already has a person key; nothing new to link")
    records = tokenized_records(con)
    trained = False
    try:
        model = load_model(con)
    except ModelNotFoundError:
        try:
            check_training_data(con)
        except TooFewRecordsError as exc:
            return LinkStepSummary("skipped", str(exc), records=records)
        log.info("no linkage model yet: training one on %d records", records)
        tell("training a first linkage model", 0, 1)
        # The linkage input, built once: training reads it, and the full link that follows uses it as it is.
        build_input(con)
        model = train_and_save(con, rebuild_input=False)
        tell("training a first linkage model", 1, 1)
        trained = True
    tell("linking records into persons", 0, 1)
    with transaction(con):
        if trained:  # a first model: everything is linked, from the input training has just read
            result = link_all(con, model, night=night, scorer=scorer, input_built=True)
        else:
            result = link(con, model, night=night, full=full, scorer=scorer)
        con.execute(f"CREATE OR REPLACE TEMP VIEW tonight_review AS SELECT * FROM {PAIRS_TABLE} WHERE review")
        queued = enqueue_pairs(con, "tonight_review", lower=float("-inf"), upper=float("inf"), night=night)
        con.execute("DROP VIEW tonight_review")
        con.execute(
            "INSERT INTO linkage_runs VALUES (?, now(), ?, ?, ?)", [night, result.records, result.clusters, queued]
        )
        coherence = coherence_figures(con, incremental=True)
        figures = record_night(con, night, result, model_version=model.version, queued=queued, coherence=coherence)
        audit(
            con,
            "linked",
            night=night.isoformat(),
            mode=result.mode,
            model_version=model.version,
            records=result.records,
            persons=result.clusters,
            new_persons=result.keys.new_persons,
            merged_keys=result.keys.merged_keys,
            split_keys=result.keys.split_keys,
            review_queued=queued,
        )
    tell("linking records into persons", 1, 1)
    report = (
        write_report(con, model, night, reports, coherence=coherence, chart_cache=chart_cache)
        if reports is not None
        else None
    )
    return LinkStepSummary(
        status="linked",
        report=str(report) if report else "",
        reason="trained a new model first" if trained else "used the saved model",
        trained=trained,
        mode=result.mode,
        new_records=result.new_records,
        model_id=model.model_id,
        model_version=model.version,
        records=result.records,
        persons=result.clusters,
        new_persons=result.keys.new_persons,
        merged_keys=result.keys.merged_keys,
        split_keys=result.keys.split_keys,
        review_pairs_queued=queued,
        review_pairs_pending=figures.review_pending,
        persons_incompatible_birth_dates=coherence.persons_incompatible_birth_dates,
        persons_concurrent_documents=coherence.persons_concurrent_documents,
        persons_repeated_direction=coherence.persons_repeated_direction,
        largest_person_records=coherence.largest_person_records,
    )
