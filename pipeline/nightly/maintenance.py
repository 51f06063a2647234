"""The linkage model's upkeep: train a candidate, compare it with the current model, promote it or keep the current.

The one code path behind ``migralink model train --candidate / compare / promote`` and the DAG ``linkage_model``.
Each step opens the warehouse itself and returns a small dict of ids, counts and rule names (an XCom: no record
data, no pseudonym). The rule for "not worse" is :mod:`linkage.promotion`'s.

* :func:`train_candidate_step` trains on every record and saves the model as a ``candidate`` (writes: run it
  under the warehouse's writer lease, which the read-write connection checks). With ``trained_for`` (a DAG run) a
  second call reuses the candidate the first one saved: re-running the task trains nothing twice.
* :func:`compare_models_step` opens the warehouse read only and compares in an in-memory sandbox: it writes
  nothing. A DAG runs it inside the run's lease all the same, so nothing changes between it and the promotion.
* :func:`promote_step` promotes when the comparison says the candidate is not worse (or the operator forces it
  with a reason), else keeps the current model; the decision is recorded (``linkage_model_promotions`` and the
  privacy log, signed when the log's key is configured). Promoting the current model again changes nothing. The
  next night that links (new records or review decisions) relinks every record with the promoted model.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from linkage import (
    Comparison,
    PromotionError,
    Tolerance,
    candidate_of_run,
    compare_models,
    current_model,
    find_model,
    promote,
    save_model,
    train_model,
)
from pipeline.audit.trail import seal_if_configured
from pipeline.nightly.linking import TRAINING_SEED, check_training_data
from pipeline.nightly.settings import Settings
from pipeline.warehouse.connection import connect, transaction
from privacy.audit.log import append as audit

log = logging.getLogger(__name__)


def _warehouse(settings: Settings) -> Any:
    settings.require("warehouse")
    assert settings.warehouse is not None
    return settings.warehouse


def train_candidate_step(
    settings: Settings, *, seed: int = TRAINING_SEED, trained_for: str | None = None
) -> dict[str, Any]:
    """Train a model on the whole warehouse and save it as a candidate (not used until promoted).

    With ``trained_for`` (a DAG run: ``dag_id/run_id``) the candidate saved for that run before, if any, is returned
    instead (``reused``): a re-run task trains nothing twice.

    Raises:
        pipeline.nightly.linking.TooFewRecordsError: fewer records than a model needs.
    """
    con = connect(_warehouse(settings), create=False)
    try:
        found = candidate_of_run(con, trained_for) if trained_for else None
        if found is not None:
            log.info("reusing candidate v%d, saved for %s", found.version, trained_for)
            model, reused = found, True
        else:
            check_training_data(con)
            trained = train_model(con, seed=seed)  # outside a transaction: Splink's sampling aborts one
            with transaction(con):
                model = save_model(con, trained, candidate=True, trained_for=trained_for)
                audit(
                    con, "model_trained", model_version=model.version, records=model.summary.records, status="candidate"
                )
            reused = False
    finally:
        con.close()
    return {
        "candidate_id": model.model_id,
        "candidate_version": model.version,
        "reused": reused,
        "records": model.summary.records,
        "entities": model.summary.entities,
        "seed": model.summary.seed,
        "seconds": model.summary.seconds,
    }


def compare_models_step(settings: Settings, candidate_id: str, *, tolerance: Tolerance | None = None) -> dict[str, Any]:
    """Compare candidate ``candidate_id`` (an id, a unique prefix of one, or ``vN``) with the current model, on the
    review decisions and on what a full relink would do to the persons (see :mod:`linkage.promotion`). Read only.

    Returns:
        :meth:`linkage.Comparison.as_dict`: both models' figures, the rules the candidate fails (``failed``, empty
        when it is not worse, ``not_worse``) and notes (no current model, no review decisions).

    Raises:
        linkage.ModelNotFoundError: no such model.
    """
    con = connect(_warehouse(settings), create=False, read_only=True)
    try:
        candidate = find_model(con, candidate_id)
        comparison = compare_models(con, candidate, current_model(con), tolerance=tolerance)
    finally:
        con.close()
    return comparison.as_dict()


def promote_step(
    settings: Settings,
    candidate_id: str,
    comparison: Mapping[str, Any],
    *,
    decided_by: str,
    force: bool = False,
    reason: str | None = None,
) -> dict[str, Any]:
    """Promote the candidate when ``comparison`` (from :func:`compare_models_step`) says it is not worse, or when
    ``force`` (with a ``reason``); otherwise keep the current model. The decision is recorded either way, once.

    Returns:
        :meth:`linkage.Promotion.as_dict`: ``decision`` (``promoted``, ``kept``, or ``current`` when the candidate
        is the current model already: nothing done), the model in use afterwards, the rules failed, the reason,
        and whether anything was recorded.

    Raises:
        linkage.ModelNotFoundError: no such model.
        linkage.PromotionError: ``force`` without a reason, or the current model changed since the comparison.
    """
    parsed = Comparison.from_dict(comparison)
    con = connect(_warehouse(settings), create=False)
    try:
        with transaction(con):
            result = promote(con, candidate_id, parsed, decided_by=decided_by, force=force, reason=reason).as_dict()
        if result["recorded"]:
            seal_if_configured(settings, con)
    finally:
        con.close()
    return result


def refused(result: Mapping[str, Any]) -> PromotionError | None:
    """The error a command raises for a candidate kept as worse (None when it was promoted or is current)."""
    if result["decision"] != "kept":
        return None
    return PromotionError(
        f"not promoted: {result['reason']} (the current model v{result['model_version']} stays; "
        "--force --reason TEXT promotes it anyway)"
    )
