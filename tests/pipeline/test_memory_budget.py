"""DuckDB's memory budget for the warehouse (``MIGRALINK_MEMORY_LIMIT``, pipeline/warehouse/memory.py)."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from pipeline.errors import ConfigError, environment_problem
from pipeline.warehouse.connection import DB_FILE, connect
from pipeline.warehouse.memory import DEFAULT_MEMORY_LIMIT, MEMORY_ENV, memory_limit


def _budget(con: duckdb.DuckDBPyConnection) -> str:
    return str(con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])


def test_every_warehouse_connection_has_the_default_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MEMORY_ENV, raising=False)
    assert DEFAULT_MEMORY_LIMIT == "2GiB"
    con = connect(tmp_path / "wh")
    try:
        assert _budget(con) == "2.0 GiB"  # not DuckDB's own default, 80 % of the machine's memory
    finally:
        con.close()
    con = connect(tmp_path / "wh", read_only=True)
    try:
        assert _budget(con) == "2.0 GiB"
    finally:
        con.close()


@pytest.mark.parametrize(
    ("setting", "shown"),
    [("512MiB", "512.0 MiB"), (" 3 GiB ", "3.0 GiB"), ("1.5gb", "1.3 GiB"), ("2500MB", "2.3 GiB")],
)
def test_the_variable_sets_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str, shown: str
) -> None:
    monkeypatch.setenv(MEMORY_ENV, setting)
    con = connect(tmp_path / "wh")
    try:
        assert _budget(con) == shown
    finally:
        con.close()


def test_a_share_of_the_machines_memory_is_a_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MEMORY_ENV, "0.5%")
    con = connect(tmp_path / "wh")
    try:
        found = _budget(con)
    finally:
        con.close()
    plain = duckdb.connect()
    try:
        plain.execute("SET memory_limit = '0.5%'")
        assert found == _budget(plain) != "2.0 GiB"  # DuckDB's share of this machine's memory
    finally:
        plain.close()


@pytest.mark.parametrize("setting", ["lots", "2", "0GiB", "-1GB", "150%", "2GiB; DROP TABLE x", "2 G"])
def test_a_budget_that_is_not_a_size_stops_before_the_warehouse_is_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    monkeypatch.setenv(MEMORY_ENV, setting)
    with pytest.raises(ConfigError) as caught:
        connect(tmp_path / "wh")
    message = str(caught.value)
    assert "\n" not in message
    assert message == (
        f"{MEMORY_ENV} must be a size such as 3GiB, 2500MB or 25% (of the machine's memory), not {setting.strip()!r}"
    )
    assert not (tmp_path / "wh").exists()  # nothing created, no lease taken


def test_work_past_the_budget_spills_into_the_warehouse_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MEMORY_ENV, "32MiB")
    warehouse = tmp_path / "wh"
    con = connect(warehouse)
    spill = warehouse / (DB_FILE + ".tmp")
    seen: list[bool] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.append(spill.is_dir() and any(spill.iterdir()))
            done.wait(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        # 6,000,000 rows in 1,000,003 groups: a hash table far larger than 32 MiB
        groups, total = con.execute(
            "SELECT count(*), sum(s) FROM (SELECT range % 1000003 AS g, sum(range) AS s FROM range(6000000) GROUP BY g)"
        ).fetchall()[0]
    finally:
        done.set()
        watcher.join()
        con.close()
    assert (groups, total) == (1000003, sum(range(6000000)))
    assert any(seen), "the aggregate did not spill to the warehouse directory"
    assert not spill.exists() or not any(spill.iterdir())  # nothing left once closed


def test_running_out_of_the_budget_is_one_line_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MEMORY_ENV, "32MiB")
    con = connect(tmp_path / "wh")
    try:
        with pytest.raises(duckdb.OutOfMemoryException) as caught:  # a list cannot spill
            con.execute("SELECT len(list(repeat(range::VARCHAR, 30))) FROM range(3000000)").fetchall()
    finally:
        con.close()
    problem = environment_problem(caught.value)
    assert problem == (
        f"out of memory: DuckDB's budget ({MEMORY_ENV}=32MiB) was not enough; raise it, or run the night where it has "
        "more memory (a failed night leaves the warehouse as it was)"
    )
    assert memory_limit() == "32MiB"
