"""Landing retention: only processed partitions past retention go; archives restore byte for byte, tamper fails."""

from __future__ import annotations

import datetime as dt
import logging
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
from tests.conftest import WriteCsv, row

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
    dry = runner.invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
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
