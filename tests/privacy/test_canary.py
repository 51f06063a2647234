"""Canary identities seeded into a landing zone must not appear anywhere the warehouse, logs or CLI reach."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import duckdb
import pytest

from pipeline.cli.main import main
from pipeline.ingest.contract import load_contract

pytestmark = [pytest.mark.quality_gates, pytest.mark.charts]  # the canaries are looked for in the charts too

CANARIES = {
    "family_name": "QZXCANARYFAMILY",
    "given_names": "QZXCANARYGIVEN JOLENE",
    "date_of_birth": "1911-11-11",
    "doc_number": "QZX7734002",
    "visa_number": "QZXVISA5150",
    "permit_number": "QZXPERMIT8086",
}
NEEDLES = [
    "QZXCANARY",
    "CANARYFAMILY",
    "CANARYGIVEN",
    "JOLENE",
    "1911-11-11",
    "11/11/1911",
    "QZX7734002",
    "QZXVISA5150",
    "QZXPERMIT8086",
]


def _canary_rows(source: str, day: str) -> list[dict[str, str]]:
    base = {
        "border": {
            "record_id": "CB1",
            "direction": "ARR",
            "crossing_time": f"{day}T09:00:00",
            "port": "AKL",
            "doc_type": "P",
            "doc_issuing_country": "UTO",
            "sex": "F",
            "nationality": "UTO",
        },
        "visa": {
            "record_id": "CV1",
            "visa_category": "VISITOR",
            "decision": "GRANTED",
            "decision_date": day,
            "valid_from": day,
            "valid_until": "2030-01-01",
            "sex": "F",
            "nationality": "GBR",
            "doc_issuing_country": "GBR",
        },
        "permit": {
            "record_id": "CP1",
            "permit_type": "TEMPORARY",
            "reason": "family",
            "issue_date": day,
            "valid_from": day,
            "valid_until": "2030-01-01",
            "sex": "F",
            "nationality": "GBR",
            "country_of_birth": "GBR",
            "doc_issuing_country": "GBR",
            "region": "NORTH",
        },
    }[source]
    good = {**base, **CANARIES}
    # The same canary rejected three ways: bad direction/decision, unparseable date, too many fields (below).
    bad = {**good, "record_id": good["record_id"] + "X", "sex": "?"}
    return [good, bad]


def _seed(landing: Path, day: str) -> None:
    for source in ("border", "visa", "permit"):
        cols = list(load_contract()[source].names)
        path = landing / source / day / "canary.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(cols)
            for r in _canary_rows(source, day):
                writer.writerow([r.get(c, "") for c in cols])
            writer.writerow([*(r.get(c, "") for c in cols), "SURPLUS"])  # structurally broken row


def test_no_canary_identifier_reaches_the_warehouse_logs_or_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    landing, warehouse, key = tmp_path / "landing", tmp_path / "wh", tmp_path / "k.key"
    assert (
        main(
            [
                "synth",
                "--out",
                str(landing),
                "--persons",
                "150",
                "--start",
                "2024-01-01",
                "--end",
                "2024-02-29",
                "--seed",
                "5",
            ]
        )
        == 0
    )
    _seed(landing, "2024-02-10")
    wh = ["--warehouse", str(warehouse), "--key-file", str(key)]
    assert main(["keys", "init", "--key-file", str(key)]) == 0
    assert main(["run", "--date", "2024-02-29", "--landing", str(landing), *wh]) in (0, 4)  # 4: gate warnings
    assert main(["status", "--warehouse", str(warehouse)]) == 0
    assert main(["keys", "rotate", "--key-file", str(key)]) == 0
    assert main(["keys", "rekey", *wh]) == 0
    captured = capsys.readouterr()

    con = duckdb.connect(str(warehouse / "migralink.duckdb"), read_only=True)
    try:
        assert (
            con.execute(
                "SELECT count(*) FROM quarantine WHERE record_id LIKE 'C%X' OR file LIKE '%canary%'"
            ).fetchall()[0][0]
            == 6
        )
        assert (
            con.execute("SELECT count(*) FROM identity_tokens WHERE record_id IN ('CB1', 'CV1', 'CP1')").fetchall()[0][
                0
            ]
            == 3
        )
        cells = []
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
            cols = [
                c
                for (c,) in con.execute(
                    f"SELECT column_name FROM duckdb_columns() WHERE table_name = '{table}'"
                ).fetchall()
            ]
            for c in cols:
                cells += [v for (v,) in con.execute(f'SELECT DISTINCT "{c}"::VARCHAR FROM "{table}"').fetchall()]
    finally:
        con.close()
    text = "\n".join(v for v in cells if v)
    raw_files = b"".join(p.read_bytes() for p in warehouse.rglob("*") if p.is_file())
    logs = "\n".join(r.getMessage() for r in caplog.records)
    for needle in NEEDLES:
        assert needle not in text, f"{needle} in a warehouse table"
        assert needle.encode() not in raw_files, f"{needle} in a warehouse file"
        assert needle not in logs and needle not in captured.out and needle not in captured.err
    assert "1911" in text  # the birth year is kept in clear, at that detail only
    assert "CB1" in text and b"CB1" in raw_files  # the scans do see what is stored
