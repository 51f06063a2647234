"""Whole runs of ``linkage_model`` with ``dag.test()`` on a temporary SQLite Airflow home, as in test_dag_run.py;
its DAGs folder holds a copy of this DAG and its helper module only, so the runs parse nothing else.

The warehouse is linked in this process first (a small synthetic population: its first night trains the current
model with the nightly seed). The DAG's candidate, trained with the same seed on the same records, is then the same
model: not worse, so promoted. For the second run the current model's link threshold is moved just above the
lowest links, and the clerks have said those pairs are two persons each: the current model gets the decisions right
and the candidate wrong, so the candidate is kept and the run still succeeds.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from dag_test_support import DAGS, migrated_home, run_dag_test
from dag_test_support import clean_env as support_env

pytest.importorskip("airflow.sdk")

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

DAG_FILES = ("linkage_model.py", "migralink_tasks.py")  # the runs parse this DAG and its helper module only
SUNDAY = "2026-03-08T04:00:00+00:00"  # a scheduled run (after the DAG's start date)
TASKS = {"train_candidate": "success", "compare": "success", "promote_or_keep": "success"}


def clean_env(**extra: str) -> dict[str, str]:
    env = support_env(**extra)
    if "AIRFLOW_HOME" in extra:  # the copy of this DAG under the Airflow home (see DAG_FILES)
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(extra["AIRFLOW_HOME"]) / "dags")
    return env


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A migrated SQLite Airflow home, shared by the runs of this module, and a warehouse of about 500 records linked
    by its first night (which trained the current model); built while the home gets its migrated database."""
    from pipeline.ingest.load import ingest
    from pipeline.nightly.linking import link_night
    from pipeline.synth import generate
    from pipeline.warehouse.connection import connect
    from privacy.keys import Keyring

    home = tmp_path_factory.mktemp("airflow-home")
    (home / "dags").mkdir()
    for name in DAG_FILES:
        shutil.copy(DAGS / name, home / "dags" / name)
    with concurrent.futures.ThreadPoolExecutor(1) as beside:
        migrated = beside.submit(migrated_home, home, tmp_path_factory.getbasetemp())
        root = tmp_path_factory.mktemp("linkage-model")
        generate(root / "landing", persons=200, start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31), seed=7)
        con = connect(root / "wh")
        try:
            ingest(con, landing=root / "landing", run_date=dt.date(2025, 12, 31), ring=Keyring.generate())
            summary = link_night(con, dt.date(2025, 12, 31))
            assert summary.status == "linked" and summary.trained and summary.model_version == 1
        finally:
            con.close()
        migrated.result(timeout=240)
    return home, root / "wh"


def run_dag(home: Path, env: dict[str, str], run_conf: dict[str, object] | None = None) -> tuple[dict, str]:
    return run_dag_test("linkage_model", SUNDAY, clean_env(AIRFLOW_HOME=str(home), **env), run_conf)


def rows(warehouse: Path, sql: str) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(warehouse / "migralink.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def kinds(warehouse: Path) -> list[str]:
    return [json.loads(bytes(entry))["kind"] for (entry,) in rows(warehouse, "SELECT entry FROM audit_log")]


def test_a_candidate_as_good_as_the_current_model_is_promoted(prepared: tuple[Path, Path], tmp_path: Path) -> None:
    from pipeline.warehouse.lock import current

    airflow_home, linked = prepared
    warehouse = tmp_path / "wh"
    shutil.copytree(linked, warehouse)

    outcome, _ = run_dag(airflow_home, {"MIGRALINK_WAREHOUSE": str(warehouse)})

    assert outcome == {"state": "success", "tasks": TASKS}
    models = rows(warehouse, "SELECT version, status, trained_for FROM linkage_models ORDER BY version")
    assert [(v, s) for v, s, _ in models] == [(1, "promoted"), (2, "promoted")]
    assert models[1][2].startswith("linkage_model/"), "the candidate names the run that trained it"
    assert rows(
        warehouse,
        "SELECT version FROM linkage_models WHERE status = 'promoted' ORDER BY promoted_at DESC LIMIT 1",
    ) == [(2,)], "the candidate is the current model"
    decided = rows(warehouse, "SELECT decision, forced, decided_by, failed FROM linkage_model_promotions")
    assert [(d, f, by.startswith("airflow linkage_model/"), failed) for d, f, by, failed in decided] == [
        ("promoted", False, True, [])
    ]
    assert kinds(warehouse)[-2:] == ["model_trained", "model_promoted"]
    assert current(warehouse) is None, "the run gave up the warehouse's writer lease"


def test_a_worse_candidate_is_kept_and_the_run_succeeds(prepared: tuple[Path, Path], tmp_path: Path) -> None:
    import duckdb

    from linkage.review import decide, enqueue_pairs, pair_id_sql

    airflow_home, linked = prepared
    warehouse = tmp_path / "elsewhere"
    shutil.copytree(linked, warehouse)
    con = duckdb.connect(str(warehouse / "migralink.duckdb"))
    try:
        weight, above = (
            w
            for (w,) in con.execute(
                "SELECT DISTINCT match_weight FROM linkage_pairs WHERE match_weight >= 6 ORDER BY 1 LIMIT 2"
            ).fetchall()
        )
        lowest = [
            p
            for (p,) in con.execute(
                f"SELECT {pair_id_sql('unique_id_l', 'unique_id_r')} FROM linkage_pairs WHERE match_weight = ?",
                [weight],
            ).fetchall()
        ]
        con.execute("CREATE TEMP VIEW scored AS SELECT * FROM linkage_pairs")
        enqueue_pairs(con, "scored", lower=float("-inf"), upper=float("inf"), night=dt.date(2025, 12, 31))
        decide(con, lowest, "rejected", reviewer="clerk", at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC))
        con.execute("UPDATE linkage_models SET link_threshold = ?", [(weight + above) / 2])
    finally:
        con.close()

    # MIGRALINK_WAREHOUSE names another warehouse; the run's param overrides it.
    outcome, logs = run_dag(
        airflow_home, {"MIGRALINK_WAREHOUSE": str(tmp_path / "not-this")}, run_conf={"warehouse": str(warehouse)}
    )

    assert outcome == {"state": "success", "tasks": TASKS}
    wrong = f"{len(lowest)} of {len(lowest)} review decisions wrong (current model 0)"
    assert f"kept the current model v1; candidate v2 not promoted: worse than v1: {wrong}" in logs
    assert rows(warehouse, "SELECT version, status FROM linkage_models ORDER BY version") == [
        (1, "promoted"),
        (2, "candidate"),
    ]
    assert rows(
        warehouse, "SELECT decision, candidate_version, current_version, failed FROM linkage_model_promotions"
    ) == [("kept", 2, 1, ["review_decisions"])]
    assert kinds(warehouse)[-2:] == ["model_trained", "model_kept"]
    assert not (tmp_path / "not-this").exists()


def test_the_dag_is_weekly_one_run_at_a_time_and_gives_up_its_lease_on_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.syspath_prepend(str(DAGS))
    bag = DagBag(dag_folder=str(DAGS / "linkage_model.py"))
    assert bag.import_errors == {}
    dag = bag.dags["linkage_model"]
    from migralink_tasks import release_run_lease

    assert (dag.schedule, dag.max_active_runs, dag.catchup) == ("0 4 * * 0", 1, False)
    assert {t.task_id: set(t.upstream_task_ids) for t in dag.tasks} == {
        "train_candidate": set(),
        "compare": {"train_candidate"},
        "promote_or_keep": {"train_candidate", "compare"},
    }
    from pipeline.nightly.linking import TRAINING_SEED

    assert dict(dag.params) == {"seed": TRAINING_SEED, "warehouse": None}, "the nightly seed by default"
    assert dag.on_failure_callback == release_run_lease or release_run_lease in dag.on_failure_callback
    assert dag.doc_md and "not worse" in dag.doc_md
