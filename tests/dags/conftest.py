"""Fixtures of the DAG tests: an isolated Airflow home and a tiny hand-made landing zone.

Airflow reads its configuration when it is first imported, so the environment is set here, when pytest
loads this file, before any test module imports ``airflow``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from dag_test_support import (
    AIRFLOW_ENV,
    BAD_BORDER_ROW,
    COLUMNS,
    LANDING_DAYS,
    rows_for,
    stop_runners,
    write_partition,
)

# Never touch ~/airflow: parse-only tests get a throw-away home of their own.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="migralink-airflow-parse-")
atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)
os.environ.update(AIRFLOW_ENV)


@pytest.fixture(scope="session", autouse=True)
def _dag_runners() -> object:
    """The DAG runner interpreters (one per Airflow home in use) stop with the session."""
    yield
    stop_runners()


@pytest.fixture
def tiny_landing(tmp_path: Path) -> Path:
    """Three days x three sources, one valid row each; 2026-03-01 border also holds one invalid row."""
    landing = tmp_path / "landing"
    for day in LANDING_DAYS:
        for source in COLUMNS:
            rows = rows_for(source, day)
            if source == "border" and day == LANDING_DAYS[0]:
                rows.append(BAD_BORDER_ROW)
            write_partition(landing, source, day, rows)
    return landing
