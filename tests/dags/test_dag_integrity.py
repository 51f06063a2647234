"""Every file in dags/ parses without errors, defines the DAG named after it and looks nothing up while parsed.

Modelled on Airflow's own ``tests/unit/always/test_example_dags.py``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from dag_test_support import DAGS, REPO

pytest.importorskip("airflow.sdk")

pytestmark = pytest.mark.airflow

# Modules in dags/ that hold shared definitions, not DAGs.
HELPER_MODULES = {"assets.py": set(), "migralink_tasks.py": set(), "landing_sensor.py": set()}
DAG_FILES = sorted(p.name for p in DAGS.glob("*.py"))

EXPECTED_TASKS = {
    "migration_nightly": {
        "check_key": set(),
        "wait_border": {"check_key"},
        "wait_visa": {"check_key"},
        "wait_permit": {"check_key"},
        "begin_night": {"wait_border", "wait_visa", "wait_permit"},
        "ingest_partitions": {"begin_night"},
        "gate_raw": {"ingest_partitions"},
        "link_persons": {"gate_raw"},
        "gate_linkage": {"link_persons"},
        "classify_crossings": {"gate_linkage"},
        "gate_statistics": {"classify_crossings"},
        "publish_releases": {"gate_statistics"},
        "gate_releases": {"publish_releases"},
        "commit_night": {"gate_releases"},
    },
    "linkage_model": {
        "train_candidate": set(),
        "compare": {"train_candidate"},
        "promote_or_keep": {"train_candidate", "compare"},
    },
    "key_rotation": {
        "check_confirmation": set(),
        "rotate": {"check_confirmation"},
        "rekey": {"rotate"},
        "retire": {"rekey"},
    },
    "retention": {
        "check_periods": set(),
        "purge_landing": {"check_periods"},
        "purge_quarantine": {"purge_landing"},
        "purge_sealed_identifiers": {"purge_quarantine"},
        "purge_linkage": {"purge_sealed_identifiers"},
        "purge_histories": {"purge_linkage"},
        "purge_releases": {"purge_histories"},
    },
}
# Cron schedules (UTC); None: triggered by hand only (a key rotation is never due by the calendar).
SCHEDULES = {
    "migration_nightly": "0 2 * * *",
    "linkage_model": "0 4 * * 0",
    "key_rotation": None,
    "retention": "30 5 * * *",
}
# Imports a DAG file must not trigger when it is parsed (the library pulls them in inside task bodies).
HEAVY_MODULES = ("duckdb", "pyarrow", "pandas", "pipeline", "privacy", "linkage", "splink")


@contextlib.contextmanager
def no_lookups() -> Iterator[list[str]]:
    """Make every Variable and Connection lookup raise while DAG files are parsed; yield the attempts."""
    from airflow.models.variable import Variable as ModelVariable
    from airflow.sdk.bases.hook import BaseHook
    from airflow.sdk.definitions.connection import Connection
    from airflow.sdk.definitions.variable import Variable

    attempts: list[str] = []

    def refuse(what: str):
        def fail(*args: object, **kwargs: object) -> None:
            attempts.append(what)
            raise AssertionError(f"{what} called while parsing a DAG file; look it up inside a task")

        return fail

    with contextlib.ExitStack() as stack:
        for target, name in (
            (Variable, "get"),
            (ModelVariable, "get"),
            (BaseHook, "get_connection"),
            (Connection, "get"),
        ):
            label = f"{target.__module__}.{target.__name__}.{name}"
            stack.enter_context(mock.patch.object(target, name, side_effect=refuse(label)))
        yield attempts


def parse(path: Path, monkeypatch: pytest.MonkeyPatch):
    """Parse one DAG file like the dag processor does (the bundle root, dags/, is on sys.path)."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.syspath_prepend(str(DAGS))
    return DagBag(dag_folder=str(path))


def test_dag_files_found() -> None:
    assert {f"{dag_id}.py" for dag_id in EXPECTED_TASKS} | set(HELPER_MODULES) == set(DAG_FILES), "every DAG checked"


@pytest.mark.parametrize("filename", DAG_FILES)
def test_dag_file_parses_without_lookups(filename: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with no_lookups() as attempts:
        bag = parse(DAGS / filename, monkeypatch)
    assert bag.import_errors == {}
    assert attempts == []
    expected = HELPER_MODULES.get(filename, {Path(filename).stem})
    assert set(bag.dag_ids) == expected, "one DAG per file, named after its dag_id"
    for dag in bag.dags.values():
        assert dag.fileloc == str(DAGS / filename)


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_TASKS))
def test_dag_definition(dag_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    dag = parse(DAGS / f"{dag_id}.py", monkeypatch).dags[dag_id]
    assert dag.schedule == SCHEDULES[dag_id], "an explicit schedule"
    assert dag.catchup is False
    assert dag.start_date is not None and dag.start_date.tzinfo is not None
    assert dag.start_date <= dt.datetime.now(dt.UTC)
    assert dag.max_active_runs == 1
    assert dag.doc_md and dag_id in dag.doc_md
    assert dag.default_args["retries"] >= 1 and dag.default_args["retry_delay"]
    tasks = {t.task_id: set(t.upstream_task_ids) for t in dag.tasks}
    assert tasks == EXPECTED_TASKS[dag_id]


def test_migration_nightly_schedule_and_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    dag = parse(DAGS / "migration_nightly.py", monkeypatch).dags["migration_nightly"]
    from assets import MIGRALINK_PERSONS, MIGRALINK_RECORDS, MIGRALINK_RELEASES, MIGRALINK_STATISTICS

    assert dag.schedule == "0 2 * * *"
    assert dag.task_dict["publish_releases"].outlets == [MIGRALINK_RELEASES]
    assert dag.task_dict["ingest_partitions"].outlets == [MIGRALINK_RECORDS]
    assert dag.task_dict["link_persons"].outlets == [MIGRALINK_PERSONS]
    assert dag.task_dict["classify_crossings"].outlets == [MIGRALINK_STATISTICS]
    assert MIGRALINK_RECORDS.name == "migralink_records"
    assert set(dag.params) == {"landing", "warehouse", "key_file", "arrival_deadline_hours", "accept", "accept_reason"}
    assert dag.params["arrival_deadline_hours"] == 4.0
    settings = ("landing", "warehouse", "key_file")
    assert all(dag.params[name] is None for name in settings), "settings come from MIGRALINK_* by default"
    assert dag.params["accept"] == [], "nothing is accepted unless a run asks"
    assert dag.default_args["retry_exponential_backoff"] is True
    assert dag.on_failure_callback, "a failed run gives up the warehouse's writer lease"


def test_migration_nightly_waits_for_each_source_in_the_triggerer(monkeypatch: pytest.MonkeyPatch) -> None:
    """One deferrable sensor per source; a sensor skipped at the deadline does not stop the night."""
    dag = parse(DAGS / "migration_nightly.py", monkeypatch).dags["migration_nightly"]
    from landing_sensor import LandingPartitionSensor

    sensors = {t.task_id: t for t in dag.tasks if isinstance(t, LandingPartitionSensor)}
    assert {task.source for task in sensors.values()} == {"border", "visa", "permit"}
    assert all(task.soft_fail for task in sensors.values()), "at the deadline the sensor is skipped, not failed"
    assert dag.task_dict["begin_night"].trigger_rule == "none_failed"
    assert all(dag.task_dict[t].trigger_rule == "all_success" for t in ("ingest_partitions", "commit_night"))


def test_a_sensor_defers_until_the_deadline_then_skips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parse(DAGS / "migration_nightly.py", monkeypatch)
    from airflow.providers.standard.triggers.file import FileTrigger
    from airflow.sdk.exceptions import AirflowSkipException, TaskDeferred
    from landing_sensor import LandingPartitionSensor

    sensor = LandingPartitionSensor(task_id="wait_visa", source="visa")
    now = dt.datetime.now(dt.UTC)
    import pendulum  # Airflow hands tasks pendulum datetimes

    start = pendulum.instance(now)
    context = {"params": {"landing": str(tmp_path), "arrival_deadline_hours": 4.0}, "data_interval_end": start}
    day = (now.date() - dt.timedelta(days=1)).isoformat()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context)
    assert isinstance(deferred.value.trigger, FileTrigger)
    assert deferred.value.trigger.filepath == str(tmp_path / "visa" / day / "*")
    assert dt.timedelta(hours=3.9) < deferred.value.timeout <= dt.timedelta(hours=4)

    late = context | {"data_interval_end": now - dt.timedelta(hours=5)}
    day = (now - dt.timedelta(hours=5)).date() - dt.timedelta(days=1)
    with pytest.raises(AirflowSkipException, match=f"no visa partition for {day} by the arrival deadline"):
        sensor.execute(late)

    folder = tmp_path / "visa" / day.isoformat()
    folder.mkdir(parents=True)
    (folder / ".part.csv.tmp").write_text("half")
    with pytest.raises(AirflowSkipException):
        sensor.execute(late)  # a hidden file being written is not an arrival
    (folder / "part.csv").write_text("id\n")
    assert sensor.execute(late) is None


@pytest.mark.parametrize(
    ("interval_end", "expected"),
    [
        pytest.param("2024-03-03T02:00:00+00:00", "2024-03-02", id="nightly-run-processes-yesterday"),
        pytest.param("2024-03-03T14:37:00+00:00", "2024-03-02", id="manual-run-same-day"),
        pytest.param("2024-03-03T00:30:00+01:00", "2024-03-01", id="converted-to-utc-first"),
        pytest.param("2024-01-01T02:00:00+00:00", "2023-12-31", id="year-boundary"),
    ],
)
def test_run_date_is_day_before_interval_end(interval_end: str, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    parse(DAGS / "migration_nightly.py", monkeypatch)
    from migralink_tasks import night

    end = dt.datetime.fromisoformat(interval_end)
    assert night({"data_interval_end": end}).isoformat() == expected
    assert night({"data_interval_end": None, "logical_date": end}).isoformat() == expected


def test_parsing_imports_no_heavy_library() -> None:
    """Top-level DAG code runs at every parse: the library and its data stack load only inside tasks."""
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(DAGS)!r})\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(DAGS)!r})\n"
        f"print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=os.environ | {"PYTHONPATH": ""},
        timeout=120,
        check=True,
    )
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_ruff_airflow_rules_pass() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed in this environment")
    proc = subprocess.run(
        [str(ruff), "check", "--select", "AIR", str(DAGS)], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
