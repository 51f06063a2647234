"""``migration_nightly`` under a real Airflow: ``airflow standalone`` (scheduler, DAG processor, triggerer and
API server; LocalExecutor on SQLite) in a fresh Airflow home, driven through the REST API.

The DAG is parsed by the DAG processor, unpaused and triggered with ``POST /api/v2/dags/.../dagRuns`` like an
operator would, and its tasks run in the executor's worker processes with the ``MIGRALINK_*`` environment of
the deployment (not ``dag.test()`` in one process as in test_dag_run.py). The scheduler's own cron runs are
switched off (``[scheduler] use_job_schedule``): once unpaused the DAG would otherwise also get a scheduled run
for the latest night, which would ingest every landing day before the triggered run gets its turn
(``max_active_runs=1``). Standalone is started in its own session and its whole process group is stopped
afterwards: SIGTERM to its pid alone orphans the scheduler and the task workers.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from dag_test_support import LANDING_DAYS, NIGHTLY_TASKS, REPO, TASK_PRELOAD
from dag_test_support import clean_env as support_env

pytest.importorskip("airflow.sdk")

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.scheduler]

DAG_ID = "migration_nightly"
# The night of 2026-03-03 at 02:00 UTC processes partitions up to 2026-03-02 (see test_dag_run.py).
NIGHT = "2026-03-03T02:00:00Z"
STARTUP_TIMEOUT = 120  # standalone answers after about 20 s; the DAG processor parses the DAG soon after
RUN_TIMEOUT = 240
EVERY_TASK = NIGHTLY_TASKS
RESULT_TABLES = (
    "border_crossings",
    "visa_decisions",
    "residence_permits",
    "quarantine",
    "meta_partitions",
    "meta_files",
    "person_keys",
    "crossings",
    "release_ledger",
)
PLAINTEXT = ("NGUYEN", "VAN AN", "C7654321", "V998877", "RP-0001")  # identifiers in tiny_landing's rows


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        return f"({path}: {exc})"
    return "\n".join(text[-lines:])


@dataclass
class Standalone:
    """A running ``airflow standalone`` and a REST client for it."""

    home: Path
    base_url: str
    proc: subprocess.Popen[bytes]
    output: Path
    token: str | None = field(default=None, repr=False)

    def request(self, method: str, path: str, body: object | None = None) -> tuple[int, object]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return status, raw.decode(errors="replace")

    def call(self, method: str, path: str, body: object | None = None, expect: tuple[int, ...] = (200,)) -> dict:
        status, payload = self.request(method, path, body)
        assert status in expect, f"{method} {path}: HTTP {status}: {payload}"
        assert isinstance(payload, dict), payload
        return payload

    def check_alive(self) -> None:
        code = self.proc.poll()
        assert code is None, f"airflow standalone exited with code {code}"

    def diagnostics(self) -> str:
        """The tail of standalone's output (scheduler, DAG processor, triggerer, API server) and of the task logs."""
        parts = [f"--- airflow standalone output ({self.output}) ---", tail(self.output, 150)]
        for log in sorted((self.home / "logs").glob(f"dag_id={DAG_ID}/**/*.log"), key=lambda p: p.stat().st_mtime):
            parts += [f"--- {log.relative_to(self.home)} ---", tail(log, 40)]
        return "\n".join(parts)


def clean_env(**extra: str) -> dict[str, str]:
    env = support_env(**extra)
    # standalone starts its components as `airflow ...` from the PATH: use this virtualenv's.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole process group, SIGKILL to whatever is left after 5 s (the test is over: nothing of the
    home is kept, and a graceful shutdown of the four components takes 10 to 15 s)."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            proc.poll()
            try:
                os.killpg(pgid, 0)  # anyone left in the group?
            except ProcessLookupError:
                return
            time.sleep(0.3)


@pytest.fixture
def migralink_env(tiny_landing: Path, tmp_path: Path) -> dict[str, str]:
    from privacy.keys import write_new_key_file

    key_file = tmp_path / "migralink.key"
    write_new_key_file(key_file)
    return {
        "MIGRALINK_LANDING": str(tiny_landing),
        "MIGRALINK_WAREHOUSE": str(tmp_path / "warehouse"),
        "MIGRALINK_KEY_FILE": str(key_file),
    }


@pytest.fixture
def airflow(tmp_path: Path, migralink_env: dict[str, str]) -> Iterator[Standalone]:
    """``airflow standalone`` on a free port of 127.0.0.1 with a fresh home; stopped as a process group."""
    home = tmp_path / "airflow-home"
    home.mkdir()
    port = free_port()
    env = clean_env(
        AIRFLOW_HOME=str(home),
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        # The log servers of the scheduler and triggerer listen on fixed ports by default: avoid clashes.
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",  # only the run this test triggers
        # Each DAG file parsed once: by default the DAG processor parses them all again every 30 s, in processes that
        # import them, for the whole run (the test changes no DAG file).
        AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="3600",
        **TASK_PRELOAD,  # as the deployment runs the tasks
        **migralink_env,
    )
    output = home / "standalone.out"
    with output.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow", "standalone"],
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # setsid: its own process group, stopped as a whole below
        )
    server = Standalone(home=home, base_url=f"http://127.0.0.1:{port}", proc=proc, output=output)
    try:
        yield server
    finally:
        stop_group(proc)


def wait_until_ready(server: Standalone) -> None:
    """Health of every component, a token for the generated admin password, and the DAG parsed."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    password_file = server.home / "simple_auth_manager_passwords.json.generated"
    while True:
        server.check_alive()
        try:
            status, health = server.request("GET", "/api/v2/monitor/health")
        except OSError:  # not listening yet
            status, health = 0, None
        if status == 200 and isinstance(health, dict) and password_file.exists():
            components = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            if all((health.get(name) or {}).get("status") == "healthy" for name in components):
                break
        assert time.monotonic() < deadline, f"Airflow not healthy after {STARTUP_TIMEOUT} s: {health}"
        time.sleep(1)

    password = json.loads(password_file.read_text(encoding="utf-8"))["admin"]
    token = server.call("POST", "/auth/token", {"username": "admin", "password": password}, expect=(200, 201))
    server.token = str(token["access_token"])

    while True:
        server.check_alive()
        status, _ = server.request("GET", f"/api/v2/dags/{DAG_ID}")
        if status == 200:
            return
        errors = server.call("GET", "/api/v2/importErrors")["import_errors"]
        assert not errors, f"DAG import errors: {errors}"
        assert time.monotonic() < deadline, f"{DAG_ID} not parsed after {STARTUP_TIMEOUT} s (HTTP {status})"
        time.sleep(1)


def trigger_and_wait(server: Standalone) -> tuple[dict, list[dict]]:
    """Unpause the DAG, trigger one run for NIGHT, wait until it ends; return the run and its task instances."""
    assert server.call("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})["is_paused"] is False
    run = server.call("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": NIGHT, "conf": {}})
    return wait_for_run(server, run)


def clear_and_wait(server: Standalone, run: dict, task_ids: list[str]) -> tuple[dict, list[dict]]:
    """Clear the run's task instances ``task_ids`` as an operator does in the UI, so the scheduler runs them again;
    wait until the run ends again."""
    body: dict[str, object] = {"dry_run": False, "only_failed": False, "dag_run_id": run["dag_run_id"]}
    body["task_ids"] = task_ids
    cleared = server.call("POST", f"/api/v2/dags/{DAG_ID}/clearTaskInstances", body)
    assert {t["task_id"] for t in cleared["task_instances"]} == set(task_ids), cleared
    return wait_for_run(server, server.call("GET", run_path(run)))


def run_path(run: dict) -> str:
    return f"/api/v2/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run['dag_run_id'], safe='')}"


def wait_for_run(server: Standalone, run: dict) -> tuple[dict, list[dict]]:
    """Poll the run until it has ended; return it and its task instances."""
    path = run_path(run)
    deadline = time.monotonic() + RUN_TIMEOUT
    while run["state"] not in ("success", "failed"):
        server.check_alive()
        assert time.monotonic() < deadline, f"run still {run['state']} after {RUN_TIMEOUT} s"
        time.sleep(2)
        run = server.call("GET", path)
    tasks = server.call("GET", f"{path}/taskInstances?limit=100")["task_instances"]
    return run, tasks


def outcome(run: dict, tasks: list[dict]) -> dict[str, str]:
    """The run's task states, after checking the run succeeded and every task did (a sensor may only skip)."""
    states = {t["task_id"]: t["state"] for t in tasks}
    assert run["state"] == "success", states
    unexpected = {
        t["task_id"]: t["state"]
        for t in tasks
        if t["state"] != "success" and not (t["state"] == "skipped" and "Sensor" in (t["operator"] or ""))
    }
    assert not unexpected, unexpected
    return states


def night_result(warehouse: Path) -> dict[str, list[tuple]]:
    """What a night leaves for analysts and auditors of the data, every row of each table: the records, the
    quarantine, the partitions processed, persons and statistics. (``meta_runs`` and the privacy log gain the
    re-run's own entries by design: a run that changed nothing is still recorded.)"""
    import duckdb

    con = duckdb.connect(str(warehouse / "migralink.duckdb"), read_only=True)
    try:
        tables = [
            t
            for (t,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()
            if t in RESULT_TABLES or t.startswith("stat_")
        ]
        return {t: con.execute(f'SELECT * FROM "{t}" ORDER BY ALL').fetchall() for t in tables}
    finally:
        con.close()


def test_standalone_scheduler_runs_the_triggered_night(airflow: Standalone, migralink_env: dict[str, str]) -> None:
    import duckdb

    try:
        started = time.monotonic()
        wait_until_ready(airflow)
        ready = time.monotonic()
        run, tasks = trigger_and_wait(airflow)
        print(f"Airflow ready, DAG parsed after {ready - started:.0f} s; the run took {time.monotonic() - ready:.0f} s")
        print(", ".join(f"{t['task_id']} {t['state']} {t['duration'] or 0:.1f} s" for t in tasks))

        # Every task succeeded; only a sensor may skip (a source missing at its arrival deadline). Every source
        # is there in tiny_landing, and the counts below would show a skipped one.
        states = outcome(run, tasks)
        assert run["data_interval_end"].startswith("2026-03-03T02:00:00"), run
        assert set(states) == set(EVERY_TASK), states

        con = duckdb.connect(str(Path(migralink_env["MIGRALINK_WAREHOUSE"]) / "migralink.duckdb"), read_only=True)
        try:
            processed = con.execute("SELECT DISTINCT partition_date::VARCHAR FROM meta_partitions ORDER BY 1")
            assert [d for (d,) in processed.fetchall()] == list(LANDING_DAYS[:2]), "2026-03-03 waits"
            for table in ("border_crossings", "visa_decisions", "residence_permits"):
                assert con.execute(f"SELECT count(*) FROM {table}").fetchall() == [(2,)], table
            assert con.execute("SELECT count(*) FROM quarantine").fetchall() == [(1,)]
            tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
            for table in tables:
                rows = con.execute(f'SELECT * FROM "{table}"').fetchall()
                leaked = [row for row in rows if any(text in str(row) for text in PLAINTEXT)]
                assert not leaked, f"plaintext identifiers stored in {table}: {leaked[:3]}"
        finally:
            con.close()

        # A task cleared and run again by the scheduler: the same result. (The whole night run again is tested
        # with dag.test() in test_dag_run.py: 14 more task processes here would cost a minute.)
        warehouse = Path(migralink_env["MIGRALINK_WAREHOUSE"])
        first = night_result(warehouse)
        assert first["border_crossings"] and first["meta_partitions"], "the comparison below compares something"
        task_ids = ["ingest_partitions"]
        tries = {t["task_id"]: t["try_number"] for t in tasks}
        cleared = time.monotonic()
        run, tasks = clear_and_wait(airflow, run, task_ids)
        print(f"cleared {task_ids}: ran again in {time.monotonic() - cleared:.0f} s")
        outcome(run, tasks)
        again = {t["task_id"] for t in tasks if t["try_number"] > tries[t["task_id"]]}
        assert again == set(task_ids), f"ran again: {sorted(again)}"
        assert night_result(warehouse) == first, f"clearing {task_ids} changed the warehouse"
        from pipeline.warehouse.lock import current

        assert current(warehouse) is None, "the run gave its writer lease back"
        assert not (warehouse / ".night-snapshot.duckdb").exists(), "the night committed"
    except BaseException:
        print(airflow.diagnostics())
        raise
