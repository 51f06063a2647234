"""Shared pieces of the DAG tests: paths, the Airflow test environment and a tiny hand-made landing zone."""

from __future__ import annotations

import contextlib
import csv
import fcntl
import importlib.metadata
import itertools
import json
import os
import select
import shutil
import subprocess
import sys
from collections.abc import Iterator
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

# The LocalExecutor's workers as scripts/airflow.sh and docker/docker-compose.yml start them: forked from a server
# that imported migralink's steps once, so that no task imports them again (test_scheduler.py runs them so; the
# deployment files are checked to carry the same values).
TASK_PRELOAD = {
    "AIRFLOW__SCHEDULER__MP_START_METHOD": "forkserver",
    "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD": "airflow,pipeline.nightly.steps,linkage.link,pipeline.quality.gates",
}

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


def migrated_home(home: Path, basetemp: Path) -> Path:
    """``home`` (made if missing) with a migrated SQLite metadata database: a copy of one migrated once per test
    session, by the first of the workers (``pytest -n``) to ask for it while the others wait. The database holds
    nothing of a home but its schema (the log templates and the default pool): ``airflow db migrate`` took 6 s of
    processor time for each of the DAG test modules. ``basetemp``: ``tmp_path_factory.getbasetemp()``."""
    shared = basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp  # the session's, not one worker's
    template = shared / f"airflow-{importlib.metadata.version('apache-airflow-core')}-migrated"
    with (shared / "airflow-migrated.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (template / "airflow.db").exists():
            migrating = template.with_name(template.name + ".incoming")
            shutil.rmtree(migrating, ignore_errors=True)
            migrating.mkdir(parents=True)
            done = subprocess.run(
                [sys.executable, "-m", "airflow", "db", "migrate"],
                env=clean_env(AIRFLOW_HOME=str(migrating)),
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=180,
            )
            assert done.returncode == 0, f"airflow db migrate failed:\n{done.stderr[-3000:]}"
            migrating.rename(template)
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template / "airflow.db", home / "airflow.db")
    return home


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without Airflow, migralink or PYTHONPATH settings, plus the test Airflow
    configuration and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MIGRALINK_", "PYTHONPATH"))}
    return env | AIRFLOW_ENV | extra


@contextlib.contextmanager
def output_to(log: Path) -> Iterator[None]:
    """Send everything written to file descriptors 1 and 2 (Airflow's task logs) to ``log`` (appended) until the
    block ends, when the descriptors are put back (the DAG runner and the soak benchmark)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log.open("ab") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


class _Runner:
    """A ``dag_runner.py --serve`` interpreter for one Airflow configuration (home, DAGs folder): the runs of a
    test module share it, so Airflow and its execution API start once instead of once a run."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)
        self.errors = (logs / "runner.err").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(RUNNER), "--serve"],
            env=env,
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            text=True,
        )

    def run(self, dag_id: str, logical_date: str, migralink: dict[str, str], conf: dict) -> tuple[dict, str]:
        log = self.logs / f"run-{next(_RUN_NUMBERS)}.log"  # never a log of an earlier runner of the home
        request = {"dag_id": dag_id, "logical_date": logical_date, "conf": conf, "env": migralink, "log": str(log)}
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], RUN_TIMEOUT)
        line = self.proc.stdout.readline() if ready else ""
        text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        if not line:
            self.close()
            errors = (self.logs / "runner.err").read_text(encoding="utf-8", errors="replace")
            raise AssertionError(f"the DAG runner gave no answer in {RUN_TIMEOUT} s:\n{text[-3000:]}{errors[-3000:]}")
        answer = json.loads(line)
        assert "error" not in answer, text[-3000:] + answer.get("error", "")
        return answer, text

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.errors.close()


RUN_TIMEOUT = 300
_RUN_NUMBERS = itertools.count(1)
_RUNNERS: dict[tuple[tuple[str, str], ...], _Runner] = {}


def run_dag_test(dag_id: str, logical_date: str, env: dict[str, str], conf: dict | None = None) -> tuple[dict, str]:
    """``dag.test()`` of one DAG run with ``env`` (from :func:`clean_env`); return its outcome (run and task
    states) and the log output. Runs with the same Airflow settings (``AIRFLOW*`` variables: home, DAGs folder)
    go to the same runner interpreter (``dag_runner.py --serve``), started at the first of them; the
    ``MIGRALINK_*`` variables are each run's own."""
    airflow = tuple(sorted((k, v) for k, v in env.items() if k.startswith("AIRFLOW")))
    migralink = {k: v for k, v in env.items() if k.startswith("MIGRALINK_")}
    runner = _RUNNERS.get(airflow)
    if runner is None or runner.proc.poll() is not None:
        base = {k: v for k, v in env.items() if not k.startswith("MIGRALINK_")}
        runner = _RUNNERS[airflow] = _Runner(base, Path(env["AIRFLOW_HOME"]) / "runner-logs")
    return runner.run(dag_id, logical_date, migralink, conf or {})


def stop_runners() -> None:
    """Stop every runner interpreter (at the end of the test session)."""
    while _RUNNERS:
        _RUNNERS.popitem()[1].close()


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
