"""Person keys stay stable across nights; merges and splits are recorded, never silent."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from linkage.person_keys import assign_person_keys

NIGHT1, NIGHT2 = dt.date(2024, 1, 1), dt.date(2024, 1, 2)


def night(con: duckdb.DuckDBPyConnection, clusters: dict[str, str], day: dt.date):
    """``clusters`` maps record ids (source 'border') to cluster ids."""
    con.execute("CREATE OR REPLACE TABLE tonight (source VARCHAR, record_id VARCHAR, cluster_id VARCHAR)")
    con.executemany("INSERT INTO tonight VALUES ('border', ?, ?)", list(clusters.items()))
    return assign_person_keys(con, "tonight", day)


def keys(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(con.execute("SELECT record_id, person_key FROM person_keys").fetchall())


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def test_keys_are_random_pseudonyms_and_stable_when_nothing_changes(con: duckdb.DuckDBPyConnection) -> None:
    first = night(con, {"r1": "a", "r2": "a", "r3": "b"}, NIGHT1)
    before = keys(con)
    assert first.new_persons == 2 and before["r1"] == before["r2"] != before["r3"]
    assert all(k.startswith("P") and len(k) == 33 for k in before.values())
    again = night(con, {"r1": "x", "r2": "x", "r3": "y"}, NIGHT2)  # other cluster ids, same grouping
    assert keys(con) == before
    assert (again.new_persons, again.changed_records) == (0, 0)
    assert con.execute("SELECT count(*) FROM person_key_history").fetchall() == [(0,)]


def test_new_records_join_existing_persons_or_get_new_keys(con: duckdb.DuckDBPyConnection) -> None:
    night(con, {"r1": "a", "r2": "b"}, NIGHT1)
    before = keys(con)
    result = night(con, {"r1": "a", "r2": "b", "r3": "a", "r4": "c"}, NIGHT2)
    after = keys(con)
    assert after["r3"] == before["r1"] and after["r4"] not in before.values()
    assert result.new_persons == 1 and result.changed_records == 0


def test_a_merge_keeps_the_larger_persons_key_and_is_recorded(con: duckdb.DuckDBPyConnection) -> None:
    night(con, {"r1": "a", "r2": "a", "r3": "b"}, NIGHT1)
    before = keys(con)
    result = night(con, {"r1": "m", "r2": "m", "r3": "m"}, NIGHT2)
    after = keys(con)
    assert set(after.values()) == {before["r1"]}
    assert (result.merged_keys, result.split_keys, result.changed_records) == (1, 0, 1)
    assert con.execute("SELECT night, old_key, new_key, reason, records FROM person_key_history").fetchall() == [
        (NIGHT2, before["r3"], before["r1"], "merge", 1)
    ]


def test_a_split_keeps_the_key_on_the_larger_part_and_is_recorded(con: duckdb.DuckDBPyConnection) -> None:
    night(con, {"r1": "a", "r2": "a", "r3": "a"}, NIGHT1)
    (old,) = set(keys(con).values())
    result = night(con, {"r1": "a", "r2": "a", "r3": "z"}, NIGHT2)
    after = keys(con)
    assert after["r1"] == after["r2"] == old != after["r3"]
    assert (result.merged_keys, result.split_keys, result.new_persons) == (0, 1, 1)
    assert con.execute("SELECT old_key, new_key, reason FROM person_key_history").fetchall() == [
        (old, after["r3"], "split")
    ]


def test_records_not_relinked_tonight_keep_their_keys(con: duckdb.DuckDBPyConnection) -> None:
    night(con, {"r1": "a", "r2": "b"}, NIGHT1)
    before = keys(con)
    night(con, {"r3": "a"}, NIGHT2)
    after = keys(con)
    assert after["r1"] == before["r1"] and after["r2"] == before["r2"] and after["r3"] not in before.values()


def record_keys(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Each record's record key, through its person key."""
    return dict(
        con.execute(
            "SELECT p.record_id, r.record_key FROM person_keys p JOIN person_record_keys r USING (person_key)"
        ).fetchall()
    )


def test_record_keys_follow_the_person_keys_through_merges_and_splits(con: duckdb.DuckDBPyConnection) -> None:
    """Every person key gets a random 32-bit record key once; a merge keeps the surviving key's, a split-off part
    gets a new one, and nothing else changes (so the same persons keep the same cell keys)."""
    night(con, {"r1": "a", "r2": "a", "r3": "b", "r4": "c"}, NIGHT1)
    first = record_keys(con)
    assert set(first) == {"r1", "r2", "r3", "r4"} and first["r1"] == first["r2"]
    assert len({first["r1"], first["r3"], first["r4"]}) == 3 and all(0 <= k < 2**32 for k in first.values())
    night(con, {"r1": "m", "r2": "m", "r3": "m", "r4": "c"}, NIGHT2)  # r3 merges into r1's person
    merged = record_keys(con)
    assert merged == first | {"r3": first["r1"]}
    night(con, {"r1": "m", "r2": "s", "r3": "m", "r4": "c"}, NIGHT2 + dt.timedelta(days=1))  # r2 splits off
    split = record_keys(con)
    assert split["r1"] == split["r3"] == first["r1"] and split["r4"] == first["r4"]
    assert split["r2"] not in (first["r1"], first["r4"])
    drawn = con.execute("SELECT count(*), count(DISTINCT person_key) FROM person_record_keys").fetchall()[0]
    assert drawn[0] == drawn[1] == 4  # a, b (merged away, kept), c, and the split-off part


def test_changed_keys_are_deleted_and_inserted_again_not_updated_in_place(tmp_path) -> None:
    """A night's changed keys lie all over a large table: updated in place, DuckDB's checkpoint would rewrite every
    row group they touch. They are deleted and inserted again instead, one row per record all the same."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    first = {f"r{i}": f"c{i // 3}" for i in range(3000)}
    night(con, first, NIGHT1)
    con.execute("CHECKPOINT")
    before = keys(con)
    # r1 joins another person, r2999 splits off, and two persons of three records each merge
    moved = {"r1": "c500", "r2999": "split"} | {f"r{i}": "merged" for i in range(30, 36)}
    with_updates = "SELECT count(*) FROM pragma_storage_info('person_keys') WHERE has_updates"
    con.execute("BEGIN")
    result = night(con, first | moved, NIGHT2)
    assert con.execute(with_updates).fetchall() == [(0,)]
    con.execute("COMMIT")
    after = keys(con)
    assert result.changed_records == 5 and len(after) == 3000
    assert after["r1"] == before["r1500"] and after["r2999"] not in before.values()
    assert len({after[f"r{i}"] for i in range(30, 36)}) == 1
    changed = {r for r in after if after[r] != before[r]}
    assert len(changed) == 5 and changed <= set(moved)
    on_night2 = {
        r for (r,) in con.execute("SELECT record_id FROM person_keys WHERE assigned_on = ?", [NIGHT2]).fetchall()
    }
    assert on_night2 == changed
