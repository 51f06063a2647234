"""Quarantine replay: export, fix, replay, discard; counts reconcile; tampering and bad files are refused."""

from __future__ import annotations

import csv
import datetime as dt
import stat
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import typer
from typer.testing import CliRunner

from pipeline.cli.ops import quarantine_app
from pipeline.ingest import quarantine as quarantine_module
from pipeline.ingest.load import ingest
from pipeline.ingest.quarantine import (
    QuarantineError,
    discard_quarantine,
    export_quarantine,
    quarantine_counts,
    replay_quarantine,
    unreconciled_partitions,
)
from pipeline.warehouse.connection import connect
from privacy.errors import InvalidCiphertext, KeyMismatchError
from privacy.keys import Keyring
from tests.conftest import WriteCsv, row

RUN_DATE = dt.date(2024, 1, 31)
STATE = [
    "quarantine",
    "border_crossings",
    "visa_decisions",
    "residence_permits",
    "identity_tokens",
    "identity_vault",
    "meta_partitions",
]


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    c = connect(tmp_path / "wh")
    yield c
    c.close()


@pytest.fixture
def loaded(con: duckdb.DuckDBPyConnection, write_csv: WriteCsv, landing: Path, ring: Keyring):
    """A warehouse with one good and two rejected border rows, and one good and one rejected visa row."""
    write_csv(
        "border",
        "2024-01-10",
        [
            row("border"),
            row("border", record_id="B2", direction="IN"),
            row("border", record_id="B3", sex="?", crossing_time="2024-01-09T08:00:00"),
        ],
    )
    write_csv("visa", "2024-01-11", [row("visa"), row("visa", record_id="V2", decision="MAYBE")])
    ingest(con, landing=landing, run_date=RUN_DATE, ring=ring)
    return con


def snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in STATE}


def read_export(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def write_fixed(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def fix(rows: list[dict[str, str]], which: str, **changes: str) -> list[dict[str, str]]:
    """Change the exported row whose record_id is ``which``."""
    for r in rows:
        if r["record_id"] == which:
            r.update(changes)
    return rows


def export_border(con: duckdb.DuckDBPyConnection, ring: Keyring, tmp_path: Path) -> list[dict[str, str]]:
    (path,) = export_quarantine(con, ring, tmp_path / "ops", source="border")
    return read_export(path)


def test_export_writes_one_private_csv_per_source_with_the_contract_columns(
    loaded: duckdb.DuckDBPyConnection, ring: Keyring, tmp_path: Path
) -> None:
    paths = export_quarantine(loaded, ring, tmp_path / "ops")
    assert [p.name for p in paths] == ["quarantine-border.csv", "quarantine-visa.csv"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in paths)
    assert stat.S_IMODE((tmp_path / "ops").stat().st_mode) == 0o700
    border = read_export(paths[0])
    assert list(border[0])[:3] == ["quarantine_id", "quarantine_reason", "record_id"]
    assert [(r["record_id"], r["quarantine_reason"], r["family_name"]) for r in border] == [
        ("B2", "direction is not one of ARR, DEP", "MÜLLER"),
        ("B3", "sex is not one of M, F, X", "MÜLLER"),
    ]
    with pytest.raises(QuarantineError, match="already exists"):
        export_quarantine(loaded, ring, tmp_path / "ops")


def test_round_trip_export_fix_replay_stores_rows_and_resolves_entries(
    loaded: duckdb.DuckDBPyConnection, ring: Keyring, tmp_path: Path
) -> None:
    rows = fix(export_border(loaded, ring, tmp_path), "B2", direction="ARR")
    fix(rows, "B3", sex="M")
    summary = replay_quarantine(loaded, ring, write_fixed(tmp_path / "fixed.csv", rows), run_id="r1")
    assert (summary.rows, summary.replayed, summary.still_invalid) == (2, 2, {})
    got = loaded.execute(
        "SELECT record_id, direction, sex, partition_date, run_id FROM border_crossings ORDER BY record_id"
    ).fetchall()
    day = dt.date(2024, 1, 10)
    assert got == [("B1", "ARR", "M", day, got[0][4]), ("B2", "ARR", "M", day, "r1"), ("B3", "ARR", "M", day, "r1")]
    tokens = loaded.execute(
        "SELECT DISTINCT * EXCLUDE (source, record_id) FROM identity_tokens WHERE source = 'border'"
    ).fetchall()
    assert len(tokens) == 1  # same person, same pseudonyms as at ingest
    resolved = loaded.execute(
        "SELECT resolution FROM quarantine WHERE source = 'border' AND resolved_at IS NOT NULL"
    ).fetchall()
    assert resolved == [("replayed in run r1",)] * 2
    assert loaded.execute(
        "SELECT rows_read, rows_accepted, rows_quarantined FROM meta_partitions WHERE source = 'border'"
    ).fetchall() == [(3, 3, 0)]
    assert unreconciled_partitions(loaded) == []
    assert quarantine_counts(loaded) == [("visa", "decision is not one of GRANTED, REFUSED", 1)]
    assert loaded.execute("SELECT run_id, file, rows, replayed, still_invalid FROM meta_replays").fetchall() == [
        ("r1", "fixed.csv", 2, 2, 0)
    ]


def test_row_still_invalid_keeps_its_entry_unchanged_and_is_not_duplicated(
    loaded: duckdb.DuckDBPyConnection, ring: Keyring, tmp_path: Path
) -> None:
    rows = fix(export_border(loaded, ring, tmp_path), "B2", direction="ARR")
    fix(rows, "B3", sex="Q", nationality="QQQ")
    before = loaded.execute("SELECT * FROM quarantine WHERE record_id = 'B3'").fetchall()
    summary = replay_quarantine(loaded, ring, write_fixed(tmp_path / "fixed.csv", rows))
    assert summary.replayed == 1
    assert summary.still_invalid == {
        "sex is not one of M, F, X; nationality is not an ISO 3166-1 alpha-3 or ICAO 9303 code": 1
    }
    assert [qid for qid, _r in summary.still_invalid_ids] == [before[0][0]]
    assert loaded.execute("SELECT * FROM quarantine WHERE record_id = 'B3'").fetchall() == before
    assert loaded.execute("SELECT count(*) FROM quarantine").fetchone() == (3,)
    assert loaded.execute(
        "SELECT rows_read, rows_accepted, rows_quarantined FROM meta_partitions WHERE source = 'border'"
    ).fetchall() == [(3, 2, 1)]
    assert unreconciled_partitions(loaded) == []
    # the operator can fix it again and replay it with the same id
    again = replay_quarantine(
        loaded, ring, write_fixed(tmp_path / "again.csv", fix(rows[1:], "B3", sex="F", nationality="UTO"))
    )
    assert again.replayed == 1


def test_permit_rows_replay_although_permits_have_a_reason_column(
    con: duckdb.DuckDBPyConnection, write_csv: WriteCsv, landing: Path, ring: Keyring, tmp_path: Path
) -> None:
    write_csv("permit", "2024-01-12", [row("permit", issue_date="12/01/2024")])
    ingest(con, landing=landing, run_date=RUN_DATE, ring=ring)
    (path,) = export_quarantine(con, ring, tmp_path / "ops")
    rows = read_export(path)
    assert (rows[0]["reason"], rows[0]["quarantine_reason"]) == ("education", "issue_date is not a date (YYYY-MM-DD)")
    summary = replay_quarantine(
        con, ring, write_fixed(tmp_path / "fixed.csv", fix(rows, "P1", issue_date="2024-01-12"))
    )
    assert summary.replayed == 1
    assert con.execute("SELECT reason, issue_date FROM residence_permits").fetchall() == [
        ("education", dt.date(2024, 1, 12))
    ]


def test_unfixed_malformed_encoding_stays_quarantined(
    con: duckdb.DuckDBPyConnection, write_csv: WriteCsv, landing: Path, ring: Keyring, tmp_path: Path
) -> None:
    path = write_csv("border", "2024-01-10", [row("border")])
    good = path.read_bytes().splitlines()[1]
    path.write_bytes(path.read_bytes() + good.replace(b"B1", b"B9").replace(b"HANS", b"H\xffNS") + b"\n")
    ingest(con, landing=landing, run_date=RUN_DATE, ring=ring)
    rows = export_border(con, ring, tmp_path)
    assert rows[0]["given_names"] == "H\ufffdNS PETER"
    summary = replay_quarantine(con, ring, write_fixed(tmp_path / "same.csv", rows))
    assert summary.still_invalid == {"malformed encoding (bytes that are not UTF-8, or a NUL byte)": 1}
    fixed = replay_quarantine(con, ring, write_fixed(tmp_path / "fixed.csv", fix(rows, "B9", given_names="HANS")))
    assert fixed.replayed == 1


def test_a_duplicate_record_id_stays_a_duplicate(
    con: duckdb.DuckDBPyConnection, write_csv: WriteCsv, landing: Path, ring: Keyring, tmp_path: Path
) -> None:
    write_csv("border", "2024-01-10", [row("border"), row("border")])
    ingest(con, landing=landing, run_date=RUN_DATE, ring=ring)
    rows = export_border(con, ring, tmp_path)
    summary = replay_quarantine(con, ring, write_fixed(tmp_path / "same.csv", rows))
    assert summary.still_invalid == {"duplicate record_id (already ingested)": 1}
    summary = replay_quarantine(con, ring, write_fixed(tmp_path / "fixed.csv", fix(rows, "B1", record_id="B1b")))
    assert summary.replayed == 1


REFUSED = [
    # (id, how the file is broken, message)
    ("unknown id", lambda rows: fix(rows, "B2", quarantine_id="nope"), "unknown quarantine id nope in "),
    ("repeated id", lambda rows: [rows[0], dict(rows[0])], "quarantine_id is empty or repeated"),
    ("missing column", lambda rows: [{k: v for k, v in r.items() if k != "sex"} for r in rows], "lacks column(s) sex"),
]


@pytest.mark.parametrize(("breaks", "message"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_bad_replay_file_is_refused_and_changes_nothing(
    loaded: duckdb.DuckDBPyConnection, ring: Keyring, tmp_path: Path, breaks, message: str
) -> None:
    rows = fix(export_border(loaded, ring, tmp_path), "B3", sex="M")
    before = snapshot(loaded)
    with pytest.raises(QuarantineError, match=message.replace("(", r"\(").replace(")", r"\)")) as exc:
        replay_quarantine(loaded, ring, write_fixed(tmp_path / "bad.csv", breaks(rows)))
    assert "\n" not in str(exc.value) and "MÜLLER" not in str(exc.value)
    assert snapshot(loaded) == before


def test_replaying_the_same_file_twice_is_refused(
    loaded: duckdb.DuckDBPyConnection, ring: Keyring, tmp_path: Path
) -> None:
    path = write_fixed(tmp_path / "fixed.csv", fix(export_border(loaded, ring, tmp_path), "B2", direction="ARR"))
    first = replay_quarantine(loaded, ring, path)
    before = snapshot(loaded)
    with pytest.raises(QuarantineError, match=f"already resolved \\(replayed in run {first.run_id}\\)"):
        replay_quarantine(loaded, ring, path)
    assert snapshot(loaded) == before


TAMPERING = [
    ("one byte of the sealed row", "UPDATE quarantine SET sealed_row = sealed_row[:-1] || '\\x00'::BLOB"),
    ("the line it is bound to", "UPDATE quarantine SET line = line + 1"),
    ("the partition it is bound to", "UPDATE quarantine SET partition_date = partition_date + 1"),
]


@pytest.mark.parametrize("sql", [c[1] for c in TAMPERING], ids=[c[0] for c in TAMPERING])
def test_tampered_entry_fails_to_open_on_export_and_replay(
    loaded: duckdb.DuckDBPyConnection, ring: Keyring, tmp_path: Path, sql: str
) -> None:
    path = write_fixed(tmp_path / "fixed.csv", fix(export_border(loaded, ring, tmp_path), "B2", direction="ARR"))
    loaded.execute(sql + " WHERE record_id = 'B2'")
    before = snapshot(loaded)
    with pytest.raises(InvalidCiphertext, match=r"^sealed data cannot be opened$"):
        export_quarantine(loaded, ring, tmp_path / "again")
    with pytest.raises(InvalidCiphertext, match=r"^sealed data cannot be opened$"):
        replay_quarantine(loaded, ring, path)
    assert snapshot(loaded) == before
    assert not (tmp_path / "again").exists()


def test_wrong_key_is_refused(loaded: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    with pytest.raises(KeyMismatchError):
        export_quarantine(loaded, Keyring.generate(), tmp_path / "ops")


def test_failure_inside_the_replay_leaves_the_warehouse_as_it_was(
    loaded: duckdb.DuckDBPyConnection, ring: Keyring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_fixed(tmp_path / "fixed.csv", fix(export_border(loaded, ring, tmp_path), "B2", direction="ARR"))
    before = snapshot(loaded)
    monkeypatch.setattr(quarantine_module, "unreconciled_partitions", lambda con, keys: ["border/2024-01-10"])
    with pytest.raises(QuarantineError, match="do not reconcile for border/2024-01-10"):
        replay_quarantine(loaded, ring, path)
    assert snapshot(loaded) == before


def test_discard_resolves_entries_with_the_reason_and_counts_still_reconcile(
    loaded: duckdb.DuckDBPyConnection, ring: Keyring, tmp_path: Path
) -> None:
    (qid,) = loaded.execute("SELECT quarantine_id FROM quarantine WHERE record_id = 'V2'").fetchone()
    assert discard_quarantine(loaded, [qid], " test record\nfrom the\tsupplier ") == 1
    assert loaded.execute("SELECT resolution FROM quarantine WHERE quarantine_id = ?", [qid]).fetchone() == (
        "discarded: test record from the supplier",
    )
    assert [s for s, _r, _n in quarantine_counts(loaded)] == ["border", "border"]
    assert unreconciled_partitions(loaded) == []
    assert [p.name for p in export_quarantine(loaded, ring, tmp_path / "ops")] == ["quarantine-border.csv"]
    with pytest.raises(QuarantineError, match=r"already resolved \(discarded\)$"):
        discard_quarantine(loaded, [qid], "again")
    with pytest.raises(QuarantineError, match="--reason must be"):
        discard_quarantine(loaded, ["x"], "  ")
    with pytest.raises(QuarantineError, match="unknown quarantine id x "):
        discard_quarantine(loaded, ["x"], "no such row")


def test_cli_export_replay_list_discard(
    loaded: duckdb.DuckDBPyConnection, ring: Keyring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded.close()
    key_file = tmp_path / "k.key"
    key_file.write_text(ring.to_json(), encoding="utf-8")
    app = typer.Typer()
    app.add_typer(quarantine_app, name="quarantine")
    runner = CliRunner()
    wh = ["--warehouse", str(tmp_path / "wh")]
    listed = runner.invoke(app, ["quarantine", "list", *wh])
    assert listed.exit_code == 0 and "total: 3 unresolved" in listed.output
    exported = runner.invoke(
        app, ["quarantine", "export", *wh, "--key-file", str(key_file), "--out", str(tmp_path / "o")]
    )
    assert exported.exit_code == 0, exported.output
    assert "wrote 2 rows to" in exported.output and "identifiers in clear" in exported.output
    assert "MÜLLER" not in exported.output
    rows = fix(read_export(tmp_path / "o" / "quarantine-border.csv"), "B2", direction="DEP")
    write_fixed(tmp_path / "fixed.csv", rows)
    replayed = runner.invoke(
        app, ["quarantine", "replay", *wh, "--key-file", str(key_file), "--file", str(tmp_path / "fixed.csv")]
    )
    assert replayed.exit_code == 0, replayed.output
    assert "2 rows, 1 stored, 1 still invalid" in replayed.output
    discarded = runner.invoke(
        app, ["quarantine", "discard", *wh, "--id", rows[1]["quarantine_id"], "--reason", "test data"]
    )
    assert discarded.exit_code == 0 and "discarded 1 quarantine entries" in discarded.output
