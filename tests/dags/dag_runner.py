"""Run one DAG with ``dag.test()`` in a fresh interpreter; print the outcome as JSON on the last line.

Usage: ``python dag_runner.py DAG_ID LOGICAL_DATE [RUN_CONF_JSON]``. The caller prepares the environment
(``AIRFLOW_HOME`` with a migrated database, ``AIRFLOW__CORE__DAGS_FOLDER``, ``MIGRALINK_*``) because
Airflow reads it when first imported.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path


def main(dag_id: str, logical_date: str, run_conf: str = "{}") -> None:
    from airflow.dag_processing.dagbag import BundleDagBag
    from airflow.utils.session import create_session

    dags = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    bag = BundleDagBag(dag_folder=dags, bundle_path=dags, bundle_name="dags-folder")
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags[dag_id]
    run = dag.test(logical_date=dt.datetime.fromisoformat(logical_date), run_conf=json.loads(run_conf))
    with create_session() as session:
        tasks = {ti.task_id: str(ti.state) for ti in run.get_task_instances(session=session)}
    print(json.dumps({"state": str(run.state), "tasks": tasks}))


if __name__ == "__main__":
    main(*sys.argv[1:])
