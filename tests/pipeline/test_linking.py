"""Whether tonight's linkage has anything to do: every record keyed and no review decision since the last linkage."""

from __future__ import annotations

import duckdb
import pytest

from pipeline.nightly.linking import linkage_is_current


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE identity_tokens (source VARCHAR, record_id VARCHAR)")
    con.execute("CREATE TABLE person_keys (source VARCHAR, record_id VARCHAR, person_key VARCHAR)")
    con.execute("CREATE TABLE review_queue (decided_at TIMESTAMP)")
    con.execute("CREATE TABLE linkage_runs (finished_at TIMESTAMP)")
    con.execute("INSERT INTO identity_tokens VALUES ('border', 'b1'), ('visa', 'v1')")
    con.execute("INSERT INTO person_keys VALUES ('border', 'b1', 'P1'), ('visa', 'v1', 'P1')")
    con.execute("INSERT INTO linkage_runs VALUES (TIMESTAMP '2024-01-02 03:00')")
    return con


def test_every_record_keyed_and_no_decision_since_is_current(con: duckdb.DuckDBPyConnection) -> None:
    assert linkage_is_current(con)


def test_more_records_than_keys_is_not_current(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("INSERT INTO identity_tokens VALUES ('permit', 'p1')")
    assert not linkage_is_current(con)


def test_a_record_without_a_key_is_not_current_even_when_the_counts_are_equal(con: duckdb.DuckDBPyConnection) -> None:
    """A key left for a record that is no longer there must not hide a new record without one."""
    con.execute("INSERT INTO identity_tokens VALUES ('permit', 'p1')")
    con.execute("INSERT INTO person_keys VALUES ('border', 'gone', 'P2')")
    assert not linkage_is_current(con)


def test_a_review_decision_after_the_last_linkage_is_not_current(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("INSERT INTO review_queue VALUES (TIMESTAMP '2024-01-02 04:00')")
    assert not linkage_is_current(con)
