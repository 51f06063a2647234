"""# retention

Daily at 05:30 UTC (after the night): purge what the purpose register says has expired, kind by kind. The same
step as `migralink retention purge` (`pipeline.retention_purge.retention_step`).

**Periods.** For each kind of data the register's period applies (the longest any registered purpose needs:
`landing_days`, `quarantine_days`, `sealed_identifiers_days`, `linkage_days`, `histories_days`, `releases_days`);
a setting may only shorten it (landing: `MIGRALINK_RETENTION_DAYS`; the others: the param `keep_days`, e.g.
`{"quarantine": 90}`). A longer setting fails `check_periods` at once and nothing is purged. Days count back from
the day of the run's data interval end (UTC).

**Tasks.** `check_periods`, then one task per kind, in this order, each purging its kind in one transaction and
recording it (counts only) in `meta_retention` and the privacy log (`retention_purged`):
1. `purge_landing`: processed landing partitions past `landing_days` (deleted, or archived sealed when
   `landing_archive` is set); never a partition the warehouse has not processed or whose files changed.
2. `purge_quarantine`: quarantined rows (sealed rejected rows) of partitions past `quarantine_days`.
3. `purge_sealed_identifiers`: the sealed identifiers of partitions past `sealed_identifiers_days`, with those
   records' pseudonyms (a pseudonym cannot follow a key rotation without them).
4. `purge_linkage`: the pseudonyms (with their sealed identifiers) of records past `linkage_days` and the linkage
   reports; the next linkage relinks every record without them. Person keys stay.
5. `purge_histories`: history detail past `histories_days` (each crossing's classification changes per night)
   and the statistics reports.
6. `purge_releases`: release files and reports, superseded released cells and refused requests past
   `releases_days`. The release ledger stays, as do the published statistics tables.

Sealed identifiers and pseudonyms go by calendar month (up to a month early, never late), so the linkage relinks
at most once a month. The privacy log itself is append-only and never purged.

**Idempotence.** What is gone is gone: a second run the same day purges and records nothing. A task cleared and
run again purges only what is still there.

**Writer lease.** The run holds the warehouse's writer lease from `purge_landing` to `purge_releases`; a run that
ends failed gives it up (`on_failure_callback`); held by another writer (a night still running), a task is retried.

**Params.** `kinds` (purge only these; default every kind), `keep_days`, `dry_run` (count, change nothing), and
`landing`, `warehouse`, `key_file` (override `MIGRALINK_*` for one run). XCom holds counts, days and dates only.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import Param, dag, task
from migralink_tasks import (
    dag_arguments,
    fail_fast_on_permanent_errors,
    run_end,
    run_holder,
    setting_params,
    settings_from,
    warehouse_task,
)

log = logging.getLogger(__name__)

# privacy.register.RETENTION_KINDS, in its order (not imported: DAG parsing loads no library)
KINDS = ("landing", "quarantine", "sealed_identifiers", "linkage", "histories", "releases")


def _chosen(context: dict[str, Any]) -> list[str]:
    return list(context["params"].get("kinds") or KINDS)


def _keep(context: dict[str, Any]) -> dict[str, int]:
    return {str(k): int(v) for k, v in (context["params"].get("keep_days") or {}).items()}


@dag(
    dag_id="retention",
    schedule="30 5 * * *",
    doc_md=__doc__,
    tags=["migralink", "maintenance"],
    **dag_arguments(retries=2, retry_delay=dt.timedelta(minutes=10), timeout=dt.timedelta(hours=4)),
    params={
        **setting_params(),
        "kinds": Param(
            [],
            type="array",
            items={"type": "string", "enum": list(KINDS)},
            description="Purge only these kinds of data (empty: every kind)",
        ),
        "keep_days": Param(
            {},
            type="object",
            additionalProperties={"type": "integer", "minimum": 1},
            description='Shorter periods than the register\'s for kinds other than landing, e.g. {"quarantine": 90}',
        ),
        "dry_run": Param(False, type="boolean", description="Count what would be purged; change nothing"),
    },
)
def retention() -> None:
    @task
    def check_periods(**context: Any) -> dict[str, Any]:
        """Every period and cut-off of this run, checked against the register before anything is purged."""
        from pipeline.retention_purge import retention_plan
        from privacy.register import load_register

        with fail_fast_on_permanent_errors():
            settings = settings_from(context["params"])
            chosen = _chosen(context)
            settings.require("warehouse", *(["landing"] if "landing" in chosen else []))
            plan = retention_plan(
                load_register(),
                run_end(context).date(),
                chosen,
                landing_days=settings.retention_days,
                landing_given_as="MIGRALINK_RETENTION_DAYS / retention_days",
                keep=_keep(context),
            )
        for period in plan:
            log.info(
                "%s: %d days (%s): purge what is dated before %s",
                period.kind,
                period.days,
                period.source,
                period.cutoff,
            )
        return {p.kind: {"days": p.days, "cutoff": p.cutoff.isoformat()} for p in plan}

    def purge(kind: str, context: dict[str, Any], *, first: bool = False, last: bool = False) -> dict[str, Any]:
        from pipeline.retention_purge import retention_step

        with warehouse_task(context, first=first, last=last) as settings:
            if kind not in _chosen(context):
                return {"kind": kind, "skipped": "not in the param kinds"}
            summary = retention_step(
                settings,
                run_end(context).date(),
                kinds=[kind],
                keep=_keep(context),
                dry_run=bool(context["params"].get("dry_run")),
                run_id=run_holder(context),
                by=f"airflow {run_holder(context)}",
                landing_given_as="MIGRALINK_RETENTION_DAYS / retention_days",
            )
        (done,) = summary.kinds
        log.info("%s: %s", kind, done.describe())
        if done.landing is not None:
            for name, why in done.landing.kept_unsafe.items():
                log.warning("kept landing partition %s past retention: %s", name, why)
        return done.as_dict()

    @task
    def purge_landing(**context: Any) -> dict[str, Any]:
        """Processed landing partitions past landing_days (deleted, or archived sealed)."""
        return purge("landing", context, first=True)

    @task
    def purge_quarantine(**context: Any) -> dict[str, Any]:
        """Quarantined rows past quarantine_days."""
        return purge("quarantine", context)

    @task
    def purge_sealed_identifiers(**context: Any) -> dict[str, Any]:
        """Sealed identifiers (and those records' pseudonyms) past sealed_identifiers_days."""
        return purge("sealed_identifiers", context)

    @task
    def purge_linkage(**context: Any) -> dict[str, Any]:
        """Pseudonyms (and their sealed identifiers) past linkage_days, and the linkage reports."""
        return purge("linkage", context)

    @task
    def purge_histories(**context: Any) -> dict[str, Any]:
        """Crossing vintages and statistics reports past histories_days."""
        return purge("histories", context)

    @task
    def purge_releases(**context: Any) -> dict[str, Any]:
        """Release files and reports, superseded cells and refusals past releases_days (the ledger stays)."""
        return purge("releases", context, last=True)

    (
        check_periods()
        >> purge_landing()
        >> purge_quarantine()
        >> purge_sealed_identifiers()
        >> purge_linkage()
        >> purge_histories()
        >> purge_releases()
    )


retention()
