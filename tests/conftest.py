"""Shared fixtures: tiny landing zones written by hand, keys, warehouses; the quality gates' and the charts' switches.

The quality gates validate about 80 expectations with Great Expectations on every night (about 5 s of fixed
cost however small the night). Tests of other things run their nights with Great Expectations' validation
left out: the batches are built and every expectation is recorded as met. The tests marked ``quality_gates``
(the gates' own, the end-to-end run that checks nothing leaks, the canary test, the README's command block)
and the DAG tests (in their own processes) run the real gates. Likewise the reports' charts are drawn as a
placeholder except in the tests marked ``charts`` (the renderer's and the reports' own, the end-to-end run, the
canary test, the README's command block: :mod:`tests.chart_placeholders`).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.ingest.contract import load_contract
from privacy.keys import Keyring, write_new_key_file
from tests.plain_night import every_expectation_met

_GATES = {"on": True}
_CHARTS = {"drawn": True}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The modules that hold long tests (marked ``slow`` or ``spark``) first, every module's tests kept together
    and in their order. ``make test`` hands whole modules to its workers (``--dist loadscope``: a module's
    fixtures are built once, not once per worker), longest first, so that no long module begins when the others
    are nearly done."""
    first_seen: dict[str, int] = {}
    long: set[str] = set()
    for index, item in enumerate(items):
        module = item.nodeid.split("::")[0]
        first_seen.setdefault(module, index)
        if item.get_closest_marker("slow") or item.get_closest_marker("spark"):
            long.add(module)
    modules = sorted(first_seen, key=lambda m: (m not in long, first_seen[m]))
    rank = {module: n for n, module in enumerate(modules)}
    items.sort(key=lambda item: rank[item.nodeid.split("::")[0]])  # stable: each module's own order is kept


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture of the test is set up (module-scoped ones included): are the gates on for it, and are
    its charts drawn?"""
    _GATES["on"] = item.get_closest_marker("quality_gates") is not None
    _CHARTS["drawn"] = item.get_closest_marker("charts") is not None


@pytest.fixture(scope="session", autouse=True)
def _quality_gates_switch() -> object:
    """Leave Great Expectations' validation out of the nights of tests not marked ``quality_gates``: every
    expectation is taken as met (the batches are still built, the results recorded)."""
    from pipeline.quality import gates

    original = gates.validate_frames

    def validate_frames(
        project: Path | None, suites: list[gates.SuiteFile], frames: object, night: dt.date, parameters: object
    ) -> dict[str, list[gates.Validated]]:
        if _GATES["on"]:
            return original(project, suites, frames, night, parameters)  # type: ignore[arg-type]
        return every_expectation_met(suites)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gates, "validate_frames", validate_frames)
        yield


@pytest.fixture(scope="session", autouse=True)
def _chart_switch() -> object:
    """Draw the charts of tests not marked ``charts`` as a placeholder (the specs are still built, checked and put
    into their pages)."""
    from tests.chart_placeholders import patches

    with pytest.MonkeyPatch.context() as patch:
        for module, name, value in patches(lambda: _CHARTS["drawn"]):
            patch.setattr(module, name, value)
        yield


@pytest.fixture(scope="session", autouse=True)
def _check_chart_specs() -> object:
    """Every chart any test draws is checked against the Vega-Lite schema (a night leaves the check out)."""
    from linkage import charts

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(charts, "CHECK_SPECS", True)
        yield


BORDER_ROW = {
    "record_id": "B1",
    "direction": "ARR",
    "crossing_time": "2024-01-01T10:00:00",
    "port": "AKL",
    "doc_type": "P",
    "doc_number": "X1234567",
    "doc_issuing_country": "UTO",
    "family_name": "MÜLLER",
    "given_names": "HANS PETER",
    "date_of_birth": "1980-02-03",
    "sex": "M",
    "nationality": "UTO",
}
VISA_ROW = {
    "record_id": "V1",
    "visa_number": "V998877",
    "visa_category": "STUDENT",
    "decision": "GRANTED",
    "decision_date": "2023-12-01",
    "valid_from": "2024-01-01",
    "valid_until": "2025-01-01",
    "family_name": "NGUYEN",
    "given_names": "VAN AN",
    "date_of_birth": "2001-05-06",
    "sex": "M",
    "nationality": "VNM",
    "doc_number": "C7654321",
    "doc_issuing_country": "VNM",
}
PERMIT_ROW = {
    "record_id": "P1",
    "permit_number": "RP-0001",
    "permit_type": "TEMPORARY",
    "reason": "education",
    "issue_date": "2024-01-01",
    "valid_from": "2024-01-01",
    "valid_until": "2026-01-01",
    "family_name": "NGUYEN",
    "given_names": "VAN AN",
    "date_of_birth": "2001-05-06",
    "sex": "M",
    "nationality": "VNM",
    "country_of_birth": "VNM",
    "doc_number": "C7654321",
    "doc_issuing_country": "VNM",
    "region": "NORTH",
}
GOOD_ROWS = {"border": BORDER_ROW, "visa": VISA_ROW, "permit": PERMIT_ROW}

WriteCsv = Callable[..., Path]


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    path = tmp_path / "landing"
    path.mkdir()
    return path


@pytest.fixture
def write_csv(landing: Path) -> WriteCsv:
    """Write rows (dicts) as a CSV landing file; ``header`` defaults to the contract columns."""

    def write(
        source: str, day: str, rows: list[dict[str, str]], *, name: str = "part.csv", header: list[str] | None = None
    ) -> Path:
        folder = landing / source / day
        folder.mkdir(parents=True, exist_ok=True)
        cols = header or list(load_contract()[source].names)
        path = folder / name
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(cols)
            for row in rows:
                w.writerow([row.get(c, "") for c in cols])
        return path

    return write


@pytest.fixture(scope="session")
def ring() -> Keyring:
    return Keyring.generate(now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.key"
    write_new_key_file(path)
    return path


def query(warehouse: Path, sql: str) -> list[tuple[object, ...]]:
    """The rows of ``sql`` on the warehouse under ``warehouse``, opened read only."""
    import duckdb

    from pipeline.warehouse.connection import DB_FILE

    con = duckdb.connect(str(warehouse / DB_FILE), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def row(source: str, **changes: str) -> dict[str, str]:
    """A valid row of ``source`` with some fields changed."""
    out = dict(GOOD_ROWS[source])
    out.update(changes)
    return out
