"""# key_rotation

On demand only (no schedule): rotate the secret key of the migralink warehouse. The same steps as
`migralink keys rotate`, `migralink keys rekey` and `migralink keys retire` (`pipeline.nightly.keysteps`).

**Confirmation.** Trigger it with the param `confirm` set to `rotate <warehouse directory name>` (for the warehouse
`/srv/warehouse`: `rotate warehouse`). Without it, or with any other text, the first task fails at once with one
line and nothing is changed.

**Tasks.**
1. `check_confirmation`: the confirmation, a key file this worker may rewrite (the key source must be a key file:
   a key kept in the environment, an Airflow Variable or Connection or Vault is refused in one line; rotate it where
   it is kept), and that it is the warehouse's key. Reads only.
2. `rotate`: add a new key version to the key file, make it active and register it in the warehouse (privacy log:
   `key_registered`). Returns the new and the previous version.
3. `rekey`: re-derive every pseudonym and re-seal every sealed blob (identities, quarantine) with the new version,
   in one transaction. Equal identifiers stay equal, so person keys are kept; the next night relinks every record.
4. `retire`: remove the old version(s) from the key file and mark them retired in the warehouse, once nothing in
   the warehouse uses them (and no landing archive is sealed with them).

**Idempotence.** Clearing any task (or the whole run) and running it again never rotates twice: `rotate` finds the
rotation its run made in the privacy log (its entries carry the run) and returns it; a rotation left unfinished by
an earlier run (or by `migralink keys rotate`) is finished, not stacked; `rekey` of a warehouse already on the
version does nothing; `retire` of a retired version does nothing.

**Writer lease.** The run holds the warehouse's writer lease from `rotate` to `retire`, so no night or command
writes in between; a run that ends failed gives it up (`on_failure_callback`); held by another writer, a task is
retried.

**Params.** `confirm`, and `warehouse`, `key_file`, `landing` (override `MIGRALINK_*` for one run; a `key_file`
param means the key file whatever `MIGRALINK_KEY_SOURCE` says). Through XCom and the logs go only versions, counts
and paths, never key material.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from airflow.sdk import Param, dag, task
from migralink_tasks import (
    dag_arguments,
    fail_fast_on_permanent_errors,
    run_holder,
    setting_params,
    settings_from,
    warehouse_task,
)

if TYPE_CHECKING:
    from pipeline.nightly.settings import Settings

log = logging.getLogger(__name__)


def _file_key(settings: Settings, context: dict[str, Any]) -> Settings:
    """A ``key_file`` param names the key file to rotate, whatever key source the environment configures."""
    if context["params"].get("key_file"):
        return dataclasses.replace(settings, key_source="file")
    return settings


@dag(
    dag_id="key_rotation",
    schedule=None,
    doc_md=__doc__,
    tags=["migralink", "maintenance"],
    **dag_arguments(retries=2, retry_delay=dt.timedelta(minutes=5), timeout=dt.timedelta(hours=6)),
    params={
        "confirm": Param(
            None,
            type=["null", "string"],
            description="Type 'rotate <warehouse directory name>' to rotate that warehouse's key",
        ),
        **setting_params(),
    },
)
def key_rotation() -> None:
    @task
    def check_confirmation(**context: Any) -> dict[str, Any]:
        """Refuse at once, changing nothing, unless confirmed with a writable key file of this warehouse."""
        from pipeline.nightly.keysteps import check_rotation

        with fail_fast_on_permanent_errors():
            settings = _file_key(settings_from(context["params"]), context)
            return check_rotation(settings, context["params"].get("confirm"))

    @task
    def rotate(**context: Any) -> dict[str, Any]:
        """Add a new key version and make it active; a re-run returns this run's rotation instead."""
        from pipeline.nightly.keysteps import rotate_step

        with warehouse_task(context, first=True) as settings:
            result = rotate_step(_file_key(settings, context), run_id=run_holder(context))
        log.info("key version %d active (the warehouse used %s)", result.key_version, result.previous_version)
        if result.resumed:
            log.info("no new version added: %s", result.resumed)
        return result.as_dict()

    @task
    def rekey(rotation: dict[str, Any], **context: Any) -> dict[str, Any]:
        """Re-derive every pseudonym and re-seal every blob with the new version (nothing when done already)."""
        from pipeline.nightly.keysteps import rekey_step

        with warehouse_task(context) as settings:
            summary = rekey_step(
                _file_key(settings, context), run_id=run_holder(context), expect_version=int(rotation["key_version"])
            )
        counts = {
            "from_version": summary.from_version,
            "to_version": summary.to_version,
            "records": summary.records,
            "vault_blobs": summary.vault_blobs,
            "quarantine_rows": summary.quarantine_rows,
            "nothing_to_do": summary.nothing_to_do,
        }
        log.info("rekey: %s", counts)
        return counts

    @task
    def retire(**context: Any) -> dict[str, Any]:
        """Remove the old key version(s) from the key file once the warehouse no longer uses them."""
        from pipeline.nightly.keysteps import retire_step

        with warehouse_task(context, last=True) as settings:
            result = retire_step(_file_key(settings, context), run_id=run_holder(context))
        log.info("retired key versions %s (already retired: %s)", result.retired, result.already_retired)
        return result.as_dict()

    rotated = rotate()
    check_confirmation() >> rotated
    rekey(rotated) >> retire()


key_rotation()
