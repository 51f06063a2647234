"""Run DAGs with ``dag.test()`` in a fresh interpreter; print each outcome as JSON.

Usage: ``python dag_runner.py DAG_ID LOGICAL_DATE [RUN_CONF_JSON]`` runs one DAG run and prints its outcome on the
last line. ``python dag_runner.py --serve`` runs the DAG runs asked for on stdin, one after another (see
:func:`serve`): Airflow's import and its in-process execution API start once, which is about 16 s of a 35 s run of
the tiny nightly DAG. The caller prepares the environment (``AIRFLOW_HOME`` with a migrated database,
``AIRFLOW__CORE__DAGS_FOLDER``, ``MIGRALINK_*``) because Airflow reads it when first imported.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import traceback
from pathlib import Path


def run(dag_id: str, logical_date: str, run_conf: dict) -> dict:
    """One DAG run with ``dag.test()``; its state and its task instances' states."""
    from airflow.dag_processing.dagbag import BundleDagBag
    from airflow.utils.session import create_session

    dags = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    bag = BundleDagBag(dag_folder=dags, bundle_path=dags, bundle_name="dags-folder")
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags[dag_id]
    outcome = dag.test(logical_date=dt.datetime.fromisoformat(logical_date), run_conf=run_conf)
    with create_session() as session:
        tasks = {ti.task_id: str(ti.state) for ti in outcome.get_task_instances(session=session)}
    return {"state": str(outcome.state), "tasks": tasks}


def serve() -> None:
    """Read requests from stdin, one JSON object a line: ``dag_id``, ``logical_date``, ``conf``, ``env`` (the
    ``MIGRALINK_*`` variables of this run: those of the run before are removed first) and ``log`` (a file that gets
    everything the run writes to stdout and stderr). Answer each with one JSON line on the original stdout: the
    outcome, or ``{"error": traceback}``."""
    from dag_test_support import output_to  # beside this file (the script's directory is on sys.path)

    answers = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    previous: list[str] = []
    for line in sys.stdin:
        request = json.loads(line)
        for name in previous:
            os.environ.pop(name, None)
        os.environ.update(request["env"])
        previous = list(request["env"])
        with output_to(Path(request["log"])):
            try:
                answer = run(request["dag_id"], request["logical_date"], request["conf"])
            except BaseException:  # the test reports it with the run's log
                traceback.print_exc()
                answer = {"error": traceback.format_exc()}
        answers.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        dag_id, logical_date, *conf = sys.argv[1:]
        print(json.dumps(run(dag_id, logical_date, json.loads(conf[0]) if conf else {})))
