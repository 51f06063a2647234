"""Contract tests of ingest: every invalid-row kind is quarantined with its reason; counts reconcile."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from pipeline.errors import LandingFileError
from pipeline.ingest.load import ingest
from pipeline.warehouse.connection import connect
from privacy.errors import KeyMismatchError
from privacy.keys import Keyring
from privacy.sealing import Sealer
from tests.conftest import WriteCsv, row

RUN_DATE = dt.date(2024, 1, 31)


def run(landing: Path, warehouse: Path, ring: Keyring, day: dt.date = RUN_DATE):
    con = connect(warehouse)
    try:
        return ingest(con, landing=landing, run_date=day, ring=ring)
    finally:
        con.close()


def query(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse / "migralink.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


INVALID_ROWS = [
    # (id, source, changes, expected reason)
    ("unknown direction", "border", {"direction": "IN"}, "direction is not one of ARR, DEP"),
    ("empty direction", "border", {"direction": ""}, "direction is empty"),
    (
        "unparseable crossing time",
        "border",
        {"crossing_time": "01/02/2024 10:00"},
        "crossing_time is not an ISO 8601 date-time",
    ),
    (
        "crossing after the partition",
        "border",
        {"crossing_time": "2024-02-05T10:00:00"},
        "crossing_time is after the partition date",
    ),
    ("unparseable birth date", "border", {"date_of_birth": "1980-02-30"}, "date_of_birth is not a date (YYYY-MM-DD)"),
    ("birth in the future", "border", {"date_of_birth": "2030-01-01"}, "date_of_birth is in the future"),
    ("birth before 1880", "border", {"date_of_birth": "1870-01-01"}, "date_of_birth is before 1880-01-01"),
    ("birth after the crossing", "border", {"date_of_birth": "2024-01-05"}, "date_of_birth is after crossing_time"),
    ("unknown sex", "border", {"sex": "Q"}, "sex is not one of M, F, X"),
    (
        "unknown nationality code",
        "border",
        {"nationality": "QQQ"},
        "nationality is not an ISO 3166-1 alpha-3 or ICAO 9303 code",
    ),
    ("empty record id", "border", {"record_id": ""}, "record_id is empty"),
    ("unknown visa decision", "visa", {"decision": "MAYBE"}, "decision is not one of GRANTED, REFUSED"),
    ("visa decision date missing", "visa", {"decision_date": ""}, "decision_date is empty"),
    ("visa valid until before from", "visa", {"valid_until": "2023-01-01"}, "valid_until is before valid_from"),
    ("permit issue date unparseable", "permit", {"issue_date": "2024-13-01"}, "issue_date is not a date (YYYY-MM-DD)"),
    (
        "permit absurd validity",
        "permit",
        {"valid_until": "2999-01-01"},
        "valid_until is outside 1950-01-01..2200-12-31",
    ),
]


@pytest.mark.parametrize(
    ("source", "changes", "reason"), [c[1:] for c in INVALID_ROWS], ids=[c[0] for c in INVALID_ROWS]
)
def test_invalid_row_is_quarantined_with_its_reason(
    write_csv: WriteCsv, landing: Path, tmp_path: Path, ring: Keyring, source: str, changes: dict, reason: str
) -> None:
    write_csv(source, "2024-01-10", [row(source), row(source, **{"record_id": "BAD", **changes})])
    summary = run(landing, tmp_path / "wh", ring)
    assert (summary.rows_read, summary.rows_accepted, summary.rows_quarantined) == (2, 1, 1)
    got = query(tmp_path / "wh", "SELECT source, partition_date, file, line, record_id, reason FROM quarantine")
    expected_id = None if changes.get("record_id") == "" else "BAD"
    assert got == [(source, dt.date(2024, 1, 10), f"{source}/2024-01-10/part.csv", 3, expected_id, reason)]


def test_structural_problems_keep_line_numbers(
    landing: Path, tmp_path: Path, ring: Keyring, write_csv: WriteCsv
) -> None:
    path = write_csv("border", "2024-01-02", [row("border")])
    good = path.read_bytes().splitlines()[1]
    path.write_bytes(
        path.read_bytes()
        + b"B2,ARR,2024-01-02T10:00:00,AKL\n"  # too few fields
        + good.replace(b"B1", b"B3").replace(b"HANS", b"H\xffNS")
        + b"\n"  # not UTF-8
        + b"\n"  # blank line: no record
        + good.replace(b"B1", b"B4").replace(b"HANS", b"H\x00NS")
        + b"\n"  # NUL byte
        + good.replace(b"B1", b"B5")
        + b",surplus\n"  # too many fields
    )
    summary = run(landing, tmp_path / "wh", ring)
    assert (summary.rows_read, summary.rows_accepted, summary.rows_quarantined) == (5, 1, 4)
    got = query(tmp_path / "wh", "SELECT line, record_id, reason FROM quarantine ORDER BY line")
    assert got == [
        (3, "B2", "expected 12 fields, found 4"),
        (4, "B3", "malformed encoding (bytes that are not UTF-8, or a NUL byte)"),
        (6, "B4", "malformed encoding (bytes that are not UTF-8, or a NUL byte)"),
        (7, "B5", "expected 12 fields, found 13"),
    ]


def test_missing_required_column_quarantines_every_row_of_the_file(
    write_csv: WriteCsv, landing: Path, tmp_path: Path, ring: Keyring
) -> None:
    cols = [c for c in row("visa") if c != "decision_date"]
    write_csv("visa", "2024-01-03", [row("visa"), row("visa", record_id="V2")], header=cols)
    summary = run(landing, tmp_path / "wh", ring)
    assert summary.rows_quarantined == 2
    reasons = {r for (r,) in query(tmp_path / "wh", "SELECT reason FROM quarantine")}
    assert reasons == {"missing required column(s): decision_date"}


def test_column_order_is_free_and_extra_columns_are_never_stored(
    write_csv: WriteCsv, landing: Path, tmp_path: Path, ring: Keyring
) -> None:
    cols = [*reversed(list(row("border"))), "secret_note"]
    data = row("border", secret_note="CONFIDENTIAL-NOTE")
    write_csv("border", "2024-01-04", [data], header=cols)
    summary = run(landing, tmp_path / "wh", ring)
    assert summary.rows_accepted == 1
    got = query(tmp_path / "wh", "SELECT direction, crossing_time, birth_year, nationality FROM border_crossings")
    assert got == [("ARR", dt.datetime(2024, 1, 1, 10, 0), 1980, "UTO")]
    assert not (tmp_path / "wh" / "migralink.duckdb").read_bytes().count(b"CONFIDENTIAL-NOTE")


def test_duplicate_record_ids_within_batch_and_across_runs(
    write_csv: WriteCsv, landing: Path, tmp_path: Path, ring: Keyring
) -> None:
    write_csv("border", "2024-01-05", [row("border"), row("border")])
    run(landing, tmp_path / "wh", ring, dt.date(2024, 1, 5))
    write_csv("border", "2024-01-06", [row("border", crossing_time="2024-01-06T09:00:00")])
    run(landing, tmp_path / "wh", ring, dt.date(2024, 1, 6))
    got = query(tmp_path / "wh", "SELECT partition_date, reason FROM quarantine ORDER BY partition_date")
    assert got == [
        (dt.date(2024, 1, 5), "duplicate record_id (repeated in this batch)"),
        (dt.date(2024, 1, 6), "duplicate record_id (already ingested)"),
    ]
    assert query(tmp_path / "wh", "SELECT count(*) FROM border_crossings") == [(1,)]


def test_counts_reconcile_per_partition_and_partitions_run_in_date_order(
    write_csv: WriteCsv, landing: Path, tmp_path: Path, ring: Keyring
) -> None:
    write_csv(
        "border",
        "2024-01-02",
        [row("border", record_id=f"B{i}") for i in range(5)] + [row("border", record_id="X", direction="?")],
    )
    write_csv("visa", "2024-01-01", [row("visa", record_id=f"V{i}") for i in range(3)])
    write_csv("permit", "2024-01-03", [row("permit", record_id="P1", issue_date="nope")])
    write_csv("border", "2024-03-01", [row("border")])  # after the run date: not yet
    summary = run(landing, tmp_path / "wh", ring)
    assert [(p.source, p.partition_date) for p in summary.partitions] == [
        ("visa", "2024-01-01"),
        ("border", "2024-01-02"),
        ("permit", "2024-01-03"),
    ]
    got = query(
        tmp_path / "wh",
        "SELECT source, rows_read, rows_accepted, rows_quarantined FROM meta_partitions ORDER BY partition_date",
    )
    assert got == [("visa", 3, 3, 0), ("border", 6, 5, 1), ("permit", 1, 0, 1)]
    assert all(r == a + q for _s, r, a, q in got)


def test_second_run_changes_nothing(write_csv: WriteCsv, landing: Path, tmp_path: Path, ring: Keyring) -> None:
    write_csv("border", "2024-01-02", [row("border"), row("border", record_id="B2", sex="?")])
    first = run(landing, tmp_path / "wh", ring)
    db = tmp_path / "wh" / "migralink.duckdb"
    tables = ["border_crossings", "quarantine", "meta_partitions", "meta_files", "meta_runs"]
    before = {t: query(tmp_path / "wh", f"SELECT * FROM {t} ORDER BY ALL") for t in tables}
    second = run(landing, tmp_path / "wh", ring)
    assert first.rows_read == 2 and second.partitions == [] and second.rows_read == 0
    assert {t: query(tmp_path / "wh", f"SELECT * FROM {t} ORDER BY ALL") for t in tables} == before
    assert db.exists()


def test_unreadable_file_fails_the_run_and_leaves_the_warehouse_as_it_was(
    write_csv: WriteCsv, landing: Path, tmp_path: Path, ring: Keyring
) -> None:
    write_csv("border", "2024-01-01", [row("border")])
    run(landing, tmp_path / "wh", ring, dt.date(2024, 1, 1))
    snapshot = query(tmp_path / "wh", "SELECT count(*), (SELECT count(*) FROM meta_partitions) FROM border_crossings")
    write_csv("visa", "2024-01-02", [row("visa")])
    bad = landing / "border" / "2024-01-03" / "empty.csv"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"")
    with pytest.raises(LandingFileError, match=r"border/2024-01-03/empty.csv: the file is empty"):
        run(landing, tmp_path / "wh", ring)
    assert (
        query(tmp_path / "wh", "SELECT count(*), (SELECT count(*) FROM meta_partitions) FROM border_crossings")
        == snapshot
    )
    assert query(tmp_path / "wh", "SELECT count(*) FROM visa_decisions") == [(0,)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"record_id,record_id\nB1,B2\n", "duplicate column"),
        (b"\xff\xfe\x00r\x00e\x00c\n", "header row is not valid UTF-8"),
    ],
)
def test_files_without_a_usable_header_are_unreadable(
    landing: Path, tmp_path: Path, ring: Keyring, content: bytes, message: str
) -> None:
    path = landing / "border" / "2024-01-01" / "x.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(LandingFileError, match=message):
        run(landing, tmp_path / "wh", ring)


def test_parquet_files_are_accepted(landing: Path, tmp_path: Path, ring: Keyring) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = landing / "permit" / "2024-01-02" / "p.parquet"
    path.parent.mkdir(parents=True)
    data = row("permit")
    pq.write_table(
        pa.table({k: [v, v] for k, v in data.items()}).set_column(0, "record_id", pa.array(["P1", "P2"])), path
    )
    summary = run(landing, tmp_path / "wh", ring)
    assert summary.rows_accepted == 2


def test_quarantined_rows_are_sealed_and_open_with_the_key(
    write_csv: WriteCsv, landing: Path, tmp_path: Path, ring: Keyring
) -> None:
    write_csv("border", "2024-01-02", [row("border", sex="?")])
    run(landing, tmp_path / "wh", ring)
    ((part, file, line, blob),) = query(
        tmp_path / "wh", "SELECT partition_date, file, line, sealed_row FROM quarantine"
    )
    assert b"MULLER" not in blob and "MÜLLER".encode() not in blob
    opened = Sealer(ring, "quarantine").open(blob, aad=f"border|{part}|{file}|{line}".encode())
    assert b'"family_name": "M\xc3\x9cLLER"' in opened


def test_identifiers_never_reach_the_warehouse_in_clear(
    write_csv: WriteCsv, landing: Path, tmp_path: Path, ring: Keyring
) -> None:
    write_csv("border", "2024-01-02", [row("border")])
    write_csv("visa", "2024-01-02", [row("visa")])
    write_csv("permit", "2024-01-02", [row("permit"), row("permit", record_id="P2", region="?", sex="?")])
    run(landing, tmp_path / "wh", ring)
    text = " ".join(
        str(v)
        for table in ("border_crossings", "visa_decisions", "residence_permits", "quarantine")
        for r in query(tmp_path / "wh", f"SELECT * FROM {table}")
        for v in r
    )
    raw = (tmp_path / "wh" / "migralink.duckdb").read_bytes()
    for secret in (
        "MÜLLER",
        "MULLER",
        "HANS",
        "NGUYEN",
        "X1234567",
        "C7654321",
        "1980-02-03",
        "2001-05-06",
        "V998877",
        "RP-0001",
    ):
        assert secret not in text
        assert secret.encode() not in raw


def test_a_different_key_is_refused_before_anything_is_read(
    write_csv: WriteCsv, landing: Path, tmp_path: Path, ring: Keyring
) -> None:
    write_csv("border", "2024-01-02", [row("border")])
    run(landing, tmp_path / "wh", ring, dt.date(2024, 1, 2))
    write_csv("border", "2024-01-03", [row("border", record_id="B9")])
    with pytest.raises(KeyMismatchError):
        run(landing, tmp_path / "wh", Keyring.generate())
    assert query(tmp_path / "wh", "SELECT count(*) FROM meta_partitions") == [(1,)]
