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
HELPER_MODULES = {"assets.py": set()}
DAG_FILES = sorted(p.name for p in DAGS.glob("*.py"))

EXPECTED_TASKS = {
    "migration_nightly": {
        "check_key": set(),
        "begin_night": {"check_key"},
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
    assert "migration_nightly.py" in DAG_FILES


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
    assert isinstance(dag.schedule, str) and dag.schedule, "an explicit schedule"
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
    assert set(dag.params) == {"landing", "warehouse", "key_file", "accept", "accept_reason"}
    settings = ("landing", "warehouse", "key_file")
    assert all(dag.params[name] is None for name in settings), "settings come from MIGRALINK_* by default"
    assert dag.params["accept"] == [], "nothing is accepted unless a run asks"


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
    import migration_nightly

    end = dt.datetime.fromisoformat(interval_end)
    assert migration_nightly._run_date({"data_interval_end": end}).isoformat() == expected
    assert migration_nightly._run_date({"data_interval_end": None, "logical_date": end}).isoformat() == expected


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
