"""What every migralink DAG's tasks share: settings from params, errors sorted into retried and not, and the
warehouse's writer lease held by the DAG run from its first writing task to its last.

Not a DAG: a module the DAG files import. It imports no pipeline code at parse time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the library imports duckdb and pyarrow: keep them out of DAG parsing
    from pipeline.nightly.settings import Settings
    from pipeline.warehouse.lock import Lease

log = logging.getLogger(__name__)

SETTING_PARAMS = ("landing", "warehouse", "key_file")
LEASE_TTL = dt.timedelta(hours=12)
"""How long a DAG run's writer lease lasts without a task renewing it (every task renews it)."""


START_DATE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
"""Every DAG's start date: Airflow makes no task instances for an earlier logical date."""


def dag_arguments(
    *, retries: int, retry_delay: dt.timedelta, timeout: dt.timedelta, **more_default_args: Any
) -> dict[str, Any]:
    """The ``@dag`` arguments every migralink DAG shares: no catch-up, one run at a time (a run holds the
    warehouse's writer lease), the lease given back when a run fails, and default args with the DAG's retries."""
    return {
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "on_failure_callback": release_run_lease,
        "default_args": {
            "owner": "migralink",
            "retries": retries,
            "retry_delay": retry_delay,
            "execution_timeout": timeout,
            **more_default_args,
        },
    }


def setting_params(names: tuple[str, ...] = SETTING_PARAMS) -> dict[str, Any]:
    """Run params that override the ``MIGRALINK_*`` settings of the deployment for one run (empty: not)."""
    from airflow.sdk import Param

    return {
        name: Param(None, type=["null", "string"], description=f"Override MIGRALINK_{name.upper()} for this run")
        for name in names
    }


def settings_from(params: dict[str, Any]) -> Settings:
    """Settings from the config file and ``MIGRALINK_*`` environment, overridden by non-empty DAG params."""
    from pipeline.nightly.settings import load_settings

    return load_settings(None, **{name: params.get(name) or None for name in SETTING_PARAMS if name in params})


def run_end(context: dict[str, Any]) -> dt.datetime:
    """The end of the run's data interval (its logical date for a cron schedule; when it was triggered otherwise)."""
    end = context.get("data_interval_end") or context.get("logical_date") or context["dag_run"].run_after
    return dt.datetime.fromtimestamp(end.timestamp(), dt.UTC)  # a plain datetime, not Airflow's pendulum one


def night(context: dict[str, Any]) -> dt.date:
    """The last day whose partitions a nightly run processes: the day before the run's data interval end."""
    return run_end(context).date() - dt.timedelta(days=1)


def run_holder(context: dict[str, Any]) -> str:
    """The lease holder name of this DAG run: ``<dag id>/<run id>``."""
    return f"{context['dag_run'].dag_id}/{context['run_id']}"


@contextlib.contextmanager
def fail_fast_on_permanent_errors() -> Iterator[None]:
    """Turn migralink's own errors (configuration, keys, bad input, linkage) into a failure without retries:
    retrying cannot fix them. A warehouse held by another writer, and anything else (a full disk, a lost
    connection), keep the task's retries."""
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.warehouse.lock import WarehouseLocked
    from privacy.errors import MigralinkError

    try:
        yield
    except WarehouseLocked:
        raise
    except MigralinkError as exc:
        raise AirflowFailException(str(exc)) from None


def _ended(context: dict[str, Any]) -> Any:
    """A test of a lease: is its holder a DAG run that Airflow says is no longer running?"""

    def ended(lease: Lease) -> bool:
        if lease.kind != "run" or "/" not in lease.holder:
            return False
        dag_id, run_id = lease.holder.split("/", 1)
        try:
            state = str(context["ti"].get_dagrun_state(dag_id=dag_id, run_id=run_id))
        except Exception:  # unknown to this Airflow (another deployment): only its expiry frees it
            return False
        return state.rsplit(".", 1)[-1].lower() in ("success", "failed")

    return ended


@contextlib.contextmanager
def warehouse_task(context: dict[str, Any], *, first: bool = False, last: bool = False) -> Iterator[Settings]:
    """The body of a task that writes the warehouse, yielding its settings.

    The task acts for its DAG run's writer lease (:mod:`pipeline.warehouse.lock`): the ``first`` task takes it
    (a lease left by an earlier run that has ended is taken over), later tasks renew it, and the ``last`` one
    releases it when it succeeds. Held by another writer, the task fails and is retried."""
    from pipeline.warehouse.lock import acquire, acting_for, release

    with fail_fast_on_permanent_errors():
        settings = settings_from(context["params"])
        settings.require("warehouse")
        assert settings.warehouse is not None
        holder, command = run_holder(context), context["dag_run"].dag_id
        if first:
            acquire(settings.warehouse, command=command, holder=holder, ttl=LEASE_TTL, stale=_ended(context))
        with acting_for(settings.warehouse, holder, command, ttl=LEASE_TTL):
            yield settings
        if last:
            release(settings.warehouse, holder)


def release_run_lease(context: dict[str, Any]) -> None:
    """DAG ``on_failure_callback``: a run that ended failed gives up its writer lease (its snapshot stays, and the
    next night puts the warehouse back before it starts)."""
    from pipeline.warehouse.lock import release

    try:
        settings = settings_from(context.get("params") or {})
        if settings.warehouse is not None and release(settings.warehouse, run_holder(context)):
            log.warning("the failed run %s gave up the warehouse's writer lease", run_holder(context))
    except Exception:  # a callback must not fail; the lease expires on its own
        log.exception("could not release the warehouse's writer lease")
