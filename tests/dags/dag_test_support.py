"""Shared pieces of the DAG tests: paths, the Airflow test environment and a tiny hand-made landing zone."""

from __future__ import annotations

import csv
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
