"""# migration_nightly

Nightly ingest of border, visa and residence-permit records into the migralink warehouse.

**Schedule.** 02:00 UTC every day. The run that starts at 02:00 on day *D* processes every landing partition
`<landing>/<source>/<YYYY-MM-DD>/` dated **on or before D-1** that the warehouse has not processed yet. The
day is taken from the run's data interval end (equal to its logical date for a cron schedule), so a manual
run triggered on day *D* also processes partitions up to *D-1*; partitions of the current, incomplete day
wait for the next night. All dates are UTC.

**Idempotence.** A partition is processed once: re-running a night, or a night after a missed one, picks up
exactly the partitions still pending and changes nothing else. To backfill or repair outside Airflow use the
same code path: `migralink run --date YYYY-MM-DD`.

**Settings** come from the environment of the worker (`MIGRALINK_LANDING`, `MIGRALINK_WAREHOUSE`,
`MIGRALINK_KEY_FILE`, `MIGRALINK_HOST_COUNTRY`, or a TOML file named by `MIGRALINK_CONFIG`). The key comes from
`MIGRALINK_KEY_SOURCE` (a key file by default; `airflow-variable:NAME`, `airflow-connection:ID` or `vault:PATH`
are read only when a task runs, never while the DAG is parsed); the DAG params
`landing`, `warehouse` and `key_file` override them for one run.

**Tasks.**
1. `check_key`: load the secret key and, when the warehouse exists, verify it is the key the warehouse was
   built with. Fails before any data are read.
2. `wait_border`, `wait_visa`, `wait_permit`: wait for the source's partition of the night's day
   (`<landing>/<source>/<D-1>/` with a file in it). The sensors are deferrable: while waiting they sit in the
   triggerer, not in a worker slot. At the arrival deadline (param `arrival_deadline_hours` after the run's
   start, 4 h by default: 06:00) a sensor still waiting is skipped with the reason, and the night runs without
   that source: the ingest's summary names the missing sources and the raw quality gate judges whether the
   volumes are acceptable.
3. `begin_night`: take the warehouse's writer lease for this DAG run, check the warehouse can be written, put
   back a night that ended failed, snapshot the warehouse, and append `run_started` (with the DAG run id) to
   the privacy log. From here to `commit_night` the night is one unit (`pipeline.nightly.unit`), and no other
   writer (`migralink` commands, other DAGs) gets in: every task renews the lease; `commit_night` (or a held
   gate) gives it up; a run that ends failed gives it up in its failure callback.
4. `ingest_partitions`: check, pseudonymize and store the pending partitions; updates the asset
   `migralink_records`.
5. `link_persons`: link tonight's records into persons with the saved model (a first model is trained when
   the warehouse has enough records), keep person keys stable, queue uncertain pairs for clerical review;
   updates `migralink_persons`. It uses pseudonyms only and never loads the key.
6. `classify_crossings`: classify the crossings of the persons touched tonight with the 12/16-month rule
   (pending ones re-resolved as data arrive), rebuild stays, overstays and the statistics tables, write the
   statistics report; updates `migralink_statistics`. Pseudonyms only.
7. `publish_releases`: release the statistics of the purposes whose calendar day it is (purpose register,
   disclosure control, SDMX-CSV files and manifest, release ledger); updates `migralink_releases`.
8. `commit_night`: rebuild the quality gates' Data Docs, seal the privacy log (append `run_finished` and sign
   its tree head), publish the night's staged reports, drop the snapshot and give up the writer lease.

**Quality gates** run as their own tasks after ingest (`gate_raw`), linkage (`gate_linkage`), the statistics
(`gate_statistics`) and publishing (`gate_releases`), with the suites under `expectations/`. A critical
expectation that fails holds the night: the gate task closes the night with what the steps before it committed
(the privacy log records `run_finished` as held), then fails with the one-line reason, so nothing downstream
runs and nothing is released. To let a held night go on, run it again with the params `accept` (expectation ids
such as `raw_volume/feed_volume_low`) and `accept_reason`, or use `migralink run --date D --accept ID --reason
TEXT`. Results are in `quality_results`; the Data Docs are under `<warehouse>/quality`.

A task that fails is retried, or can be cleared and re-run: each step commits on its own and is idempotent.
A run that ends failed keeps its snapshot; the next run (or this run cleared as a whole) puts the warehouse
back as it was before the failed night, records the night as failed, and then processes its partitions.

Missing settings, key problems and bad input fail the task at once (no retries): retrying cannot fix them.
Transient errors (a warehouse held by another writer, a full disk, a lost mount) are retried with exponential
backoff. Through XCom go only counts, statuses, source names and report paths, never record values.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import Param, dag, task
from assets import MIGRALINK_PERSONS, MIGRALINK_RECORDS, MIGRALINK_RELEASES, MIGRALINK_STATISTICS
from landing_sensor import LandingPartitionSensor
from migralink_tasks import (
    dag_arguments,
    fail_fast_on_permanent_errors,
    night,
    run_holder,
    setting_params,
    settings_from,
    warehouse_task,
)

log = logging.getLogger(__name__)

SOURCES = ("border", "visa", "permit")


def _gate(context: dict[str, Any], stage: str) -> dict[str, object]:
    """Run one quality gate; on a hold close the night with what has committed and fail the task (no retries)."""
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.nightly.steps import finish_run_step, quality_docs_step, quality_step
    from pipeline.nightly.unit import commit_night as commit
    from pipeline.warehouse.lock import release

    params = context["params"]
    accept = dict.fromkeys(params.get("accept") or [], (params.get("accept_reason") or "").strip())
    with warehouse_task(context) as settings:
        if accept:
            from pipeline.quality.gates import check_acceptances

            check_acceptances(accept)
        result = quality_step(settings, night(context), stage, accept=accept)
        for outcome in result.warnings:
            log.warning("quality: %s", outcome.describe())
        if result.held:
            quality_docs_step(settings, night(context))
            finish_run_step(settings, "migration_nightly", "held")
            commit(settings.warehouse)
    if result.held:
        assert settings.warehouse is not None
        release(settings.warehouse, run_holder(context))
        raise AirflowFailException(result.message())
    return result.as_dict()


@dag(
    dag_id="migration_nightly",
    schedule="0 2 * * *",
    doc_md=__doc__,
    tags=["migralink"],
    **dag_arguments(
        retries=3,
        retry_delay=dt.timedelta(minutes=2),
        timeout=dt.timedelta(hours=4),
        retry_exponential_backoff=True,
        max_retry_delay=dt.timedelta(minutes=30),
    ),
    params={
        **setting_params(),
        "arrival_deadline_hours": Param(
            4.0,
            type="number",
            minimum=0,
            maximum=20,
            description="Hours after the run's start to wait for a source's partition before running without it",
        ),
        "accept": Param(
            [], type="array", items={"type": "string"}, description="Held expectations to accept (SUITE/NAME)"
        ),
        "accept_reason": Param(None, type=["null", "string"], description="Why the accepted expectations may fail"),
    },
)
def migration_nightly() -> None:
    @task
    def check_key(**context: Any) -> dict[str, object]:
        """Load the key and verify it against the warehouse (if there is one yet); reads no landing data."""
        from pipeline.nightly.steps import key_check_step

        with fail_fast_on_permanent_errors():
            return key_check_step(settings_from(context["params"])).as_dict()

    @task(trigger_rule="none_failed")
    def begin_night(**context: Any) -> dict[str, object]:
        """Take the writer lease and open the night as one unit: snapshot the warehouse (a failed night's first)."""
        from pipeline.nightly.steps import start_run_step
        from pipeline.nightly.unit import begin_night as begin

        with warehouse_task(context, first=True) as settings:
            assert settings.warehouse is not None
            staging = begin(settings.warehouse)
            start_run_step(settings, night(context), "migration_nightly", dag_run_id=str(context["run_id"]))
        return {"staging": str(staging)}

    @task(outlets=[MIGRALINK_RECORDS])
    def ingest_partitions(**context: Any) -> dict[str, object]:
        """Ingest every pending landing partition dated on or before the day before the run."""
        from pipeline.nightly.steps import ingest_step, missing_sources
        from pipeline.warehouse.connection import connect

        day = night(context)
        with warehouse_task(context) as settings:
            summary = ingest_step(settings, day)
            assert settings.warehouse is not None
            con = connect(settings.warehouse, read_only=True)
            try:
                missing = missing_sources(con, day)
            finally:
                con.close()
        for line in summary.warnings():
            log.warning("%s", line)
        for source in missing:
            log.warning("no %s data for %s: the night runs without it; the raw quality gate judges", source, day)
        result = summary.as_dict()
        counts = {k: result[k] for k in ("run_id", "rows_read", "rows_accepted", "rows_quarantined")}
        counts["partitions"] = len(result["partitions"])  # type: ignore[arg-type]
        counts["warnings"] = len(summary.warnings())
        counts["missing_sources"] = list(missing)
        context["outlet_events"][MIGRALINK_RECORDS].extra = counts
        return counts

    @task(outlets=[MIGRALINK_PERSONS])
    def link_persons(**context: Any) -> dict[str, object]:
        """Link records into persons (pseudonyms only), keep person keys stable, queue uncertain pairs."""
        from pipeline.nightly.steps import link_step
        from pipeline.nightly.unit import STAGING

        with warehouse_task(context) as settings:
            assert settings.warehouse is not None
            result = link_step(settings, night(context), reports=settings.warehouse / STAGING).as_dict()
        context["outlet_events"][MIGRALINK_PERSONS].extra = result
        return result

    @task(outlets=[MIGRALINK_STATISTICS])
    def classify_crossings(**context: Any) -> dict[str, object]:
        """Classify crossings with the 12/16-month rule for the persons touched tonight; rebuild the statistics."""
        from pipeline.nightly.steps import history_step
        from pipeline.nightly.unit import STAGING

        with warehouse_task(context) as settings:
            assert settings.warehouse is not None
            result = history_step(settings, night(context), reports=settings.warehouse / STAGING).as_dict()
        keys = ("status", "mode", "persons", "crossings", "pending", "became_final", "anomalies")
        context["outlet_events"][MIGRALINK_STATISTICS].extra = {k: result[k] for k in keys if k in result}
        return result

    @task(outlets=[MIGRALINK_RELEASES])
    def publish_releases(**context: Any) -> dict[str, object]:
        """Release what the purposes whose calendar day it is allow (aggregates only, protected)."""
        from pipeline.nightly.steps import publish_step
        from pipeline.nightly.unit import STAGING

        with warehouse_task(context) as settings:
            assert settings.warehouse is not None
            summary = publish_step(settings, night(context), due_only=True, reports=settings.warehouse / STAGING)
        result = summary.as_dict() if summary is not None else {"released": [], "not_due": []}
        context["outlet_events"][MIGRALINK_RELEASES].extra = result
        return result

    @task
    def gate_raw(**context: Any) -> dict[str, object]:
        """Quality gate on tonight's rows, volumes and pseudonyms (suites of stage raw)."""
        return _gate(context, "raw")

    @task
    def gate_linkage(**context: Any) -> dict[str, object]:
        """Quality gate on tonight's linkage against recent nights (suites of stage linkage)."""
        return _gate(context, "linkage")

    @task
    def gate_statistics(**context: Any) -> dict[str, object]:
        """Quality gate on the histories and statistics before anything is released (stage statistics)."""
        return _gate(context, "statistics")

    @task
    def gate_releases(**context: Any) -> dict[str, object]:
        """Every cell released tonight obeys its disclosure rule (stage releases)."""
        return _gate(context, "releases")

    @task
    def commit_night(**context: Any) -> dict[str, object]:
        """Close the night: seal the privacy log, publish the night's reports, drop the snapshot, free the lease."""
        from pipeline.nightly.steps import finish_run_step, quality_docs_step
        from pipeline.nightly.unit import commit_night as commit

        with warehouse_task(context, last=True) as settings:
            assert settings.warehouse is not None
            quality_docs_step(settings, night(context))
            tree_size = finish_run_step(settings, "migration_nightly")
            published = commit(settings.warehouse)
        return {"reports": [path.name for path in published], "signed_tree_size": tree_size}

    key = check_key()
    opened = begin_night()
    for source in SOURCES:
        key >> LandingPartitionSensor(task_id=f"wait_{source}", source=source) >> opened
    (
        opened
        >> ingest_partitions()
        >> gate_raw()
        >> link_persons()
        >> gate_linkage()
        >> classify_crossings()
        >> gate_statistics()
        >> publish_releases()
        >> gate_releases()
        >> commit_night()
    )


migration_nightly()
