"""# linkage_model

Weekly (Sunday 04:00 UTC, after the night) or on demand: train a candidate linkage model on every record of the
warehouse, compare it with the current model, and promote it only when it is not worse. The same steps as
`migralink model train --candidate`, `migralink model compare` and `migralink model promote`
(`pipeline.nightly.maintenance`).

**Tasks.**
1. `train_candidate`: train a model (u by random sampling with the param `seed`, m by EM) and save it as a
   *candidate*: nightly linkage keeps using the current model. A re-run of the task (or of the DAG run) reuses the
   candidate this run saved instead of training another.
2. `compare`: score the clerks' decided review pairs with both models and count the decisions each gets wrong at
   its own link threshold; relink every record with each model in an in-memory sandbox (no person key is written)
   and compare what the linkage gate measures: the largest person, persons with incompatible birth dates, persons
   with birth years more than one apart, the records that would change person. Writes nothing.
3. `promote_or_keep`: promote the candidate when it is **not worse**: no more wrong review decisions (vacuous when
   there are none), no more persons with incompatible birth dates or with birth years more than one apart, a
   largest person at most 10 % (and at least 2 records) larger, at most 5 % of the records changing person. With no
   current model the candidate is promoted. A worse candidate ends the run **successfully** with the current model
   kept; the task's return value and log say why. The decision is recorded in `linkage_model_promotions` and the
   privacy log (`model_promoted` / `model_kept`: counts only). The next night that links relinks every record with
   a promoted model (a full relink).

**Writer lease.** The run holds the warehouse's writer lease from `train_candidate` to `promote_or_keep`
(`migralink_tasks.warehouse_task`), so no night or clerk writes between the comparison and the promotion; a run that
ends failed gives it up (`on_failure_callback`). Held by another writer (a night still running), a task is retried.

**Params.** `seed` (the training's seed: the same data and seed give the same model) and `warehouse` (overrides
`MIGRALINK_WAREHOUSE` for one run). Settings otherwise come from the worker's `MIGRALINK_*` environment or
`MIGRALINK_CONFIG`. The key is not needed: linkage reads pseudonyms only.

Too few records to train, an unknown model or a missing setting fail the task at once (no retries). To override a
refusal, an operator runs `migralink model promote vN --force --reason TEXT` (recorded).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import Param, dag, task
from migralink_tasks import dag_arguments, run_holder, setting_params, warehouse_task

log = logging.getLogger(__name__)

TRAINING_SEED = 20240101  # pipeline.nightly.linking.TRAINING_SEED (not imported: DAG parsing loads no library)


@dag(
    dag_id="linkage_model",
    schedule="0 4 * * 0",
    doc_md=__doc__,
    tags=["migralink"],
    **dag_arguments(retries=2, retry_delay=dt.timedelta(minutes=10), timeout=dt.timedelta(hours=6)),
    params={
        "seed": Param(TRAINING_SEED, type="integer", description="Seed of the training's u sampling"),
        **setting_params(("warehouse",)),
    },
)
def linkage_model() -> None:
    @task
    def train_candidate(**context: Any) -> dict[str, Any]:
        """Train a candidate model on every record (pseudonyms only); a re-run reuses this run's candidate."""
        from pipeline.nightly.maintenance import train_candidate_step

        with warehouse_task(context, first=True) as settings:
            return train_candidate_step(settings, seed=int(context["params"]["seed"]), trained_for=run_holder(context))

    @task
    def compare(trained: dict[str, Any], **context: Any) -> dict[str, Any]:
        """Compare the candidate with the current model (review decisions, gate measures); writes nothing."""
        from pipeline.nightly.maintenance import compare_models_step

        with warehouse_task(context) as settings:
            found = compare_models_step(settings, str(trained["candidate_id"]))
        for note in found["notes"]:
            log.info("compare: %s", note)
        return found

    @task
    def promote_or_keep(trained: dict[str, Any], comparison: dict[str, Any], **context: Any) -> dict[str, Any]:
        """Promote the candidate when it is not worse, else keep the current model (the run still succeeds)."""
        from pipeline.nightly.maintenance import promote_step

        with warehouse_task(context, last=True) as settings:
            result = promote_step(
                settings,
                str(trained["candidate_id"]),
                comparison,
                decided_by=f"airflow {run_holder(context)}",
            )
        if result["decision"] == "kept":
            log.warning(
                "kept the current model v%s; candidate v%s not promoted: %s",
                result["model_version"],
                trained["candidate_version"],
                result["reason"],
            )
        else:
            log.info("%s: model v%s (%s)", result["decision"], result["model_version"], result["reason"])
        return result

    trained = train_candidate()
    compared = compare(trained)
    promote_or_keep(trained, compared)


linkage_model()
