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
2. `begin_night`: check the warehouse can be written, put back a night that ended failed, snapshot the
   warehouse, and append `run_started` (with the DAG run id) to the privacy log. From here to `commit_night` the
   night is one unit (`pipeline.nightly.unit`).
3. `ingest_partitions`: check, pseudonymize and store the pending partitions; updates the asset
   `migralink_records`.
4. `link_persons`: link tonight's records into persons with the saved model (a first model is trained when
   the warehouse has enough records), keep person keys stable, queue uncertain pairs for clerical review;
   updates `migralink_persons`. It uses pseudonyms only and never loads the key.
5. `classify_crossings`: classify the crossings of the persons touched tonight with the 12/16-month rule
   (pending ones re-resolved as data arrive), rebuild stays, overstays and the statistics tables, write the
   statistics report; updates `migralink_statistics`. Pseudonyms only.
6. `publish_releases`: release the statistics of the purposes whose calendar day it is (purpose register,
   disclosure control, SDMX-CSV files and manifest, release ledger); updates `migralink_releases`.
7. `commit_night`: rebuild the quality gates' Data Docs, append `run_finished` to the privacy log and sign its
   tree head, publish the night's staged reports and drop the snapshot.

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

Missing settings and key problems fail the task at once (no retries); other errors (a locked warehouse, an
unreadable landing file) are retried.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from airflow.sdk import Param, dag, task
from assets import MIGRALINK_PERSONS, MIGRALINK_RECORDS, MIGRALINK_RELEASES, MIGRALINK_STATISTICS

if TYPE_CHECKING:  # the library imports duckdb and pyarrow: keep them out of DAG parsing
    from pipeline.nightly.settings import Settings

log = logging.getLogger(__name__)

SETTING_PARAMS = ("landing", "warehouse", "key_file")


def _settings(params: dict[str, Any]) -> Settings:
    """Settings from the config file and ``MIGRALINK_*`` environment, overridden by non-empty DAG params."""
    from pipeline.nightly.settings import load_settings

    return load_settings(None, **{name: params.get(name) or None for name in SETTING_PARAMS})


def _run_date(context: dict[str, Any]) -> dt.date:
    """The last day whose partitions this run processes: the day before the run's data interval end."""
    end = context.get("data_interval_end") or context.get("logical_date") or context["dag_run"].run_after
    return end.astimezone(dt.UTC).date() - dt.timedelta(days=1)


def _gate(context: dict[str, Any], stage: str) -> dict[str, object]:
    """Run one quality gate; on a hold close the night with what has committed and fail the task (no retries)."""
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.nightly.steps import finish_run_step, quality_docs_step, quality_step
    from pipeline.nightly.unit import commit_night as commit

    params = context["params"]
    accept = dict.fromkeys(params.get("accept") or [], (params.get("accept_reason") or "").strip())
    with _fail_fast_on_permanent_errors():
        if accept:
            from pipeline.quality.gates import check_acceptances

            check_acceptances(accept)
        settings = _settings(params)
        result = quality_step(settings, _run_date(context), stage, accept=accept)
        for outcome in result.warnings:
            log.warning("quality: %s", outcome.describe())
        if result.held:
            quality_docs_step(settings, _run_date(context))
            finish_run_step(settings, "migration_nightly", "held")
            commit(settings.warehouse)
            raise AirflowFailException(result.message())
    return result.as_dict()


@contextlib.contextmanager
def _fail_fast_on_permanent_errors() -> Iterator[None]:
    """Turn migralink's own errors (configuration, keys, bad input, linkage) into a failure without retries:
    retrying cannot fix them. Anything else (a full disk, a lost connection) keeps the task's retries."""
    from airflow.sdk.exceptions import AirflowFailException

    from privacy.errors import MigralinkError

    try:
        yield
    except MigralinkError as exc:
        raise AirflowFailException(str(exc)) from None


@dag(
    dag_id="migration_nightly",
    schedule="0 2 * * *",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["migralink"],
    default_args={
        "owner": "migralink",
        "retries": 2,
        "retry_delay": dt.timedelta(minutes=5),
        "execution_timeout": dt.timedelta(hours=4),
    },
    params={
        **{
            name: Param(None, type=["null", "string"], description=f"Override MIGRALINK_{name.upper()} for this run")
            for name in SETTING_PARAMS
        },
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

        with _fail_fast_on_permanent_errors():
            return key_check_step(_settings(context["params"])).as_dict()

    @task
    def begin_night(**context: Any) -> dict[str, object]:
        """Open the night as one unit: snapshot the warehouse (put back a failed night's first)."""
        from pipeline.nightly.steps import start_run_step
        from pipeline.nightly.unit import begin_night as begin

        with _fail_fast_on_permanent_errors():
            settings = _settings(context["params"])
            staging = begin(settings.warehouse)
            start_run_step(settings, _run_date(context), "migration_nightly", dag_run_id=str(context["run_id"]))
        return {"staging": str(staging)}

    @task(outlets=[MIGRALINK_RECORDS])
    def ingest_partitions(**context: Any) -> dict[str, object]:
        """Ingest every pending landing partition dated on or before the day before the run."""
        from pipeline.nightly.steps import ingest_step

        with _fail_fast_on_permanent_errors():
            summary = ingest_step(_settings(context["params"]), _run_date(context))
        for line in summary.warnings():
            log.warning("%s", line)
        result = summary.as_dict()
        counts = {k: result[k] for k in ("run_id", "rows_read", "rows_accepted", "rows_quarantined")}
        counts["partitions"] = len(result["partitions"])  # type: ignore[arg-type]
        counts["warnings"] = len(summary.warnings())
        context["outlet_events"][MIGRALINK_RECORDS].extra = counts
        return counts

    @task(outlets=[MIGRALINK_PERSONS])
    def link_persons(**context: Any) -> dict[str, object]:
        """Link records into persons (pseudonyms only), keep person keys stable, queue uncertain pairs."""
        from pipeline.nightly.steps import link_step
        from pipeline.nightly.unit import STAGING

        with _fail_fast_on_permanent_errors():
            settings = _settings(context["params"])
            result = link_step(settings, _run_date(context), reports=settings.warehouse / STAGING).as_dict()
        context["outlet_events"][MIGRALINK_PERSONS].extra = result
        return result

    @task(outlets=[MIGRALINK_STATISTICS])
    def classify_crossings(**context: Any) -> dict[str, object]:
        """Classify crossings with the 12/16-month rule for the persons touched tonight; rebuild the statistics."""
        from pipeline.nightly.steps import history_step
        from pipeline.nightly.unit import STAGING

        with _fail_fast_on_permanent_errors():
            settings = _settings(context["params"])
            result = history_step(settings, _run_date(context), reports=settings.warehouse / STAGING).as_dict()
        keys = ("status", "mode", "persons", "crossings", "pending", "became_final", "anomalies")
        context["outlet_events"][MIGRALINK_STATISTICS].extra = {k: result[k] for k in keys if k in result}
        return result

    @task(outlets=[MIGRALINK_RELEASES])
    def publish_releases(**context: Any) -> dict[str, object]:
        """Release what the purposes whose calendar day it is allow (aggregates only, protected)."""
        from pipeline.nightly.steps import publish_step
        from pipeline.nightly.unit import STAGING

        with _fail_fast_on_permanent_errors():
            settings = _settings(context["params"])
            summary = publish_step(settings, _run_date(context), due_only=True, reports=settings.warehouse / STAGING)
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
        """Close the night: every step committed; publish its reports and drop the snapshot."""
        from pipeline.nightly.steps import finish_run_step, quality_docs_step
        from pipeline.nightly.unit import commit_night as commit

        with _fail_fast_on_permanent_errors():
            settings = _settings(context["params"])
            quality_docs_step(settings, _run_date(context))
            tree_size = finish_run_step(settings, "migration_nightly")
            published = commit(settings.warehouse)
        return {"reports": [path.name for path in published], "signed_tree_size": tree_size}

    (
        check_key()
        >> begin_night()
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
