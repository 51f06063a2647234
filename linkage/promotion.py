"""Candidate linkage models: compared with the current model, promoted only when they are not worse.

A model saved as a candidate (:func:`linkage.model.save_model` with ``candidate``) is not used until promoted; the
current model, the one nightly linkage uses, is the last model promoted. :func:`compare_models` measures a candidate
against the current model on two things, and :func:`promote` acts on the result:

(a) **The clerks' review decisions.** Every decided pair of ``review_queue`` (accepted: same person, rejected:
    different persons) whose two records are still in the warehouse is scored by each model, on the pseudonymous
    comparison vectors linkage scores every pair with (the pair is scored directly, whether or not a blocking rule
    would find it). A model gets a decision wrong when it scores an accepted pair below its own link threshold or a
    rejected pair at or above it. Pairs whose records are gone (a re-ingested partition) are counted, not scored.

(b) **What the candidate would do to the persons.** Both models relink every record of the warehouse from scratch,
    as the first night after a promotion does (a full relink: build the input, score every blocked pair with the
    model and its term frequencies, cluster with the review decisions and the merge constraints), in an in-memory
    sandbox attached to the warehouse's connection: nothing of the warehouse is written (the connection may be read
    only), and no person key is assigned. Measured for each model, as the linkage quality gate
    (``expectations/linkage_*.json``) measures a night: the largest person (records), persons with incompatible
    birth dates (:mod:`linkage.coherence`), persons whose birth years are more than one apart (the
    ``linkage_persons`` suite's critical check); and between the two: the records that would change person (their
    person would gain or lose records), the current model's persons that would be merged or split. Reported but not
    judged: persons, concurrent documents, repeated-direction crossings, links. Not compared: the share of a night's
    new records that joined a known person, a measure of a night's increment (a promotion is followed by a full
    relink, which the gate does not band).

**Not worse** (the rule, :func:`judge`), with the :class:`Tolerance` given:

1. no more wrong review decisions than the current model (with no decisions this holds vacuously, and the
   comparison says so);
2. no more persons with incompatible birth dates, and no more persons with birth years more than one apart;
3. a largest person no larger than the current model's plus 10 % of it (at least 2 records);
4. at most 5 % of the records changing person.

With no current model the candidate is promoted (nothing to compare with). A candidate that is worse is not
promoted unless an operator forces it with a reason; either way the decision is recorded in
``linkage_model_promotions`` (who, when, why, the figures) and in the privacy log (``model_promoted`` or
``model_kept``: counts only). Promoting the current model again changes nothing, and a candidate already kept against
the same current model is not recorded twice, so a step can be re-run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import math
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from linkage.coherence import coherence_figures
from linkage.errors import EmptyInputError, LinkageError, ModelNotFoundError
from linkage.input import INPUT_TABLE, RECORD_TABLES, RECORDS_TABLE, build_input
from linkage.link import cluster_entities, predict_pairs, write_clusters
from linkage.model import (
    CANDIDATE,
    CURRENT_SQL,
    MODEL_COLUMNS,
    PROMOTED,
    LinkageModel,
    drop_splink_tables,
    make_linker_with_db,
    model_from_row,
)
from linkage.schema import (
    MODELS_TABLE,
    PAIRS_TABLE,
    PROMOTIONS_TABLE,
    REVIEW_TABLE,
    STATE_TABLE,
    TF_TABLE,
    ensure_schema,
)
from linkage.term_frequencies import register_term_frequencies
from privacy.audit.log import append as audit
from privacy.schema import VERSION_TABLE
from privacy.sql import quote_identifier

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)

SANDBOX = "__promotion"  # the in-memory catalog the comparison relinks in
# What the comparison reads from the warehouse (views in the sandbox); everything it writes stays in the sandbox.
SANDBOX_READS = ("identity_tokens", *RECORD_TABLES.values(), REVIEW_TABLE, VERSION_TABLE)
DECIDED_SIDES = "__promotion_decided_sides"  # one row per record of a decided pair (unique_id = pair id + side)
DECISIONS = ("accepted", "rejected")
PROMOTED_DECISION, KEPT_DECISION, CURRENT_DECISION = "promoted", "kept", "current"


class PromotionError(LinkageError):
    """A promotion cannot be decided as asked (no reviewer, a forced promotion without a reason, a stale comparison,
    a worse candidate refused)."""


@dataclass(frozen=True)
class Tolerance:
    """How far the candidate's gate measures may be from the current model's (see the module docstring)."""

    largest_person_share: float = 0.10  # the largest person may grow by this share of the current one ...
    largest_person_records: int = 2  # ... and by at least this many records
    changed_share: float = 0.05  # the share of the records that may change person

    def largest_allowed(self, current: int) -> int:
        """The largest person the candidate may have when the current model's largest has ``current`` records."""
        return current + max(self.largest_person_records, math.ceil(current * self.largest_person_share))


@dataclass(frozen=True)
class DecisionFigures:
    """(a) The review decisions, and how many each model gets wrong at its own link threshold."""

    decided: int  # decided pairs scored (both records still in the warehouse)
    accepted: int
    rejected: int
    missing: int  # decided pairs with a record no longer in the warehouse: not scored
    candidate_wrong: int
    current_wrong: int | None  # None without a current model


@dataclass(frozen=True)
class GateFigures:
    """(b) One model's persons after a full relink of the warehouse's records (counts only)."""

    persons: int
    largest_person_records: int
    persons_incompatible_birth_dates: int
    persons_birth_years_apart: int  # birth years more than one apart (the linkage_persons suite's critical check)
    persons_concurrent_documents: int
    persons_repeated_direction: int
    links: int  # scored entity pairs at or above the model's link threshold
    seconds: float


@dataclass(frozen=True)
class Comparison:
    """A candidate against the current model: the figures, the rules it fails (empty: not worse), and notes."""

    candidate_id: str
    candidate_version: int
    current_id: str | None
    current_version: int | None
    records: int
    entities: int
    decisions: DecisionFigures
    candidate: GateFigures
    current: GateFigures | None
    records_changing_person: int  # records whose person would gain or lose records (0 without a current model)
    persons_merged: int  # current persons whose records would share a person with another current person's
    persons_split: int  # current persons whose records would be spread over several persons
    failed: tuple[str, ...]
    notes: tuple[str, ...]
    tolerance: Tolerance = field(default_factory=Tolerance)
    seconds: float = 0.0

    @property
    def not_worse(self) -> bool:
        return not self.failed

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (XCom): ids, counts and rule names only."""
        out = asdict(self)
        out["failed"], out["notes"] = list(self.failed), list(self.notes)
        out["not_worse"] = self.not_worse
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Comparison:
        """The inverse of :meth:`as_dict`."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["decisions"] = DecisionFigures(**data["decisions"])
        values["candidate"] = GateFigures(**data["candidate"])
        values["current"] = GateFigures(**data["current"]) if data.get("current") else None
        values["tolerance"] = Tolerance(**data.get("tolerance") or {})
        values["failed"], values["notes"] = tuple(data.get("failed") or ()), tuple(data.get("notes") or ())
        return cls(**values)

    def figures(self) -> dict[str, int]:
        """The comparison's figures as named counts (the privacy log's ``figures``)."""
        out = {
            "records": self.records,
            "decisions": self.decisions.decided,
            "decisions_missing": self.decisions.missing,
            "wrong_decisions_candidate": self.decisions.candidate_wrong,
            "records_changing_person": self.records_changing_person,
            "persons_merged": self.persons_merged,
            "persons_split": self.persons_split,
        }
        if self.decisions.current_wrong is not None:
            out["wrong_decisions_current"] = self.decisions.current_wrong
        for role, figures in (("candidate", self.candidate), ("current", self.current)):
            if figures is not None:
                out |= {
                    f"{name}_{role}": int(getattr(figures, name))
                    for name in (
                        "persons",
                        "largest_person_records",
                        "persons_incompatible_birth_dates",
                        "persons_birth_years_apart",
                    )
                }
        return out

    def explain(self) -> list[str]:
        """One phrase per failed rule, with the figures (no identifiers)."""
        d, cand, cur, tol = self.decisions, self.candidate, self.current, self.tolerance
        phrases = {
            "review_decisions": f"{d.candidate_wrong} of {d.decided} review decisions wrong (current model "
            f"{d.current_wrong})",
            "incompatible_birth_dates": f"{cand.persons_incompatible_birth_dates} persons with incompatible birth "
            f"dates (current model {cur.persons_incompatible_birth_dates if cur else '-'})",
            "birth_years_apart": f"{cand.persons_birth_years_apart} persons with birth years more than one apart "
            f"(current model {cur.persons_birth_years_apart if cur else '-'})",
            "largest_person": f"a largest person of {cand.largest_person_records} records (current model "
            f"{cur.largest_person_records if cur else '-'}, at most "
            f"{tol.largest_allowed(cur.largest_person_records) if cur else '-'} allowed)",
            "records_changing_person": f"{self.records_changing_person:,} of {self.records:,} records would change "
            f"person (at most {tol.changed_share:.0%} allowed)",
        }
        return [phrases.get(rule, rule) for rule in self.failed]


def judge(
    decisions: DecisionFigures,
    candidate: GateFigures,
    current: GateFigures | None,
    *,
    records: int,
    changing: int,
    tolerance: Tolerance,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The rules the candidate fails (empty: not worse) and notes on what was compared (see the module docstring)."""
    if current is None:
        return (), ("no current model: the candidate is promoted without a comparison",)
    failed: list[str] = []
    notes: list[str] = []
    if decisions.decided == 0:
        notes.append("no review decisions to score: the decision rule holds vacuously")
    elif decisions.current_wrong is not None and decisions.candidate_wrong > decisions.current_wrong:
        failed.append("review_decisions")
    if decisions.missing:
        notes.append(f"{decisions.missing} decided pairs not scored: a record of theirs is no longer in the warehouse")
    if candidate.persons_incompatible_birth_dates > current.persons_incompatible_birth_dates:
        failed.append("incompatible_birth_dates")
    if candidate.persons_birth_years_apart > current.persons_birth_years_apart:
        failed.append("birth_years_apart")
    if candidate.largest_person_records > tolerance.largest_allowed(current.largest_person_records):
        failed.append("largest_person")
    if changing > tolerance.changed_share * records:
        failed.append("records_changing_person")
    return tuple(failed), tuple(notes)


# -- the sandbox ---------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def sandbox(con: duckdb.DuckDBPyConnection, models: list[LinkageModel]) -> Iterator[None]:
    """Relink in an in-memory catalog attached to ``con`` for the block, then detach it.

    Inside the block the sandbox is the default catalog and the only one on the search path: the linkage tables
    (``linkage_input``, ``linkage_records``, ``linkage_pairs``, ``linkage_clusters``, ``linkage_state``,
    ``linkage_term_frequencies``) are the sandbox's own, so the nightly code relinks there unchanged. The warehouse's
    records, pseudonyms, review queue and schema versions are read through views (:data:`SANDBOX_READS`); the
    models' frozen term frequencies are copied. ``con`` may be read only.
    """
    catalog = str(con.execute("SELECT current_database()").fetchall()[0][0])
    path = str(con.execute("SELECT current_setting('search_path')").fetchall()[0][0])
    source = f"{quote_identifier(catalog)}.main"
    con.execute(f"ATTACH ':memory:' AS {SANDBOX} (READ_WRITE)")
    try:
        con.execute(f"USE {SANDBOX}")
        con.execute(f"SET search_path = '{SANDBOX}.main'")
        for table in SANDBOX_READS:
            name = quote_identifier(table)
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM {source}.{name}")
        con.execute(
            f"CREATE TABLE {TF_TABLE} AS SELECT * FROM {source}.{TF_TABLE} WHERE list_contains(?, model_id)",
            [[m.model_id for m in models]],
        )
        con.execute(f"CREATE TABLE {STATE_TABLE} AS SELECT * FROM {source}.{STATE_TABLE} LIMIT 0")
        yield
    finally:
        with contextlib.suppress(Exception):  # the original error, if any, wins
            drop_splink_tables(con)
        views = con.execute(
            "SELECT view_name FROM duckdb_views() WHERE temporary "
            "AND view_name LIKE '\\_\\_linkage\\_tf\\_%' ESCAPE '\\'"
        ).fetchall()
        for (view,) in views:
            con.execute(f"DROP VIEW IF EXISTS temp.main.{quote_identifier(view)}")
        con.execute("DROP TABLE IF EXISTS temp.main.__linkage_changed")
        con.execute(f"USE {quote_identifier(catalog)}")
        if path:
            con.execute(f"SET search_path = '{path}'")
        else:
            con.execute("RESET search_path")
        con.execute(f"DETACH {SANDBOX}")


def _relink(con: duckdb.DuckDBPyConnection, model: LinkageModel, role: str) -> GateFigures:
    """A full relink with ``model`` inside the sandbox; the persons are kept in ``__promotion_<role>``."""
    began = time.perf_counter()
    con.execute(f"DELETE FROM {STATE_TABLE}")
    con.execute(f"INSERT INTO {STATE_TABLE} VALUES (?, NULL, now())", [model.model_id])  # coherence's defaults
    predict_pairs(con, model)
    clustering = cluster_entities(con, model)
    write_clusters(con, clustering, model, full=True)
    con.execute("DROP TABLE IF EXISTS __linkage_changed")
    coherence = coherence_figures(con)
    apart = con.execute(
        f"""SELECT count(*) FROM (SELECT cluster_id FROM {INPUT_TABLE} WHERE birth_year IS NOT NULL
            GROUP BY cluster_id HAVING max(birth_year) - min(birth_year) > 1)"""
    ).fetchall()[0][0]
    links = con.execute(
        f"SELECT count(*) FROM {PAIRS_TABLE} WHERE match_weight >= ?", [model.link_threshold]
    ).fetchall()[0][0]
    con.execute(
        f"""CREATE OR REPLACE TABLE __promotion_{role} AS
        SELECT r.unique_id, e.cluster_id FROM {RECORDS_TABLE} r JOIN {INPUT_TABLE} e USING (entity_id)"""
    )
    return GateFigures(
        persons=coherence.persons,
        largest_person_records=coherence.largest_person_records,
        persons_incompatible_birth_dates=coherence.persons_incompatible_birth_dates,
        persons_birth_years_apart=int(apart),
        persons_concurrent_documents=coherence.persons_concurrent_documents,
        persons_repeated_direction=coherence.persons_repeated_direction,
        links=int(links),
        seconds=round(time.perf_counter() - began, 3),
    )


def _changes(con: duckdb.DuckDBPyConnection) -> tuple[int, int, int]:
    """Records changing person, current persons merged and split, between ``__promotion_current`` and
    ``__promotion_candidate`` (the same records, each model's persons)."""
    row = con.execute(
        """WITH both_models AS (
            SELECT c.cluster_id AS cur, k.cluster_id AS cand
            FROM __promotion_current c JOIN __promotion_candidate k USING (unique_id)),
        counted AS (
            SELECT cur, count(*) OVER (PARTITION BY cur) AS n_cur, count(*) OVER (PARTITION BY cand) AS n_cand,
                   count(*) OVER (PARTITION BY cur, cand) AS n_both
            FROM both_models)
        SELECT count(*) FILTER (WHERE n_both < n_cur OR n_both < n_cand),
               count(DISTINCT cur) FILTER (WHERE n_both < n_cand),
               count(DISTINCT cur) FILTER (WHERE n_both < n_cur)
        FROM counted"""
    ).fetchall()[0]
    return int(row[0]), int(row[1]), int(row[2])


def _decided_sides(con: duckdb.DuckDBPyConnection) -> tuple[int, int, int, int]:
    """Build :data:`DECIDED_SIDES` from the decided pairs whose records are both in the sandbox's records; returns
    (decided and scorable, accepted, rejected, missing)."""
    con.execute(
        f"""CREATE OR REPLACE TABLE __promotion_decided AS
        SELECT q.pair_id, q.status, q.unique_id_l, q.unique_id_r FROM {REVIEW_TABLE} q
        WHERE q.status IN ('accepted', 'rejected')
          AND q.unique_id_l IN (SELECT unique_id FROM {RECORDS_TABLE})
          AND q.unique_id_r IN (SELECT unique_id FROM {RECORDS_TABLE})"""
    )
    sides = " UNION ALL ".join(
        f"""SELECT d.pair_id || ':{side}' AS unique_id, d.pair_id, r.* EXCLUDE (unique_id, source, record_id)
            FROM __promotion_decided d JOIN {RECORDS_TABLE} r ON r.unique_id = d.unique_id_{side}"""
        for side in ("l", "r")
    )
    con.execute(f"CREATE OR REPLACE TABLE {DECIDED_SIDES} AS {sides}")
    decided, accepted = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE status = 'accepted') FROM __promotion_decided"
    ).fetchall()[0]
    everything = con.execute(f"SELECT count(*) FROM {REVIEW_TABLE} WHERE status IN ('accepted', 'rejected')")
    missing = int(everything.fetchall()[0][0]) - int(decided)
    return int(decided), int(accepted), int(decided) - int(accepted), missing


def _wrong_decisions(con: duckdb.DuckDBPyConnection, model: LinkageModel) -> int:
    """Decided pairs ``model`` gets wrong at its link threshold: accepted scored below, rejected at or above."""
    db, linker = make_linker_with_db(con, model.settings, DECIDED_SIDES)
    register_term_frequencies(con, db, linker, model)
    try:
        scored = linker.inference.predict_within(
            db.register(DECIDED_SIDES, dataset_display_name="decided_pairs"),
            blocking_rules_to_generate_predictions=["l.pair_id = r.pair_id"],  # each decided pair, scored once
            warning_mode="never",
        )
        wrong = con.execute(
            f"""SELECT count(*) FROM __promotion_decided d
            LEFT JOIN (SELECT split_part(unique_id_l, ':', 1) AS pair_id, match_weight
                       FROM {quote_identifier(scored.physical_name)}) s USING (pair_id)
            WHERE (d.status = 'accepted' AND coalesce(s.match_weight, '-Infinity'::DOUBLE) < ?)
               OR (d.status = 'rejected' AND coalesce(s.match_weight, '-Infinity'::DOUBLE) >= ?)""",
            [model.link_threshold, model.link_threshold],
        ).fetchall()[0][0]
    finally:
        drop_splink_tables(con)
    return int(wrong)


def compare_models(
    con: duckdb.DuckDBPyConnection,
    candidate: LinkageModel,
    current: LinkageModel | None,
    *,
    tolerance: Tolerance | None = None,
) -> Comparison:
    """Compare ``candidate`` with ``current`` (None: there is no current model) on the warehouse behind ``con``.

    Writes nothing to the warehouse (``con`` may be read only): the relinks happen in :func:`sandbox`. Takes about
    two full relinks' time (one without a current model).

    Raises:
        EmptyInputError: the warehouse holds no tokenized record.
    """
    began = time.perf_counter()
    tolerance = tolerance or Tolerance()
    ensure_schema(con)
    models = [candidate] if current is None else [current, candidate]
    with sandbox(con, models):
        records, entities = build_input(con)
        if records == 0:
            raise EmptyInputError("there are no tokenized records to compare the models on")
        decided, accepted, rejected, missing = _decided_sides(con)
        wrong = {m.model_id: _wrong_decisions(con, m) if decided else 0 for m in models}
        figures = {"candidate": _relink(con, candidate, "candidate")}
        changing = merged = split = 0
        if current is not None:
            figures["current"] = _relink(con, current, "current")
            changing, merged, split = _changes(con)
    decisions = DecisionFigures(
        decided=decided,
        accepted=accepted,
        rejected=rejected,
        missing=missing,
        candidate_wrong=wrong[candidate.model_id],
        current_wrong=None if current is None else wrong[current.model_id],
    )
    failed, notes = judge(
        decisions,
        figures["candidate"],
        figures.get("current"),
        records=records,
        changing=changing,
        tolerance=tolerance,
    )
    comparison = Comparison(
        candidate_id=candidate.model_id,
        candidate_version=candidate.version,
        current_id=None if current is None else current.model_id,
        current_version=None if current is None else current.version,
        records=records,
        entities=entities,
        decisions=decisions,
        candidate=figures["candidate"],
        current=figures.get("current"),
        records_changing_person=changing,
        persons_merged=merged,
        persons_split=split,
        failed=failed,
        notes=notes,
        tolerance=tolerance,
        seconds=round(time.perf_counter() - began, 3),
    )
    log.info(
        "compared model v%d with %s on %d records in %.1f s: %s",
        candidate.version,
        "no current model" if current is None else f"v{current.version}",
        records,
        comparison.seconds,
        "not worse" if comparison.not_worse else "worse: " + ", ".join(failed),
    )
    return comparison


# -- models and decisions ------------------------------------------------------------------------------------------


def current_model(con: duckdb.DuckDBPyConnection) -> LinkageModel | None:
    """The current model (the last promoted), or None when no model was promoted."""
    ensure_schema(con)
    rows = con.execute(CURRENT_SQL).fetchall()
    return model_from_row(rows[0]) if rows else None


def find_model(con: duckdb.DuckDBPyConnection, ref: str) -> LinkageModel:
    """The model ``ref`` names: its id, a unique prefix of it (at least 4 characters), or ``vN`` (version N).

    Raises:
        ModelNotFoundError: no such model, or a prefix that names several (one line, fit for an operator).
    """
    ensure_schema(con)
    text = ref.strip().lower()
    if re.fullmatch(r"v\d{1,9}", text):
        rows = con.execute(f"SELECT {MODEL_COLUMNS} FROM {MODELS_TABLE} WHERE version = ?", [int(text[1:])])
    elif re.fullmatch(r"[0-9a-f]{4,32}", text):
        rows = con.execute(f"SELECT {MODEL_COLUMNS} FROM {MODELS_TABLE} WHERE starts_with(model_id, ?)", [text])
    else:
        raise ModelNotFoundError(
            f"{ref[:40]!r} is not a model id: give the id `migralink model list` shows (or vN for version N)"
        )
    found = rows.fetchall()
    if not found:
        raise ModelNotFoundError(f"no linkage model {ref[:40]} (see `migralink model list`)")
    if len(found) > 1:
        raise ModelNotFoundError(f"{ref[:40]} names {len(found)} linkage models: give more of the id")
    return model_from_row(found[0])


def candidate_of_run(con: duckdb.DuckDBPyConnection, trained_for: str) -> LinkageModel | None:
    """The model trained for run ``trained_for`` (a DAG run), if one was saved: a re-run reuses it."""
    ensure_schema(con)
    rows = con.execute(
        f"SELECT {MODEL_COLUMNS} FROM {MODELS_TABLE} WHERE trained_for = ? ORDER BY version DESC LIMIT 1",
        [trained_for],
    ).fetchall()
    return model_from_row(rows[0]) if rows else None


@dataclass(frozen=True)
class Promotion:
    """What :func:`promote` decided: ``promoted``, ``kept`` (the current model stays) or ``current`` (the model is
    the current one already: nothing done)."""

    decision: str
    model_id: str
    model_version: int
    previous_id: str | None
    previous_version: int | None
    forced: bool
    failed: tuple[str, ...]
    reason: str
    recorded: bool  # False when nothing was written (a repeat)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["failed"] = list(self.failed)
        return out


def _automatic_reason(comparison: Comparison) -> str:
    if comparison.current_version is None:
        return "no current model"
    if comparison.not_worse:
        scope = (
            f"{comparison.decisions.decided} review decisions"
            if comparison.decisions.decided
            else "no review decisions (vacuous)"
        )
        return f"not worse than v{comparison.current_version}: {scope}, gate measures within tolerance"
    return f"worse than v{comparison.current_version}: " + "; ".join(comparison.explain())


def promote(
    con: duckdb.DuckDBPyConnection,
    candidate_id: str,
    comparison: Comparison,
    *,
    decided_by: str,
    force: bool = False,
    reason: str | None = None,
    at: dt.datetime | None = None,
) -> Promotion:
    """Promote candidate ``candidate_id`` when ``comparison`` says it is not worse (or ``force``), else keep the
    current model; record the decision (``linkage_model_promotions`` and the privacy log). Runs in the caller's
    transaction.

    Promoting the current model is a no-op (``current``); a candidate already kept against the same current model is
    kept again without a second record.

    Raises:
        ModelNotFoundError: no such model.
        PromotionError: no ``decided_by``; ``force`` without a ``reason``; a comparison of another candidate or of
            another current model than today's (compare again).
    """
    ensure_schema(con)
    who = decided_by.strip()
    if not who:
        raise PromotionError("who decides is required")
    reason = (reason or "").strip() or None
    if force and reason is None:
        raise PromotionError("a forced promotion needs a reason (--reason TEXT), which is recorded")
    candidate = find_model(con, candidate_id)
    current = current_model(con)
    before_id = None if current is None else current.model_id
    before_version = None if current is None else current.version
    if current is not None and current.model_id == candidate.model_id:
        return Promotion(
            CURRENT_DECISION,
            candidate.model_id,
            candidate.version,
            before_id,
            before_version,
            forced=False,
            failed=(),
            reason="already the current model",
            recorded=False,
        )
    if comparison.candidate_id != candidate.model_id:
        raise PromotionError(f"the comparison given is of another model than v{candidate.version}")
    if comparison.current_id != before_id:
        raise PromotionError(
            f"the current model changed since the comparison (it was "
            f"{'none' if comparison.current_version is None else f'v{comparison.current_version}'}, it is "
            f"{'none' if before_version is None else f'v{before_version}'}): compare again"
        )
    when = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(tzinfo=None)
    figures = comparison.figures()
    if comparison.not_worse or force:
        forced = not comparison.not_worse
        why = reason or _automatic_reason(comparison)
        con.execute(
            f"UPDATE {MODELS_TABLE} SET status = ?, promoted_at = ? WHERE model_id = ?",
            [PROMOTED, when, candidate.model_id],
        )
        _record(con, when, candidate, current, PROMOTED_DECISION, forced, who, why, comparison)
        audit(
            con,
            "model_promoted",
            model_version=candidate.version,
            previous_version=before_version,
            decided_by=who,
            forced=forced,
            reason_given=reason is not None,
            failed=list(comparison.failed),
            figures=figures,
        )
        log.info("promoted linkage model v%d (%s)", candidate.version, why)
        return Promotion(
            PROMOTED_DECISION,
            candidate.model_id,
            candidate.version,
            before_id,
            before_version,
            forced=forced,
            failed=comparison.failed,
            reason=why,
            recorded=True,
        )
    assert current is not None  # without a current model nothing is worse
    why = _automatic_reason(comparison)
    repeat = con.execute(
        f"SELECT count(*) FROM {PROMOTIONS_TABLE} WHERE candidate_id = ? AND current_id = ? AND decision = ?",
        [candidate.model_id, current.model_id, KEPT_DECISION],
    ).fetchall()[0][0]
    if not repeat:
        _record(con, when, candidate, current, KEPT_DECISION, False, who, why, comparison)
        audit(
            con,
            "model_kept",
            model_version=current.version,
            candidate_version=candidate.version,
            decided_by=who,
            failed=list(comparison.failed),
            figures=figures,
        )
    log.warning("kept linkage model v%d: candidate v%d is %s", current.version, candidate.version, why)
    return Promotion(
        KEPT_DECISION,
        current.model_id,
        current.version,
        before_id,
        before_version,
        forced=False,
        failed=comparison.failed,
        reason=why,
        recorded=not repeat,
    )


def _record(
    con: duckdb.DuckDBPyConnection,
    when: dt.datetime,
    candidate: LinkageModel,
    current: LinkageModel | None,
    decision: str,
    forced: bool,
    who: str,
    why: str,
    comparison: Comparison,
) -> None:
    con.execute(
        f"INSERT INTO {PROMOTIONS_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            when,
            candidate.model_id,
            candidate.version,
            None if current is None else current.model_id,
            None if current is None else current.version,
            decision,
            forced,
            who,
            why,
            list(comparison.failed),
            json.dumps(comparison.as_dict()),
        ],
    )


@dataclass(frozen=True)
class ModelRow:
    """One saved model as ``migralink model list`` shows it."""

    version: int
    model_id: str
    created_at: dt.datetime
    status: str
    promoted_at: dt.datetime | None
    current: bool
    link_threshold: float
    review_threshold: float
    last_decision: str | None  # the last promotion decision on it (promoted, kept), if any
    last_failed: tuple[str, ...]


def list_models(con: duckdb.DuckDBPyConnection) -> list[ModelRow]:
    """Every saved model, newest version first, with its status, whether it is the current one and the last
    promotion decision taken on it."""
    ensure_schema(con)
    current = current_model(con)
    rows = con.execute(
        f"""SELECT m.version, m.model_id, m.created_at, m.status, m.promoted_at, m.link_threshold,
                   m.review_threshold, p.decision, p.failed
            FROM {MODELS_TABLE} m
            LEFT JOIN (SELECT candidate_id, decision, failed FROM {PROMOTIONS_TABLE}
                       QUALIFY row_number() OVER (PARTITION BY candidate_id ORDER BY decided_at DESC) = 1) p
              ON p.candidate_id = m.model_id
            ORDER BY m.version DESC"""
    ).fetchall()
    return [
        ModelRow(
            version=int(version),
            model_id=str(model_id),
            created_at=created_at,
            status=str(status or CANDIDATE),
            promoted_at=promoted_at,
            current=current is not None and model_id == current.model_id,
            link_threshold=float(link),
            review_threshold=float(review),
            last_decision=None if decision is None else str(decision),
            last_failed=tuple(failed or ()),
        )
        for version, model_id, created_at, status, promoted_at, link, review, decision, failed in rows
    ]


def promotion_log(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    """Every promotion decision, newest first: (decided_at, candidate version, current version, decision, forced,
    decided_by, reason, failed)."""
    ensure_schema(con)
    return con.execute(
        f"""SELECT decided_at, candidate_version, current_version, decision, forced, decided_by, reason, failed
            FROM {PROMOTIONS_TABLE} ORDER BY decided_at DESC"""
    ).fetchall()
