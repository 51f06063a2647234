"""The warehouse's mirror: a night's snapshot is made from a copy kept level with the warehouse, writing only what
changed; a stale or half-written mirror is found out by comparing every byte; rollback still restores the
warehouse exactly; and commands that remove personal data outside a night drop the mirror."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import random
import threading
from pathlib import Path

import duckdb
import pytest

from pipeline.nightly import unit
from pipeline.nightly.unit import SNAPSHOT, begin_night, commit_night, fail_night, night_unit
from pipeline.warehouse import mirror
from pipeline.warehouse.connection import DB_FILE, connect, transaction

CHUNK = 4096  # small chunks, so that a few kilobytes of test file span many of them (and several windows)


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mirror, "CHUNK", CHUNK)
    monkeypatch.setattr(mirror, "WINDOW", 8 * CHUNK)


def _bytes(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


@pytest.mark.parametrize(
    ("target_size", "changed"),
    [
        (40 * CHUNK, [3, 17, 39]),  # same length, three chunks differ
        (25 * CHUNK + 100, []),  # shorter (the source grew): the tail is written
        (60 * CHUNK, [0]),  # longer (the source shrank): truncated
        (0, []),  # no target yet: written whole
    ],
)
def test_sync_file_writes_only_the_chunks_that_differ_and_ends_equal(
    tmp_path: Path, target_size: int, changed: list[int]
) -> None:
    data = _bytes(40 * CHUNK + 1234, 1)  # a partial last chunk
    source, target = tmp_path / "source", tmp_path / "target"
    source.write_bytes(data)
    stale = bytearray(data[:target_size] + _bytes(max(target_size - len(data), 0), 2))
    for i in changed:
        stale[i * CHUNK + 7] ^= 0xFF
    if target_size:
        target.write_bytes(bytes(stale))
    written = mirror.sync_file(source, target)
    assert target.read_bytes() == data
    grown = max(len(data) - target_size, 0)
    tail = 0 if not grown else len(data) - (target_size // CHUNK) * CHUNK  # from the first chunk that differs
    assert written == len(changed) * CHUNK + tail
    assert mirror.sync_file(source, target) == 0  # level: nothing more to write


def _warehouse(tmp_path: Path) -> Path:
    warehouse = tmp_path / "wh"
    con = connect(warehouse)
    try:
        con.execute("CREATE TABLE t AS SELECT range AS i, repeat('x', 200) AS pad FROM range(20000)")
    finally:
        con.close()
    return warehouse


def _write(warehouse: Path, sql: str) -> None:
    con = connect(warehouse)
    try:
        with transaction(con):
            con.execute(sql)
    finally:
        con.close()


def _rows(warehouse: Path) -> int:
    con = duckdb.connect(str(warehouse / DB_FILE), read_only=True)
    try:
        return int(con.execute("SELECT count(*) FROM t").fetchall()[0][0])
    finally:
        con.close()


def test_a_committed_night_leaves_a_mirror_equal_to_the_warehouse_and_the_next_snapshot_copies_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = _warehouse(tmp_path)
    db = warehouse / DB_FILE
    begin_night(warehouse)  # no mirror yet: copied whole
    _write(warehouse, "INSERT INTO t SELECT range, 'night 1' FROM range(20000, 21000)")
    commit_night(warehouse)
    assert not (warehouse / SNAPSHOT).exists()
    assert (warehouse / mirror.MIRROR).read_bytes() == db.read_bytes()
    assert mirror.is_level(warehouse, db)

    writes: list[int] = []
    real = mirror.sync_file
    monkeypatch.setattr(mirror, "sync_file", lambda s, t: writes.append(real(s, t)) or writes[-1])
    before = db.read_bytes()
    begin_night(warehouse)
    assert writes == []  # the stamp matched: the mirror was renamed into the snapshot, nothing read or written
    assert (warehouse / SNAPSHOT).read_bytes() == before
    assert not (warehouse / mirror.MIRROR).exists()
    _write(warehouse, "DELETE FROM t WHERE i % 2 = 0")
    commit_night(warehouse)
    assert writes and 0 < writes[-1] < len(db.read_bytes())  # levelled: only the changed chunks written
    assert (warehouse / mirror.MIRROR).read_bytes() == db.read_bytes()


def test_a_mirror_that_is_stale_or_half_written_is_found_out_and_the_rollback_is_exact(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path)
    db = warehouse / DB_FILE
    begin_night(warehouse)
    commit_night(warehouse)
    _write(warehouse, "UPDATE t SET pad = 'changed by a command between nights' WHERE i < 5000")  # stamp no longer
    assert not mirror.is_level(warehouse, db)
    mirrored = bytearray((warehouse / mirror.MIRROR).read_bytes())
    mirrored[len(mirrored) // 2 :] = bytes(len(mirrored) - len(mirrored) // 2)  # and a sync killed halfway
    (warehouse / mirror.MIRROR).write_bytes(bytes(mirrored))
    before, rows = db.read_bytes(), _rows(warehouse)

    with pytest.raises(RuntimeError, match="a step failed"), night_unit(warehouse, dt.date(2024, 1, 31)):
        assert (warehouse / SNAPSHOT).read_bytes() == before  # every byte compared, the stale ones rewritten
        _write(warehouse, "DELETE FROM t")
        raise RuntimeError("a step failed")
    assert _rows(warehouse) == rows
    con = duckdb.connect(str(db), read_only=True)
    try:  # the same file but the failed night's row in meta_runs
        assert con.execute("SELECT count(*) FROM meta_runs WHERE status LIKE 'failed%'").fetchall() == [(1,)]
    finally:
        con.close()
    assert not (warehouse / mirror.MIRROR).exists() and not (warehouse / mirror.STAMP).exists()


def test_the_closing_work_runs_beside_the_checkpoint_before_the_commit_and_its_failure_puts_the_night_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A night's closing work (the Data Docs) runs in its own thread while the held database is let go (the
    night's checkpoint), and is done before the night commits; when it fails, the night is put back."""
    warehouse = _warehouse(tmp_path)
    begin_night(warehouse)
    commit_night(warehouse)  # a mirror, so that the next night holds the database open
    letting_go = threading.Event()
    real_let_go = unit._let_go

    def let_go(held: duckdb.DuckDBPyConnection | None) -> None:
        assert held is not None
        letting_go.set()
        real_let_go(held)

    monkeypatch.setattr(unit, "_let_go", let_go)
    seen: list[tuple[str, bool, bool]] = []

    def closing() -> None:
        beside = letting_go.wait(timeout=30)  # never set if the closing work ran before the database was let go
        seen.append((threading.current_thread().name, beside, (warehouse / SNAPSHOT).exists()))

    with night_unit(warehouse, dt.date(2024, 1, 31), closing=closing):
        _write(warehouse, "DELETE FROM t WHERE i % 2 = 0")
    assert seen == [("night-closing", True, True)]  # its thread, beside the let-go, the night not committed yet
    assert not (warehouse / SNAPSHOT).exists() and _rows(warehouse) == 10000

    def broken() -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(warehouse / "quality"))

    with pytest.raises(OSError, match="No space left"), night_unit(warehouse, dt.date(2024, 2, 1), closing=broken):
        _write(warehouse, "DELETE FROM t")
    assert _rows(warehouse) == 10000  # put back
    assert not (warehouse / SNAPSHOT).exists()
    assert not any(t.name == "night-closing" for t in threading.enumerate())


def test_a_stamp_for_another_file_is_not_trusted(tmp_path: Path) -> None:
    """A warehouse file put back from a backup has the same size but another inode: the mirror is compared."""
    warehouse = _warehouse(tmp_path)
    db = warehouse / DB_FILE
    begin_night(warehouse)
    commit_night(warehouse)
    restored = tmp_path / "restored"
    restored.write_bytes(db.read_bytes())
    os.replace(restored, db)
    assert not mirror.is_level(warehouse, db)
    (warehouse / mirror.STAMP).write_text("not json", encoding="ascii")
    assert not mirror.is_level(warehouse, db)


def test_a_night_that_creates_the_warehouse_leaves_a_mirror_and_a_failed_one_leaves_none(tmp_path: Path) -> None:
    warehouse = tmp_path / "wh"
    with night_unit(warehouse, dt.date(2024, 1, 31)):
        _write(warehouse, "CREATE TABLE t AS SELECT 1 AS i")
    assert (warehouse / mirror.MIRROR).read_bytes() == (warehouse / DB_FILE).read_bytes()

    other = tmp_path / "other"
    begin_night(other)
    _write(other, "CREATE TABLE t AS SELECT 1 AS i")
    fail_night(other, dt.date(2024, 1, 31), RuntimeError("failed"))
    assert not (other / DB_FILE).exists() and not (other / mirror.MIRROR).exists()


def test_purging_personal_data_outside_a_night_drops_the_mirror(tmp_path: Path, key_file: Path) -> None:
    """The retention purge and the key steps remove data from the warehouse: a mirror would keep it."""
    from pipeline.nightly.keysteps import rekey_step
    from pipeline.nightly.settings import Settings
    from privacy.keys import FileKeyProvider

    warehouse = tmp_path / "wh"
    con = connect(warehouse)
    try:
        from pipeline.warehouse.connection import check_key

        check_key(con, FileKeyProvider(key_file).load())
    finally:
        con.close()
    begin_night(warehouse)
    commit_night(warehouse)
    assert (warehouse / mirror.MIRROR).exists()
    rekey_step(Settings(warehouse=warehouse, key_file=key_file))
    assert not (warehouse / mirror.MIRROR).exists() and not (warehouse / mirror.STAMP).exists()


def test_a_mirror_that_cannot_be_levelled_does_not_undo_the_committed_night(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Levelling runs after the night is closed: a full disk then costs the next night a whole copy, nothing more.
    And a failure reported once no night is open must not put anything back or remove the warehouse."""
    import errno

    warehouse = _warehouse(tmp_path)
    db = warehouse / DB_FILE
    begin_night(warehouse)
    _write(warehouse, "INSERT INTO t SELECT range, 'night 1' FROM range(20000, 21000)")

    def full(_source: Path, _target: Path) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(mirror, "sync_file", full)
    commit_night(warehouse)
    assert _rows(warehouse) == 21000
    assert not (warehouse / SNAPSHOT).exists()
    assert not (warehouse / mirror.MIRROR).exists() and not (warehouse / mirror.STAMP).exists()
    after = db.read_bytes()
    fail_night(warehouse, dt.date(2024, 1, 31), RuntimeError("reported after the night had committed"))
    assert db.read_bytes() == after
    monkeypatch.undo()
    begin_night(warehouse)  # copied whole again
    assert (warehouse / SNAPSHOT).read_bytes() == after


def test_a_night_leaves_older_objects_out_of_garbage_collection_and_gives_them_back_however_it_ends(
    tmp_path: Path,
) -> None:
    """Within a night the objects from before it are frozen (a full collection does not walk them); after it,
    committed or failed, nothing stays frozen, and garbage from before the night is collected again."""
    import gc
    import weakref

    class Cycle:
        pass

    warehouse = _warehouse(tmp_path)
    for night, fails in ((dt.date(2024, 1, 31), False), (dt.date(2024, 2, 1), True)):
        garbage = Cycle()
        garbage.me = garbage  # type: ignore[attr-defined]  # only the collector frees a cycle
        gone = weakref.ref(garbage)
        del garbage
        assert gc.get_freeze_count() == 0
        with contextlib.suppress(RuntimeError), night_unit(warehouse, night):
            frozen = gc.get_freeze_count()
            gc.collect()
            survived = gone() is not None  # frozen with the rest, not collected during the night
            _write(warehouse, "DELETE FROM t WHERE i % 3 = 0")
            if fails:
                raise RuntimeError("a step failed")
        assert frozen > 1000 and survived
        assert gc.get_freeze_count() == 0
        gc.collect()
        assert gone() is None
