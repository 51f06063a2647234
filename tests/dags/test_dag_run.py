"""Whole-DAG runs of ``migration_nightly`` with ``dag.test()`` on a temporary SQLite Airflow home.

The runs happen in a runner interpreter of their own whose environment is prepared first (the module's runs share
it: see ``dag_test_support.run_dag_test``): Airflow reads its configuration when imported, and ``dag.test()``
only runs DAGs inside the configured DAGS_FOLDER.
A failing DAG does not raise, so the tests assert on the returned run and task states.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from dag_test_support import LANDING_DAYS, clean_env, migrated_home, rows_for, run_dag_test, write_partition

pytest.importorskip("airflow.sdk")

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

# The night of 2026-03-03 at 02:00 UTC processes partitions up to 2026-03-02. (Airflow creates no task
# instances for a logical date before the DAG's start_date, so the test data are dated after it.)
NIGHT = "2026-03-03T02:00:00+00:00"
TABLES = (
    "border_crossings",
    "visa_decisions",
    "residence_permits",
    "quarantine",
    "meta_partitions",
    "meta_runs",
    "meta_keys",
)


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite metadata database, shared by the runs of this module."""
    return migrated_home(tmp_path_factory.mktemp("airflow-home"), tmp_path_factory.getbasetemp())


def run_dag(home: Path, migralink_env: dict[str, str], run_conf: dict[str, str] | None = None) -> tuple[dict, str]:
    """Run the DAG once; return its outcome (run and task states) and the log output."""
    return run_dag_test("migration_nightly", NIGHT, clean_env(AIRFLOW_HOME=str(home), **migralink_env), run_conf)


def snapshot(warehouse: Path) -> dict[str, list[tuple]]:
    """Every row of every warehouse table."""
    import duckdb

    con = duckdb.connect(str(warehouse / "migralink.duckdb"), read_only=True)
    try:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}
    finally:
        con.close()


def test_nightly_run_ingests_partitions_up_to_the_day_before(
    airflow_home: Path, tiny_landing: Path, tmp_path: Path
) -> None:
    from privacy.keys import write_new_key_file

    key_file, warehouse = tmp_path / "migralink.key", tmp_path / "warehouse"
    write_new_key_file(key_file)
    env = {
        "MIGRALINK_LANDING": str(tiny_landing),
        "MIGRALINK_WAREHOUSE": str(warehouse),
        "MIGRALINK_KEY_FILE": str(key_file),
    }

    outcome, _ = run_dag(airflow_home, env)

    assert outcome == {
        "state": "success",
        "tasks": {
            "check_key": "success",
            "wait_border": "success",
            "wait_visa": "success",
            "wait_permit": "success",
            "begin_night": "success",
            "ingest_partitions": "success",
            "gate_raw": "success",
            "link_persons": "success",
            "gate_linkage": "success",
            "classify_crossings": "success",
            "gate_statistics": "success",
            "publish_releases": "success",
            "gate_releases": "success",
            "commit_night": "success",
        },
    }
    # The night committed as one unit: its snapshot and staging directory are gone (too few records to link, so
    # it wrote no report), the snapshot became the mirror, level with the warehouse, and the writer lease is
    # given up.
    assert sorted(p.name for p in warehouse.iterdir()) == [
        ".night-mirror.duckdb",
        ".night-mirror.stamp",
        ".writer.lock",
        "migralink.duckdb",
        "quality",
        "reports",
    ]
    from pipeline.warehouse import mirror

    assert mirror.is_level(warehouse, warehouse / "migralink.duckdb")
    from pipeline.warehouse.lock import current

    assert current(warehouse) is None
    import duckdb

    con = duckdb.connect(str(warehouse / "migralink.duckdb"), read_only=True)
    try:
        processed = con.execute("SELECT DISTINCT partition_date::VARCHAR FROM meta_partitions ORDER BY 1").fetchall()
        assert [d for (d,) in processed] == list(LANDING_DAYS[:2]), "2026-03-03 waits for the next night"
        for table in ("border_crossings", "visa_decisions", "residence_permits"):
            assert con.execute(f"SELECT count(*) FROM {table}").fetchall() == [(2,)]
        assert con.execute("SELECT count(*) FROM quarantine").fetchall() == [(1,)]
        assert con.execute(
            "SELECT run_date::VARCHAR, rows_read, rows_accepted, rows_quarantined FROM meta_runs"
        ).fetchall() == [("2026-03-02", 7, 6, 1)]
        stored = con.execute("SELECT * FROM border_crossings").fetchall()
        assert not any("NGUYEN" in str(row) or "C7654321" in str(row) for row in stored), "pseudonymized"
    finally:
        con.close()

    # The whole night run again (an operator clearing the run; the standalone scheduler test clears one task):
    # every task succeeds and the data are as they were. meta_runs gains the re-run's own row by design.
    first = snapshot(warehouse)
    again, _ = run_dag(airflow_home, env)
    assert again == outcome
    assert {t: rows for t, rows in snapshot(warehouse).items() if t != "meta_runs"} == {
        t: rows for t, rows in first.items() if t != "meta_runs"
    }, "running the night again changed the warehouse"


def test_wrong_key_fails_the_run_before_reading_data(airflow_home: Path, tiny_landing: Path, tmp_path: Path) -> None:
    from pipeline.nightly.settings import load_settings
    from pipeline.nightly.steps import run_nightly
    from privacy.keys import write_new_key_file

    key_file, other_key, warehouse = tmp_path / "migralink.key", tmp_path / "other.key", tmp_path / "warehouse"
    write_new_key_file(key_file)
    write_new_key_file(other_key)
    run_nightly(load_settings(None, landing=tiny_landing, warehouse=warehouse, key_file=key_file), dt.date(2026, 3, 1))
    for source in ("border", "visa", "permit"):  # new data the run would ingest with the right key
        write_partition(tiny_landing, source, "2026-03-02", rows_for(source, "2026-03-02"))
    before = snapshot(warehouse)

    # The environment names the right key; the run's params override it with the wrong one.
    env = {
        "MIGRALINK_LANDING": str(tiny_landing),
        "MIGRALINK_WAREHOUSE": str(warehouse),
        "MIGRALINK_KEY_FILE": str(key_file),
    }
    outcome, logs = run_dag(airflow_home, env, run_conf={"key_file": str(other_key)})

    # "failed" at once, not "up_for_retry": a key problem is not retried (the retry delay would time out).
    assert outcome == {
        "state": "failed",
        "tasks": {
            "check_key": "failed",
            "wait_border": "upstream_failed",
            "wait_visa": "upstream_failed",
            "wait_permit": "upstream_failed",
            "begin_night": "upstream_failed",
            "ingest_partitions": "upstream_failed",
            "gate_raw": "upstream_failed",
            "link_persons": "upstream_failed",
            "gate_linkage": "upstream_failed",
            "classify_crossings": "upstream_failed",
            "gate_statistics": "upstream_failed",
            "publish_releases": "upstream_failed",
            "gate_releases": "upstream_failed",
            "commit_night": "upstream_failed",
        },
    }
    assert snapshot(warehouse) == before
    assert "is not the key this warehouse was built with" in logs


def test_a_held_gate_fails_its_task_and_nothing_downstream_runs(airflow_home: Path, tmp_path: Path) -> None:
    """A border partition of 150 rows, 100 of them invalid: the raw gate's critical quarantine share holds the
    night. The gate task fails with the reason; linkage and publishing do not run; what was ingested stays."""
    import duckdb

    from privacy.keys import write_new_key_file

    landing, key_file, warehouse = tmp_path / "landing", tmp_path / "migralink.key", tmp_path / "warehouse"
    write_new_key_file(key_file)
    day = LANDING_DAYS[1]
    valid = [[f"B{i}", *rows_for("border", day)[0][1:]] for i in range(50)]
    invalid = [[f"X{i}", "SIDEWAYS", *rows_for("border", day)[0][2:]] for i in range(100)]
    write_partition(landing, "border", day, valid + invalid)
    env = {
        "MIGRALINK_LANDING": str(landing),
        "MIGRALINK_WAREHOUSE": str(warehouse),
        "MIGRALINK_KEY_FILE": str(key_file),
    }

    outcome, logs = run_dag(airflow_home, env)

    assert outcome["state"] == "failed"
    assert {k: v for k, v in outcome["tasks"].items() if v != "upstream_failed"} == {
        "check_key": "success",
        "wait_border": "success",
        "wait_visa": "skipped",  # no visa or permit partition: skipped at the (long past) deadline
        "wait_permit": "skipped",
        "begin_night": "success",
        "ingest_partitions": "success",
        "gate_raw": "failed",
    }
    assert "raw_border/quarantine_share_critical" in logs
    assert not (warehouse / ".night-snapshot.duckdb").exists()  # the held night is closed, not rolled back
    con = duckdb.connect(str(warehouse / "migralink.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT rows_read, rows_quarantined FROM meta_partitions").fetchall() == [(150, 100)]
        assert con.execute("SELECT count(*) FROM person_keys").fetchall() == [(0,)]
        assert con.execute("SELECT count(*) FROM release_ledger").fetchall() == [(0,)]
        assert con.execute(
            "SELECT suite, expectation FROM quality_results WHERE NOT success AND severity = 'critical'"
        ).fetchall() == [("raw_border", "quarantine_share_critical")]
    finally:
        con.close()
