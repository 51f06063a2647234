"""Landing retention: only processed partitions past retention go; archives restore byte for byte, tamper fails."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import typer
from typer.testing import CliRunner

from pipeline.cli.ops import retention_app
from pipeline.errors import ConfigError
from pipeline.ingest import retention as retention_module
from pipeline.ingest.load import ingest
from pipeline.ingest.retention import RetentionError, landing_retention, purge_landing, restore_archive
from pipeline.nightly.settings import load_settings
from pipeline.warehouse.connection import connect
from privacy.errors import InvalidCiphertext, KeyMismatchError
from privacy.keys import Keyring
from privacy.register import DEFAULT_PATH, load_register
from tests.conftest import WriteCsv, query, row

TODAY = dt.date(2024, 4, 1)  # with 30 days of retention, partitions dated before 2024-03-02 may go
OLD = ["border/2024-01-01", "visa/2024-01-02"]


def purge_argv(landing: Path, warehouse: Path, today: str = "2024-04-01") -> list[str]:
    """``retention purge`` of ``landing`` against ``warehouse``, counting from ``today``."""
    return ["retention", "purge", "--landing", str(landing), "--warehouse", str(warehouse), "--today", today]


@pytest.fixture
def con(tmp_path: Path, write_csv: WriteCsv, landing: Path, ring: Keyring) -> Iterator[duckdb.DuckDBPyConnection]:
    """Two old processed partitions, one recent processed one, and an old one that arrived after the run."""
    write_csv("border", "2024-01-01", [row("border", crossing_time="2024-01-01T10:00:00")])
    write_csv("visa", "2024-01-02", [row("visa"), row("visa", record_id="V2", decision="?")])
    write_csv("border", "2024-03-20", [row("border", record_id="B2", crossing_time="2024-03-20T10:00:00")])
    c = connect(tmp_path / "wh")
    ingest(c, landing=landing, run_date=dt.date(2024, 3, 31), ring=ring)
    write_csv("permit", "2024-01-03", [row("permit")])  # late: not processed yet
    yield c
    c.close()


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def partitions(landing: Path) -> list[str]:
    return sorted(p.relative_to(landing).as_posix() for p in landing.glob("*/*"))


def test_purge_deletes_only_old_processed_partitions_and_records_each(
    con: duckdb.DuckDBPyConnection, landing: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pipeline.ingest.retention")
    summary = purge_landing(con, landing, retention_days=30, today=TODAY, by="op1")
    assert [f"{a.source}/{a.partition_date}" for a in summary.actions] == OLD
    assert (summary.kept_recent, summary.kept_unprocessed, summary.kept_unsafe) == (1, ["permit/2024-01-03"], {})
    assert partitions(landing) == ["border/2024-03-20", "permit/2024-01-03"]
    got = con.execute(
        "SELECT source, partition_date::VARCHAR, action, files, bytes > 0, by_user FROM meta_retention ORDER BY 2"
    ).fetchall()
    assert got == [
        ("border", "2024-01-01", "deleted", 1, True, "op1"),
        ("visa", "2024-01-02", "deleted", 1, True, "op1"),
    ]
    logged = [r.getMessage() for r in caplog.records]
    assert logged == [
        f"deleted landing partition border/2024-01-01 (1 files, {summary.actions[0].bytes} bytes)",
        f"deleted landing partition visa/2024-01-02 (1 files, {summary.actions[1].bytes} bytes)",
    ]
    again = purge_landing(con, landing, retention_days=30, today=TODAY)
    assert again.actions == []


def test_removals_recorded_in_batches_all_go_and_a_failed_batch_puts_its_partitions_back(
    con: duckdb.DuckDBPyConnection, landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Removals are recorded and moved per batch (one transaction each); a batch whose transaction fails leaves
    each of its partitions in place and unrecorded, and the next purge removes them."""
    monkeypatch.setattr(retention_module, "REMOVE_BATCH", 1)
    original = retention_module._record
    calls = {"n": 0}

    def record_fails_second(c: duckdb.DuckDBPyConnection, action: object, run_id: str, by: str | None) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("the log's disk is full")
        original(c, action, run_id, by)  # type: ignore[arg-type]

    monkeypatch.setattr(retention_module, "_record", record_fails_second)
    with pytest.raises(OSError, match="disk is full"):
        purge_landing(con, landing, retention_days=30, today=TODAY)
    # The first batch (border) was committed and removed; the second (visa) failed: back in place, not recorded.
    assert partitions(landing) == ["border/2024-03-20", "permit/2024-01-03", "visa/2024-01-02"]
    assert con.execute("SELECT source FROM meta_retention").fetchall() == [("border",)]
    assert not list(landing.glob("*/.purge-*"))

    monkeypatch.setattr(retention_module, "_record", original)
    monkeypatch.setattr(retention_module, "REMOVE_BATCH", 2)
    again = purge_landing(con, landing, retention_days=30, today=TODAY)
    assert [f"{a.source}/{a.partition_date}" for a in again.actions] == ["visa/2024-01-02"]
    assert partitions(landing) == ["border/2024-03-20", "permit/2024-01-03"]


def test_a_batch_whose_move_fails_midway_puts_back_the_folders_it_moved(
    con: duckdb.DuckDBPyConnection, landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both old partitions in one batch: the second folder cannot be moved, so the transaction rolls back and the
    first folder, already moved, is put back."""
    import os

    real_rename = os.rename

    def rename(src: object, dst: object) -> None:
        if "visa" in str(src) and ".purge-" in str(dst):
            raise PermissionError(13, "Permission denied")
        real_rename(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(retention_module.os, "rename", rename)
    with pytest.raises(PermissionError):
        purge_landing(con, landing, retention_days=30, today=TODAY)
    assert partitions(landing) == ["border/2024-01-01", "border/2024-03-20", "permit/2024-01-03", "visa/2024-01-02"]
    assert con.execute("SELECT count(*) FROM meta_retention").fetchall() == [(0,)]
    assert not list(landing.glob("*/.purge-*"))


def test_a_folder_that_cannot_be_deleted_does_not_stop_the_others_and_the_next_purge_finishes_it(
    con: duckdb.DuckDBPyConnection, landing: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Both removals are committed; the first folder cannot be deleted: the second still is (and logged), one
    line names the first, and the next purge deletes what is left of it because its removal is recorded."""
    real_rmtree = retention_module.shutil.rmtree

    def rmtree(path: Path, *args: object, **kwargs: object) -> None:
        if ".purge-2024-01-01-" in str(path):
            raise PermissionError(13, "Permission denied")
        real_rmtree(path, *args, **kwargs)  # type: ignore[arg-type]

    caplog.set_level(logging.INFO, logger="pipeline.ingest.retention")
    monkeypatch.setattr(retention_module.shutil, "rmtree", rmtree)
    with pytest.raises(RetentionError) as failed:
        purge_landing(con, landing, retention_days=30, today=TODAY)
    [left] = landing.glob("border/.purge-2024-01-01-*")
    assert str(failed.value) == (
        f"1 of 2 removals are recorded but could not be deleted: {left} (Permission denied); "
        "delete the .purge-* entries by hand"
    )
    assert partitions(landing) == [f"border/{left.name}", *OLD_KEPT]
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == ["deleted landing partition visa/2024-01-02"]
    assert con.execute("SELECT source FROM meta_retention ORDER BY 1").fetchall() == [("border",), ("visa",)]

    with pytest.raises(RetentionError) as still:  # still undeletable at the next purge: one line again
        purge_landing(con, landing, retention_days=30, today=TODAY)
    assert str(still.value) == (
        f"1 of 1 removals are recorded but could not be deleted: {left} (Permission denied); "
        "delete the .purge-* entries by hand"
    )
    monkeypatch.setattr(retention_module.shutil, "rmtree", real_rmtree)
    dry = purge_landing(con, landing, retention_days=30, today=TODAY, dry_run=True)
    assert dry.leftovers == [
        "would have deleted what is left of border/2024-01-01 (recorded as deleted by an earlier purge)"
    ]
    assert left.exists()
    again = purge_landing(con, landing, retention_days=30, today=TODAY)
    assert (again.actions, again.leftovers) == ([], [dry.leftovers[0].removeprefix("would have ")])
    assert partitions(landing) == OLD_KEPT
    assert con.execute("SELECT count(*) FROM meta_retention").fetchall() == [(2,)]  # nothing recorded twice


OLD_KEPT = ["border/2024-03-20", "permit/2024-01-03"]


def test_a_folder_set_aside_by_a_purge_stopped_before_its_commit_is_put_back_then_purged(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    """A purge killed inside its transaction leaves ``.purge-<date>-<hex>`` and no record: the next purge puts
    the partition back (it was never recorded as removed) and then removes it the ordinary way."""
    (landing / "border" / "2024-01-01").rename(landing / "border" / ".purge-2024-01-01-0123abcd")
    (landing / "visa" / ".purge-2024-13-01-0123abcd").mkdir()  # not a partition's name: left alone
    summary = purge_landing(con, landing, retention_days=30, today=TODAY)
    assert summary.leftovers == [
        "put border/2024-01-01 back (an earlier purge set it aside but was stopped before recording it)"
    ]
    assert [f"{a.source}/{a.partition_date}" for a in summary.actions] == OLD
    assert partitions(landing) == [*OLD_KEPT, "visa/.purge-2024-13-01-0123abcd"]
    assert con.execute("SELECT source FROM meta_retention ORDER BY 1").fetchall() == [("border",), ("visa",)]


def test_an_unrecorded_leftover_whose_partition_exists_again_is_kept_and_reported(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    aside = landing / "border" / ".purge-2024-01-01-0123abcd"
    aside.mkdir()
    (aside / "part.csv").write_text("x\n")
    summary = purge_landing(con, landing, retention_days=30, today=TODAY)
    assert summary.leftovers == []
    assert summary.kept_unsafe == {
        "border/.purge-2024-01-01-0123abcd": (
            "an earlier purge set it aside without recording it, and border/2024-01-01 exists again; compare the two"
        )
    }
    assert (aside / "part.csv").read_text() == "x\n"
    assert [f"{a.source}/{a.partition_date}" for a in summary.actions] == OLD


UNSAFE = [
    # (id, what happens to border/2024-01-01 after ingest, why it is kept)
    (
        "late file",
        lambda d: (d / "late.csv").write_text("x\n"),
        "it holds a landing file the warehouse has not ingested",
    ),
    ("changed file", lambda d: (d / "part.csv").write_text("x\n"), "a landing file changed after it was ingested"),
    ("other file", lambda d: (d / "notes.txt").write_text("x\n"), "it holds files that are not landing files"),
    ("sub-directory", lambda d: (d / "more").mkdir(), "it holds a sub-directory or link"),
    ("link", lambda d: (d / "ln.csv").symlink_to(d / "part.csv"), "it holds a sub-directory or link"),
]


@pytest.mark.parametrize(("change", "why"), [c[1:] for c in UNSAFE], ids=[c[0] for c in UNSAFE])
def test_processed_partition_holding_anything_not_ingested_is_kept(
    con: duckdb.DuckDBPyConnection, landing: Path, change, why: str
) -> None:
    change(landing / "border" / "2024-01-01")
    summary = purge_landing(con, landing, retention_days=30, today=TODAY)
    assert [f"{a.source}/{a.partition_date}" for a in summary.actions] == ["visa/2024-01-02"]
    assert summary.kept_unsafe == {"border/2024-01-01": why}
    assert (landing / "border" / "2024-01-01").is_dir()


def test_hidden_marker_files_do_not_keep_a_partition(con: duckdb.DuckDBPyConnection, landing: Path) -> None:
    (landing / "border" / "2024-01-01" / ".done").write_text("")
    summary = purge_landing(con, landing, retention_days=30, today=TODAY)
    assert len(summary.actions) == 2 and summary.actions[0].files == 2


def test_dry_run_changes_nothing(con: duckdb.DuckDBPyConnection, landing: Path, ring: Keyring, tmp_path: Path) -> None:
    before = tree(landing)
    summary = purge_landing(
        con, landing, retention_days=30, today=TODAY, archive=tmp_path / "archive", ring=ring, dry_run=True
    )
    assert [a.action for a in summary.actions] == ["would archive", "would archive"]
    assert tree(landing) == before
    assert not (tmp_path / "archive").exists()
    assert con.execute("SELECT count(*) FROM meta_retention").fetchone() == (0,)


@pytest.mark.parametrize("chunk", [16 * 1024 * 1024, 100], ids=["one chunk", "many chunks"])
def test_archive_round_trip_restores_identical_bytes(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    ring: Keyring,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    chunk: int,
) -> None:
    monkeypatch.setattr(retention_module, "CHUNK_BYTES", chunk)
    (landing / "visa" / "2024-01-02" / ".done").write_bytes(b"")
    before = tree(landing)
    summary = purge_landing(con, landing, retention_days=30, today=TODAY, archive=tmp_path / "archive", ring=ring)
    assert [a.action for a in summary.actions] == ["archived", "archived"]
    archive_file = tmp_path / "archive" / "visa" / "2024-01-02.tar.mla"
    assert summary.actions[1].archive_file == str(archive_file)
    assert b"NGUYEN" not in archive_file.read_bytes()
    assert partitions(landing) == ["border/2024-03-20", "permit/2024-01-03"]
    for name in OLD:
        source, day = name.split("/")
        restore_archive(tmp_path / "archive" / source / f"{day}.tar.mla", landing, ring=ring, con=con)
    assert tree(landing) == before
    assert not list(landing.glob("*/.restore-*"))
    actions = con.execute("SELECT action, count(*) FROM meta_retention GROUP BY 1 ORDER BY 1").fetchall()
    assert actions == [("archived", 2), ("restored", 2)]
    again = purge_landing(con, landing, retention_days=30, today=TODAY, archive=tmp_path / "archive", ring=ring)
    assert again.actions == [] and all("an archive of it already exists" in w for w in again.kept_unsafe.values())


def _flip_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))


def _drop_last_chunk(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b"\x01\x00\x00")])  # the last chunk starts with flag 1


TAMPER = [
    ("one byte flipped", _flip_middle),
    ("last chunk dropped", _drop_last_chunk),
    ("bytes appended", lambda p: p.write_bytes(p.read_bytes() + b"\x00")),
    ("renamed to another day", lambda p: p.rename(p.with_name("2024-01-05.tar.mla"))),
    ("moved to another source", lambda p: p.rename(p.parent.parent / "border" / "2024-01-02.tar.mla")),
]


@pytest.mark.parametrize("tamper", [c[1] for c in TAMPER], ids=[c[0] for c in TAMPER])
def test_tampered_archive_fails_and_restores_nothing(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    ring: Keyring,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tamper,
) -> None:
    monkeypatch.setattr(retention_module, "CHUNK_BYTES", 100)
    purge_landing(con, landing, retention_days=30, today=TODAY, archive=tmp_path / "archive", ring=ring)
    tamper(tmp_path / "archive" / "visa" / "2024-01-02.tar.mla")
    (archive_file,) = [p for p in (tmp_path / "archive").rglob("*.tar.mla") if p.name != "2024-01-01.tar.mla"]
    before = tree(landing)
    with pytest.raises(InvalidCiphertext, match=r"^sealed data cannot be opened$"):
        restore_archive(archive_file, landing, ring=ring, con=con)
    assert tree(landing) == before
    assert not list(landing.glob("*/.restore-*"))


def test_archive_with_another_key_cannot_be_restored(
    con: duckdb.DuckDBPyConnection, landing: Path, ring: Keyring, tmp_path: Path
) -> None:
    purge_landing(con, landing, retention_days=30, today=TODAY, archive=tmp_path / "archive", ring=ring)
    with pytest.raises(InvalidCiphertext):
        restore_archive(tmp_path / "archive" / "visa" / "2024-01-02.tar.mla", landing, ring=Keyring.generate())
    with pytest.raises(KeyMismatchError):
        purge_landing(con, landing, retention_days=1, today=TODAY, archive=tmp_path / "a2", ring=Keyring.generate())


def test_refusals(con: duckdb.DuckDBPyConnection, landing: Path, ring: Keyring, tmp_path: Path) -> None:
    with pytest.raises(RetentionError, match="archiving needs the key"):
        purge_landing(con, landing, retention_days=30, today=TODAY, archive=tmp_path / "archive")
    with pytest.raises(RetentionError, match="at least 1"):
        purge_landing(con, landing, retention_days=0, today=TODAY)
    purge_landing(con, landing, retention_days=30, today=TODAY, archive=tmp_path / "archive", ring=ring)
    (landing / "visa" / "2024-01-02").mkdir()
    with pytest.raises(RetentionError, match="already exists"):
        restore_archive(tmp_path / "archive" / "visa" / "2024-01-02.tar.mla", landing, ring=ring)
    with pytest.raises(RetentionError, match="not an archive name"):
        restore_archive(tmp_path / "archive" / "visa" / "x.tar", landing, ring=ring)


def test_retention_days_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIGRALINK_RETENTION_DAYS", "90")
    assert load_settings().retention_days == 90
    assert load_settings(retention_days=7).retention_days == 7
    for bad in ("0", "ninety", "-3"):
        monkeypatch.setenv("MIGRALINK_RETENTION_DAYS", bad)
        with pytest.raises(ConfigError, match="retention_days must"):
            load_settings()


def test_cli_purge_dry_run_then_purge(
    con: duckdb.DuckDBPyConnection, landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    con.close()
    monkeypatch.setenv("MIGRALINK_RETENTION_DAYS", "30")
    app = typer.Typer()
    app.add_typer(retention_app, name="retention")
    args = purge_argv(landing, tmp_path / "wh")
    runner = CliRunner()
    (landing / "visa" / "2024-01-02").rename(landing / "visa" / ".purge-2024-01-02-0123abcd")  # a killed purge's
    put_back = "put visa/2024-01-02 back (an earlier purge set it aside but was stopped before recording it)"
    dry = runner.invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"would have {put_back}" in dry.output
    assert "would remove 1 partitions dated before 2024-03-02" in dry.output  # visa is still set aside
    (landing / "visa" / ".purge-2024-01-02-0123abcd").rename(landing / "visa" / "2024-01-02")
    dry = runner.invoke(app, [*args, "--dry-run"])
    assert "would remove 2 partitions dated before 2024-03-02" in dry.output
    assert "retention: 30 days for landing files, from MIGRALINK_RETENTION_DAYS (the purpose register" in dry.output
    assert len(partitions(landing)) == 4
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert (
        "removed 2 partitions" in done.output
        and "kept 1 partitions past retention that are not processed" in done.output
    )
    assert len(partitions(landing)) == 2


PURPOSES = ("purposes public-migration-statistics, internal-monitoring", "register 2026.11.1")


def register_with_landing_days(tmp_path: Path, days: int) -> Path:
    """The default purpose register with every purpose keeping landing files ``days`` days."""
    path = tmp_path / "purposes.toml"
    path.write_text(DEFAULT_PATH.read_text(encoding="utf-8").replace("landing_days = 90", f"landing_days = {days}"))
    return path


LANDING_RETENTION = [
    # (id, days asked for, days applied or the refusal)
    ("no setting: the register's period", None, 90),
    ("a shorter setting", 30, 30),
    ("the register's own period", 90, 90),
    (
        "a longer setting is refused",
        400,
        "retention_days 400 is longer than the register's 90 days for landing files "
        f"({PURPOSES[0]}, {PURPOSES[1]}); a setting may only shorten it",
    ),
    ("zero is refused", 0, "retention_days must be at least 1 (got 0)"),
]


@pytest.mark.parametrize(
    ("requested", "expected"), [c[1:] for c in LANDING_RETENTION], ids=[c[0] for c in LANDING_RETENTION]
)
def test_landing_retention_follows_the_register_and_a_setting_may_only_shorten_it(
    requested: int | None, expected: int | str
) -> None:
    register = load_register(DEFAULT_PATH)
    if isinstance(expected, str):
        with pytest.raises(RetentionError) as caught:
            landing_retention(register, requested)
        assert str(caught.value) == expected
    else:
        assert landing_retention(register, requested).days == expected


def test_without_a_setting_the_register_period_applies(
    con: duckdb.DuckDBPyConnection, landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MIGRALINK_PURPOSES", raising=False)
    summary = purge_landing(con, landing, today=TODAY)  # 90 days: partitions dated before 2024-01-02 may go
    assert (summary.cutoff, summary.retention_days) == ("2024-01-02", 90)
    assert summary.retention_source == f"the purpose register 2026.11.1 (landing_days of {PURPOSES[0]})"
    assert [f"{a.source}/{a.partition_date}" for a in summary.actions] == ["border/2024-01-01"]


def test_a_setting_longer_than_the_register_is_refused_and_nothing_is_removed(
    con: duckdb.DuckDBPyConnection, landing: Path, ring: Keyring, tmp_path: Path
) -> None:
    before = tree(landing)
    with pytest.raises(RetentionError, match=r"^retention_days 91 is longer than the register's 90 days"):
        purge_landing(con, landing, retention_days=91, today=TODAY, archive=tmp_path / "archive", ring=ring)
    assert tree(landing) == before
    assert not (tmp_path / "archive").exists()
    assert con.execute("SELECT count(*) FROM meta_retention").fetchone() == (0,)


def test_the_register_named_by_migralink_purposes_sets_the_period(
    con: duckdb.DuckDBPyConnection, landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIGRALINK_PURPOSES", str(register_with_landing_days(tmp_path, 30)))
    with pytest.raises(RetentionError, match="longer than the register's 30 days"):
        purge_landing(con, landing, retention_days=31, today=TODAY)
    summary = purge_landing(con, landing, today=TODAY)
    assert [f"{a.source}/{a.partition_date}" for a in summary.actions] == OLD
    assert summary.retention_days == 30


def test_cli_purge_uses_the_register_period_without_a_setting(
    con: duckdb.DuckDBPyConnection, landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    con.close()
    monkeypatch.delenv("MIGRALINK_RETENTION_DAYS", raising=False)
    monkeypatch.setenv("MIGRALINK_PURPOSES", str(register_with_landing_days(tmp_path, 30)))
    app = typer.Typer()
    app.add_typer(retention_app, name="retention")
    args = purge_argv(landing, tmp_path / "wh")
    done = CliRunner().invoke(app, [*args, "--dry-run"])
    assert done.exit_code == 0, done.output
    assert (
        "retention: 30 days for landing files, from the purpose register 2026.11.1 (landing_days of "
        f"{PURPOSES[0]})" in done.output
    )
    assert "would remove 2 partitions dated before 2024-03-02" in done.output
    longer = CliRunner().invoke(app, [*args, "--retention-days", "60"])
    assert isinstance(longer.exception, RetentionError)
    assert str(longer.exception).startswith("--retention-days 60 is longer than the register's 30 days")
    assert len(partitions(landing)) == 4


# ---------------------------------------------------------------------------------------------------------------
# Every kind of the purpose register (pipeline.retention_purge): a warehouse with data of each kind, old and recent.

EVERY_TODAY = dt.date(2026, 9, 1)
OLD_DAY, NEW_DAY = "2026-01-05", "2026-08-20"
# Shorter than the register (a setting may only shorten): landing 30 days through retention_days, the others here.
SHORTER = {"quarantine": 30, "sealed_identifiers": 60, "linkage": 60, "histories": 30, "releases": 30}
PURPOSE = "internal-monitoring"


def _write(landing: Path, source: str, day: str, rows: list[dict[str, str]]) -> None:
    import csv

    from pipeline.ingest.contract import load_contract

    folder = landing / source / day
    folder.mkdir(parents=True, exist_ok=True)
    cols = list(load_contract()[source].names)
    with (folder / "part.csv").open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(cols)
        out.writerows([[r.get(c, "") for c in cols] for r in rows])


def _ledger(con: duckdb.DuckDBPyConnection, release_id: str, day: str, cells: list[tuple[str, int | None]]) -> None:
    when = dt.datetime.fromisoformat(f"{day}T03:00:00")
    con.execute(
        "INSERT INTO release_ledger VALUES (?, ?, 'ministry-internal', 'stat_migration_flows', ?, ?, ?, ?, "
        "'2026.11.1', 'abc', 'suppression', '{}', ?, 0, 0, 0.0, NULL, NULL, ?, 'def', false, NULL, 'op')",
        [release_id, PURPOSE, day, when, day, day, len(cells), f"published/{day}/{PURPOSE}/flows.csv"],
    )
    for period, released in cells:
        con.execute(
            "INSERT INTO release_cells VALUES (?, ?, 'stat_migration_flows', 'arrivals', 'month', ?, 'total', "
            "'total', ?, ?)",
            [release_id, PURPOSE, period, released, "F" if released is not None else "D"],
        )
    folder = con_warehouse(con) / "published" / day / PURPOSE
    folder.mkdir(parents=True)
    (folder / "flows.csv").write_text("STRUCTURE,...\n")
    (folder / "manifest.json").write_text("{}\n")


def con_warehouse(con: duckdb.DuckDBPyConnection) -> Path:
    (path,) = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    return Path(path).parent


def every_kind_warehouse(landing: Path, warehouse: Path, ring: Keyring) -> None:
    """Old (2026-01-05) and recent (2026-08-20) data of every kind: landing partitions with their records,
    pseudonyms, sealed identities and a quarantined row each; crossing vintages; releases (files, cells, a refusal);
    linkage, statistics and release reports; a linkage state and person keys."""
    for day, tag in ((OLD_DAY, "O"), (NEW_DAY, "N")):
        _write(landing, "border", day, [row("border", record_id=f"B{tag}", crossing_time=f"{day}T10:00:00")])
        _write(landing, "visa", day, [row("visa", record_id=f"V{tag}"), row("visa", record_id=f"X{tag}", decision="?")])
        _write(landing, "permit", day, [row("permit", record_id=f"P{tag}")])
    con = connect(warehouse)
    try:
        ingest(con, landing=landing, run_date=dt.date.fromisoformat(NEW_DAY), ring=ring)
        for night, n in ((OLD_DAY, 2), (NEW_DAY, 1)):
            for i in range(n):
                con.execute(
                    "INSERT INTO crossing_vintages VALUES (?, ?, 'new', NULL, 'final', NULL, true, NULL, 'resident')",
                    [night, f"B{night}{i}"],
                )
        # The old release: cell 2025-12 published only then (the guard's last value: kept), cell 2026-01 published
        # again since (superseded: purged) and a withheld cell (purged). The recent release keeps everything.
        _ledger(con, "r-old", OLD_DAY, [("2025-12", 10), ("2026-01", 12), ("2026-02", None)])
        _ledger(con, "r-new", NEW_DAY, [("2026-01", 13)])
        for day in (OLD_DAY, NEW_DAY):
            con.execute(
                "INSERT INTO release_refusals VALUES (?, ?, 'asked', 'why', 'op')", [f"{day} 04:00:00", PURPOSE]
            )
        con.execute("INSERT INTO linkage_state VALUES ('m1', 1, now())")
        con.execute(
            "INSERT INTO person_keys SELECT source, record_id, 'P' || record_id, DATE '2026-08-20' FROM identity_tokens"
        )
    finally:
        con.close()
    reports = warehouse / "reports"
    reports.mkdir()
    for day in (OLD_DAY, NEW_DAY):
        for name in (f"linkage-{day}.html", f"statistics-{day}.html", f"release-{day}-{PURPOSE}.html"):
            (reports / name).write_text("<html></html>")


@pytest.fixture
def every_kind(tmp_path: Path, landing: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch):
    """Settings over a warehouse holding every kind of data (landing kept 30 days)."""
    from privacy.keys import FileKeyProvider

    for name in ("MIGRALINK_RETENTION_DAYS", "MIGRALINK_PURPOSES", "MIGRALINK_CONFIG", "MIGRALINK_KEY_SOURCE"):
        monkeypatch.delenv(name, raising=False)
    warehouse = tmp_path / "wh"
    every_kind_warehouse(landing, warehouse, FileKeyProvider(key_file).load())
    return load_settings(None, landing=landing, warehouse=warehouse, key_file=key_file, retention_days=30)


def counts(warehouse: Path) -> dict[str, object]:
    """What each kind covers, as it stands."""
    sql = {
        "quarantine": "SELECT count(*) FROM quarantine",
        "vault": "SELECT list(DISTINCT partition_date::VARCHAR ORDER BY partition_date::VARCHAR) FROM identity_vault",
        "tokens": "SELECT list(record_id ORDER BY record_id) FROM identity_tokens",
        "records": "SELECT (SELECT count(*) FROM border_crossings) + (SELECT count(*) FROM visa_decisions)",
        "person_keys": "SELECT count(*) FROM person_keys",
        "vintages": "SELECT count(*) FROM crossing_vintages",
        "ledger": "SELECT count(*) FROM release_ledger",
        "cells": "SELECT list(release_id || ' ' || period ORDER BY release_id, period) FROM release_cells",
        "refusals": "SELECT count(*) FROM release_refusals",
        "meta_retention": "SELECT count(*) FROM meta_retention",
        "audit": "SELECT count(*) FROM audit_log",
    }
    got: dict[str, object] = {name: query(warehouse, q)[0][0] for name, q in sql.items()}
    got["files"] = sorted(
        p.relative_to(warehouse).as_posix() for p in warehouse.rglob("*") if p.is_file() and p.parent != warehouse
    )
    return got


def test_every_kind_is_purged_once_and_recorded(every_kind) -> None:
    from pipeline.retention_purge import retention_step

    warehouse = every_kind.warehouse
    before = counts(warehouse)
    assert before["quarantine"] == 2 and before["vault"] == [OLD_DAY, NEW_DAY] and before["vintages"] == 3

    summary = retention_step(every_kind, EVERY_TODAY, keep=SHORTER, by="op1")

    done = {k.kind: (k.cutoff, {what: n for what, n in k.removed.items() if n}) for k in summary.kinds}
    assert done == {
        "landing": ("2026-08-02", {"landing files": 3}),
        "quarantine": ("2026-08-02", {"quarantined rows": 1}),
        # 60 days back is 2026-07-03: the sealed identifiers and pseudonyms of July go whole, so the cut-off is August
        "sealed_identifiers": ("2026-08-01", {"sealed identity blobs": 3, "pseudonymized records": 3}),
        "linkage": ("2026-08-01", {"linkage reports": 1}),  # the pseudonyms went with their sealed identifiers
        "histories": ("2026-08-02", {"crossing vintage rows": 2, "statistics reports": 1}),
        "releases": (
            "2026-08-02",
            {"release files": 2, "release reports": 1, "released cells": 2, "refused requests": 1},
        ),
    }
    quarantine = next(k for k in summary.kinds if k.kind == "quarantine")
    assert quarantine.unresolved == 1 and quarantine.bytes > 0
    assert next(k for k in summary.kinds if k.kind == "sealed_identifiers").relink
    after = counts(warehouse)
    assert after["quarantine"] == 1
    assert after["vault"] == [NEW_DAY]
    assert after["tokens"] == ["BN", "PN", "VN"]
    assert after["records"] == before["records"], "the analysts' records stay"
    assert after["person_keys"] == before["person_keys"], "person keys stay"
    assert after["vintages"] == 1
    assert after["ledger"] == 2, "the release ledger stays"
    assert after["cells"] == ["r-new 2026-01", "r-old 2025-12"], "the last published value of a cell stays"
    assert after["refusals"] == 1
    assert after["files"] == [
        f"published/{NEW_DAY}/{PURPOSE}/flows.csv",
        f"published/{NEW_DAY}/{PURPOSE}/manifest.json",
        f"reports/linkage-{NEW_DAY}.html",
        f"reports/release-{NEW_DAY}-{PURPOSE}.html",
        f"reports/statistics-{NEW_DAY}.html",
    ]
    assert not (warehouse / "published" / OLD_DAY).exists()
    assert query(warehouse, "SELECT token_version FROM linkage_state") == [(None,)], "the next night relinks all"
    recorded = query(
        warehouse,
        "SELECT source, partition_date::VARCHAR, action, files, by_user FROM meta_retention "
        "WHERE source NOT IN ('border', 'visa', 'permit') ORDER BY recorded_at, source",
    )
    assert recorded == [
        ("quarantine", "2026-08-02", "deleted", 1, "op1"),
        ("sealed_identifiers", "2026-08-01", "deleted", 6, "op1"),
        ("linkage", "2026-08-01", "deleted", 1, "op1"),
        ("histories", "2026-08-02", "deleted", 3, "op1"),
        ("releases", "2026-08-02", "deleted", 6, "op1"),
    ]
    entries = [
        json.loads(bytes(e))
        for (e,) in query(warehouse, "SELECT entry FROM audit_log ORDER BY leaf_index")
        if json.loads(bytes(e))["kind"] == "retention_purged"
    ]
    assert [e["what"].split(" dated")[0] for e in entries] == [
        "landing partition border/2026-01-05",
        "landing partition visa/2026-01-05",
        "landing partition permit/2026-01-05",
        "quarantine",
        "sealed_identifiers",
        "linkage",
        "histories",
        "releases",
    ]
    assert entries[3]["what"] == "quarantine dated before 2026-08-02 (30 days): 1 quarantined row"
    assert not any(v in json.dumps(entries) for v in ("NGUYEN", "MÜLLER", "C7654321", "XO", "BO"))

    again = retention_step(every_kind, EVERY_TODAY, keep=SHORTER)
    assert [k.items for k in again.kinds] == [0] * 6
    assert counts(warehouse) == after, "a second purge the same day purges and records nothing"


def test_what_an_earlier_purge_of_a_kind_left_set_aside_is_finished_put_back_or_kept(every_kind) -> None:
    """Reports and releases a purge set aside: not recorded (a purge stopped before its commit) and free to go
    back, put back and then purged the ordinary way; covered by a recorded purge of the kind (its deletion failed),
    deleted; not recorded while the report exists again, kept and named."""
    from pipeline.retention_purge import retention_step

    warehouse = every_kind.warehouse
    reports, published = warehouse / "reports", warehouse / "published"
    (reports / f"statistics-{OLD_DAY}.html").rename(reports / f".purge-statistics-{OLD_DAY}.html-0123abcd")
    first = retention_step(every_kind, EVERY_TODAY, keep=SHORTER, kinds=["histories"])
    [histories] = first.kinds
    assert histories.leftovers == [
        f"put reports/statistics-{OLD_DAY}.html back (an earlier purge set it aside but was stopped before "
        "recording it)"
    ]
    assert histories.removed["statistics reports"] == 1  # and then purged
    assert not list(reports.glob(".purge-*"))

    retention_step(every_kind, EVERY_TODAY, keep=SHORTER)  # every kind purged and recorded
    (reports / f".purge-linkage-{OLD_DAY}.html-89abcdef").write_text("<html></html>")  # deletions that failed
    (published / OLD_DAY / f".purge-{PURPOSE}-89abcdef").mkdir(parents=True)
    (published / OLD_DAY / f".purge-{PURPOSE}-89abcdef" / "flows.csv").write_text("x\n")
    (reports / f".purge-linkage-{NEW_DAY}.html-fedcba98").write_text("<html></html>")  # its place is taken
    dry = retention_step(every_kind, EVERY_TODAY, keep=SHORTER, dry_run=True)
    assert {k.kind: k.leftovers for k in dry.kinds if k.leftovers} == {
        "linkage": [
            f"would have deleted what is left of reports/linkage-{OLD_DAY}.html (a recorded purge of linkage "
            "removed it)",
            f"kept reports/.purge-linkage-{NEW_DAY}.html-fedcba98: an earlier purge set it aside without recording "
            f"it, and reports/linkage-{NEW_DAY}.html exists again",
        ],
        "releases": [
            f"would have deleted what is left of published/{OLD_DAY}/{PURPOSE} (a recorded purge of releases "
            "removed it)"
        ],
    }
    assert (published / OLD_DAY).exists()
    done = retention_step(every_kind, EVERY_TODAY, keep=SHORTER)
    assert [line.split(" (")[0] for k in done.kinds for line in k.leftovers] == [
        f"deleted what is left of reports/linkage-{OLD_DAY}.html",
        f"kept reports/.purge-linkage-{NEW_DAY}.html-fedcba98: an earlier purge set it aside without recording it, "
        f"and reports/linkage-{NEW_DAY}.html exists again",
        f"deleted what is left of published/{OLD_DAY}/{PURPOSE}",
    ]
    assert not (published / OLD_DAY).exists()  # the emptied date directory went too
    assert [p.name for p in reports.glob(".purge-*")] == [f".purge-linkage-{NEW_DAY}.html-fedcba98"]


def test_dry_run_counts_and_changes_nothing(every_kind) -> None:
    from pipeline.retention_purge import retention_step

    before = counts(every_kind.warehouse)
    dry = retention_step(every_kind, EVERY_TODAY, keep=SHORTER, dry_run=True)
    assert counts(every_kind.warehouse) == before
    real = retention_step(every_kind, EVERY_TODAY, keep=SHORTER)
    assert [(k.kind, k.removed, k.bytes) for k in dry.kinds] == [(k.kind, k.removed, k.bytes) for k in real.kinds]
    assert all(k.dry_run for k in dry.kinds) and "would remove 1 quarantined row " in dry.kinds[1].describe()


def test_a_purge_that_removed_data_from_the_warehouse_drops_its_mirror(every_kind) -> None:
    """The mirror (the copy a night's snapshot is made from) would still hold what was purged: a purge of
    warehouse data drops it; a dry run, or a purge of landing files only, leaves it."""
    from pipeline.retention_purge import retention_step
    from pipeline.warehouse import mirror
    from pipeline.warehouse.connection import DB_FILE

    warehouse = every_kind.warehouse
    mirror.level(warehouse, warehouse / DB_FILE)
    retention_step(every_kind, EVERY_TODAY, keep=SHORTER, dry_run=True)
    retention_step(every_kind, EVERY_TODAY, kinds=["landing"])
    assert (warehouse / mirror.MIRROR).exists()
    summary = retention_step(every_kind, EVERY_TODAY, kinds=["quarantine"], keep={"quarantine": 60})
    assert summary.kinds[0].items == 1
    assert not (warehouse / mirror.MIRROR).exists() and not (warehouse / mirror.STAMP).exists()


def test_register_periods_purge_nothing_recent_and_a_longer_setting_is_refused(every_kind) -> None:
    from pipeline.retention_purge import retention_step

    before = counts(every_kind.warehouse)
    with pytest.raises(RetentionError, match=r"^keep quarantine 181 is longer than the register's 180 days"):
        retention_step(every_kind, EVERY_TODAY, keep={**SHORTER, "quarantine": 181})
    with pytest.raises(RetentionError, match="unknown kind of data 'pseudonyms'"):
        retention_step(every_kind, EVERY_TODAY, kinds=["pseudonyms"])
    with pytest.raises(RetentionError, match="the landing period is the retention_days setting"):
        retention_step(every_kind, EVERY_TODAY, keep={"landing": 10})
    assert counts(every_kind.warehouse) == before, "refused before anything was purged"
    # The register's own periods: 180 days of quarantine (the old row is 239 days old), five years and more for the
    # rest (nothing is that old).
    summary = retention_step(every_kind, EVERY_TODAY, kinds=["quarantine", "linkage", "histories", "releases"])
    assert [k.items for k in summary.kinds] == [1, 0, 0, 0]
    assert [k.cutoff for k in summary.kinds] == ["2026-03-05", "2021-10-01", "2016-09-03", "2016-09-03"]
    assert summary.kinds[0].source == f"the purpose register 2026.11.1 (quarantine_days of {PURPOSES[0]})"


def test_after_the_purge_the_key_still_rotates(every_kind) -> None:
    """The sealed identifiers and the pseudonyms of a partition go together: a rekey re-derives every pseudonym
    left from the sealed identifiers left."""
    from pipeline.nightly.keysteps import rekey_step
    from pipeline.retention_purge import retention_step
    from privacy.keys import rotate_key_file

    retention_step(every_kind, EVERY_TODAY, kinds=["sealed_identifiers"], keep={"sealed_identifiers": 60})
    rotate_key_file(every_kind.key_file)
    done = rekey_step(every_kind)
    assert (done.from_version, done.to_version, done.records, done.vault_blobs) == (1, 2, 3, 3)


@pytest.mark.parametrize(
    ("kind", "today", "days", "cutoff"),
    [
        ("quarantine", "2026-09-01", 30, "2026-08-02"),
        ("linkage", "2026-09-01", 60, "2026-08-01"),  # 2026-07-03 back: July goes whole
        ("linkage", "2026-08-31", 61, "2026-07-01"),  # 2026-07-01 back: June has gone already, July not yet
        ("sealed_identifiers", "2026-09-02", 62, "2026-08-01"),  # 2026-07-02 back: July goes whole
        ("sealed_identifiers", "2026-03-01", 1825, "2021-04-01"),
    ],
)
def test_cutoffs_never_keep_longer_than_the_period(kind: str, today: str, days: int, cutoff: str) -> None:
    from pipeline.retention_purge import kind_period

    period = kind_period(load_register(DEFAULT_PATH), kind, dt.date.fromisoformat(today), days)
    assert period.cutoff.isoformat() == cutoff
    assert period.cutoff >= dt.date.fromisoformat(today) - dt.timedelta(days=days), "never late"


def test_cli_purges_every_kind_or_one(every_kind, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIGRALINK_RETENTION_DAYS", "30")
    app = typer.Typer()
    app.add_typer(retention_app, name="retention")
    args = [*purge_argv(every_kind.landing, every_kind.warehouse, "2026-09-01"), "--key-file", str(every_kind.key_file)]
    one = CliRunner().invoke(app, [*args, "--kind", "quarantine", "--keep", "quarantine=30"])
    assert one.exit_code == 0, one.output
    first, done = one.output.splitlines()
    assert (
        first
        == "retention: 30 days for quarantine, from keep quarantine (the purpose register 2026.11.1 allows up to 180)"
    )
    assert done.startswith("quarantine: removed 1 quarantined row (1 unresolved, ") and done.endswith(
        " bytes) dated before 2026-08-02"
    )
    keep = [
        "--keep",
        "sealed_identifiers=60",
        "--keep",
        "linkage=60",
        "--keep",
        "histories=30",
        "--keep",
        "releases=30",
    ]
    every = CliRunner().invoke(app, [*args, *keep])
    assert every.exit_code == 0, every.output
    lines = [re.sub(r"\(([^()]*, )?[\d,]+ bytes\)", "(...)", line) for line in every.output.splitlines()]
    assert lines == [
        "retention: 30 days for landing files, from MIGRALINK_RETENTION_DAYS (the purpose register 2026.11.1 allows up "
        "to 90)",
        "removed 3 partitions dated before 2026-08-02 (...)",
        "kept 3 partitions within retention",
        f"retention: 180 days for quarantine, from the purpose register 2026.11.1 (quarantine_days of {PURPOSES[0]})",
        "quarantine: nothing dated before 2026-03-05",
        "retention: 60 days for sealed_identifiers, from keep sealed_identifiers (the purpose register 2026.11.1 "
        "allows up to 1825)",
        "sealed_identifiers: removed 3 sealed identity blobs, 3 pseudonymized records (...) dated before 2026-08-01; "
        "the next linkage relinks every record",
        "retention: 60 days for linkage, from keep linkage (the purpose register 2026.11.1 allows up to 1825)",
        "linkage: removed 1 linkage report (...) dated before 2026-08-01",
        "retention: 30 days for histories, from keep histories (the purpose register 2026.11.1 allows up to 3650)",
        "histories: removed 2 crossing vintage rows, 1 statistics report (...) dated before 2026-08-02",
        "retention: 30 days for releases, from keep releases (the purpose register 2026.11.1 allows up to 3650)",
        "releases: removed 2 release files, 1 release report, 2 released cells, 1 refused request (...) dated before "
        "2026-08-02",
    ]
    again = CliRunner().invoke(app, [*args, *keep, "--dry-run"])
    assert again.exit_code == 0, again.output
    assert "would remove 0 partitions dated before 2026-08-02 (0 files, 0 bytes)" in again.output
    assert again.output.count(": nothing dated before ") == 5
    bad = CliRunner().invoke(app, [*args, "--keep", "quarantine"])
    assert bad.exit_code == 2 and "--keep takes KIND=DAYS" in bad.output
