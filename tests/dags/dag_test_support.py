"""Shared pieces of the DAG tests: paths, the Airflow test environment and a tiny hand-made landing zone."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from pipeline.ingest.contract import load_contract

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"

AIRFLOW_ENV = {
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    "AIRFLOW__CORE__PARALLELISM": "4",
    "AIRFLOW__API_AUTH__JWT_SECRET": "migralink-dag-tests-only-" + "x" * 40,
}
RUNNER = Path(__file__).with_name("dag_runner.py")

# migration_nightly's tasks, in the order they run (the sensors in parallel).
NIGHTLY_TASKS = (
    "check_key",
    "wait_border",
    "wait_visa",
    "wait_permit",
    "begin_night",
    "ingest_partitions",
    "gate_raw",
    "link_persons",
    "gate_linkage",
    "classify_crossings",
    "gate_statistics",
    "publish_releases",
    "gate_releases",
    "commit_night",
)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without Airflow, migralink or PYTHONPATH settings, plus the test Airflow
    configuration and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MIGRALINK_", "PYTHONPATH"))}
    return env | AIRFLOW_ENV | extra


def run_dag_test(dag_id: str, logical_date: str, env: dict[str, str], conf: dict | None = None) -> tuple[dict, str]:
    """``dag.test()`` of one DAG run in a fresh interpreter (``dag_runner.py``) with ``env`` (from
    :func:`clean_env`); return its outcome (run and task states) and the log output."""
    proc = subprocess.run(
        [sys.executable, str(RUNNER), dag_id, logical_date, json.dumps(conf or {})],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stdout + proc.stderr


# Hand-made landing zone: one valid row per source and day, plus one row that the contract rejects.
COLUMNS = {source: list(contract.names) for source, contract in load_contract().items()}  # contract order


def rows_for(source: str, day: str) -> list[list[str]]:
    """One valid row of ``source`` for ``day`` (the event happens that day), in COLUMNS order."""
    tag = day.replace("-", "")
    person = ["NGUYEN", "VAN AN", "2001-05-06", "M", "VNM"]
    if source == "border":
        return [[f"B{tag}", "ARR", f"{day}T10:00:00", "AKL", "P", "C7654321", "VNM", *person]]
    if source == "visa":
        return [[f"V{tag}", "V998877", "STUDENT", "GRANTED", day, day, "2030-01-01", *person, "C7654321", "VNM"]]
    return [
        [
            f"P{tag}",
            "RP-0001",
            "TEMPORARY",
            "education",
            day,
            day,
            "2030-01-01",
            *person,
            "VNM",
            "C7654321",
            "VNM",
            "NORTH",
        ]
    ]


def write_partition(landing: Path, source: str, day: str, rows: list[list[str]]) -> Path:
    folder = landing / source / day
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "part.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS[source])
        writer.writerows(rows)
    return path


LANDING_DAYS = ("2026-03-01", "2026-03-02", "2026-03-03")  # after the DAG's start_date
BAD_BORDER_ROW = ["BBAD", "SIDEWAYS", "2026-03-01T11:00:00", "AKL", "P", "", "", "", "", "", "", ""]
