"""The warehouse's writer lease: one writer at a time across ``migralink`` commands and DAG runs.

Other writers are real processes (a second Python interpreter), since a lease held by this process is its own.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.cli.main import main
from pipeline.warehouse import lock
from pipeline.warehouse.connection import connect
from pipeline.warehouse.lock import WarehouseLocked

HOLD = """
import sys, time
from pathlib import Path
from pipeline.warehouse import lock
warehouse = Path(sys.argv[1])
{take}
print("held", flush=True)
time.sleep(float(sys.argv[2]))
{give}
"""


def hold_in_other_process(warehouse: Path, seconds: float, *, run: str | None = None) -> subprocess.Popen[str]:
    """Another process taking the lease (a command's process lease, or a DAG run's lease with ``run``)."""
    if run is None:
        take, give = "lock.acquire(warehouse, command='review accept')", "lock.release(warehouse)"
    else:
        ttl = "__import__('datetime').timedelta(hours=1)"
        take = f"lock.acquire(warehouse, command='migration_nightly', holder={run!r}, ttl={ttl})"
        give = "pass  # a run lease outlives the task that took it"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD.format(take=take, give=give), str(warehouse), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    warehouse = tmp_path / "wh"
    connect(warehouse).close()
    other = hold_in_other_process(warehouse, 30)
    try:
        with pytest.raises(WarehouseLocked, match=r"being written by `migralink review accept` \(pid \d+ on "):
            connect(warehouse, wait=0)
        connect(warehouse, read_only=True).close()  # readers never wait
    finally:
        other.kill()
        other.wait()
    # The holder was killed: its lease is stale and the next writer goes ahead.
    connect(warehouse, wait=0).close()


def test_a_second_writer_waits_for_the_first_to_finish(tmp_path: Path) -> None:
    warehouse = tmp_path / "wh"
    connect(warehouse).close()
    other = hold_in_other_process(warehouse, 1.5)
    start = time.monotonic()
    try:
        connect(warehouse, wait=30).close()
    finally:
        other.wait()
    assert 0.5 < time.monotonic() - start < 20
    assert lock.current(warehouse) is None


def test_a_dag_runs_lease_spans_its_tasks_and_keeps_the_cli_out(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    warehouse = tmp_path / "wh"
    connect(warehouse).close()
    run = "migration_nightly/scheduled__2026-03-03T02:00:00+00:00"
    hold_in_other_process(warehouse, 0, run=run).wait()  # begin_night's process has ended; the lease stays

    assert main(["status", "--warehouse", str(warehouse)]) == 0  # reading is fine
    capsys.readouterr()
    assert main(["review", "accept", "x", "--warehouse", str(warehouse)]) == 1
    err = capsys.readouterr().err
    assert f"the Airflow run {run} (migration_nightly)" in err and len(err.strip().splitlines()) == 1

    # A later task of the same run acts for it; the lease is renewed, not taken over.
    with lock.acting_for(warehouse, run, "link_persons", ttl=dt.timedelta(hours=1)):
        connect(warehouse).close()
    assert lock.current(warehouse).holder == run  # type: ignore[union-attr]
    assert lock.release(warehouse, run)
    connect(warehouse, wait=0).close()


def test_an_expired_or_ended_run_lease_is_taken_over(tmp_path: Path) -> None:
    warehouse = tmp_path / "wh"
    lock.acquire(warehouse, command="migration_nightly", holder="migration_nightly/a", ttl=dt.timedelta(seconds=-1))
    lock._mine.clear()  # as seen from another process
    connect(warehouse, wait=0).close()  # expired

    lock.acquire(warehouse, command="migration_nightly", holder="migration_nightly/b", ttl=dt.timedelta(hours=6))
    lock._mine.clear()
    with pytest.raises(WarehouseLocked):
        lock.acquire(warehouse, command="migration_nightly", holder="migration_nightly/c", wait=0)
    taken = lock.acquire(
        warehouse, command="migration_nightly", holder="migration_nightly/c", wait=0, stale=lambda lease: True
    )
    assert taken.holder == "migration_nightly/c"


def test_a_command_holds_the_lease_between_its_connections(tmp_path: Path) -> None:
    warehouse = tmp_path / "wh"
    with lock.command_scope("link"):
        connect(warehouse).close()
        held = json.loads((warehouse / lock.LOCK_FILE).read_text())
        assert held["command"] == "link" and held["pid"] == os.getpid()
        connect(warehouse).close()  # its own lease does not block it
    assert lock.current(warehouse) is None


def test_a_killed_command_leaves_no_lease_that_blocks(tmp_path: Path) -> None:
    warehouse = tmp_path / "wh"
    other = hold_in_other_process(warehouse, 60)
    other.send_signal(signal.SIGKILL)
    other.wait()
    assert lock.current(warehouse) is not None  # still written down ...
    connect(warehouse, wait=0).close()  # ... but its process is gone


def test_a_bad_wait_setting_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = hold_in_other_process(tmp_path / "wh", 30)
    monkeypatch.setenv(lock.WAIT_ENV, "soon")
    try:
        with pytest.raises(Exception, match="MIGRALINK_LOCK_WAIT must be a number of seconds, not 'soon'"):
            connect(tmp_path / "wh")
    finally:
        other.kill()
        other.wait()
