"""Benchmark landing zones: FEBRL4 mapped onto the contract, the synthetic wrapper, and their truth files."""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from bench.linkage_data import FEBRL_DAY, write_febrl4_landing, write_synthetic_landing
from linkage.evaluate import cluster_summary, load_truth
from pipeline.ingest.contract import load_contract
from pipeline.ingest.landing import discover_partitions, read_landing_file
from pipeline.ingest.load import ingest
from pipeline.ingest.validate import checked_rows_sql
from pipeline.synth.names import DEFAULT_NAME_MIX
from pipeline.warehouse.connection import connect
from pipeline.warehouse.tables import RECORD_TABLES
from privacy.keys import Keyring


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _contract_failures(landing: Path) -> dict[str, int]:
    """Rows per source that fail the contract checks of the ingest (no pseudonymization, so it is quick)."""
    contracts = load_contract()
    con = duckdb.connect()
    failures: Counter[str] = Counter()
    for part in discover_partitions(landing, FEBRL_DAY).partitions:
        stored = RECORD_TABLES[part.source]
        con.execute(f"CREATE TABLE IF NOT EXISTS {stored} (record_id VARCHAR)")
        for path in part.files:
            raw = read_landing_file(path, contracts[part.source], landing, part.date).table
            con.register("raw_rows", raw)
            sql = checked_rows_sql(contracts[part.source], "raw_rows", stored)
            (bad,) = con.execute(f"SELECT count(*) FROM ({sql}) WHERE _reason IS NOT NULL").fetchall()[0]
            failures[part.source] += bad
            con.unregister("raw_rows")
    return dict(failures)


@pytest.fixture(scope="module")
def febrl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_febrl4_landing(tmp_path_factory.mktemp("febrl") / "landing")


def test_febrl4_landing_has_every_record_in_contract_columns(febrl: Path) -> None:
    landing = febrl.parent
    contracts = load_contract()
    for source, name in (("visa", "febrl4-a.csv"), ("permit", "febrl4-b.csv")):
        path = landing / source / FEBRL_DAY.isoformat() / name
        rows = _read(path)
        assert len(rows) == 5000
        assert list(rows[0]) == list(contracts[source].names)
        assert all(r["doc_number"] and r["doc_issuing_country"] == "AUS" for r in rows)
        assert all(r["nationality"] == "AUS" and r["sex"] == "" for r in rows)
        assert sum(r["date_of_birth"] == "" for r in rows) < 300  # FEBRL's missing and invalid dates
    assert _contract_failures(landing) == {"visa": 0, "permit": 0}


def test_febrl4_truth_pairs_each_original_with_its_duplicate(febrl: Path) -> None:
    con = duckdb.connect()
    assert load_truth(con, febrl) == 10_000
    assert cluster_summary(con, "truth", column="person_id").sizes == ((2, 5000),)
    assert con.execute(
        "SELECT count(*) FROM (SELECT person_id FROM truth GROUP BY 1 HAVING count(DISTINCT source) = 2)"
    ).fetchall() == [(5000,)]
    record_ids = {r["record_id"] for r in _read(febrl)}
    assert not any("rec" in r or "org" in r or "dup" in r for r in record_ids)  # ids say nothing about truth


def test_febrl4_passes_the_real_ingest(febrl: Path, tmp_path: Path, ring: Keyring) -> None:
    con = connect(tmp_path / "wh")
    summary = ingest(con, landing=febrl.parent, run_date=FEBRL_DAY, ring=ring)
    assert (summary.rows_read, summary.rows_accepted, summary.rows_quarantined) == (10_000, 10_000, 0)
    assert con.execute("SELECT count(*) FROM identity_tokens").fetchall() == [(10_000,)]
    con.close()


@pytest.mark.parametrize(
    ("description", "include_document", "sources"),
    [
        ("without document", False, ("visa", "permit")),
        ("both halves as border crossings", True, ("border", "border")),
    ],
    ids=["without document", "both halves as border crossings"],
)
def test_febrl4_variants_pass_the_contract(tmp_path: Path, description, include_document, sources) -> None:
    truth = write_febrl4_landing(tmp_path / "landing", include_document=include_document, sources=sources)
    failures = _contract_failures(truth.parent)
    assert sum(failures.values()) == 0 and set(failures) == set(sources)
    first = _read(next((truth.parent / sources[0]).rglob("febrl4-a.csv")))
    assert all(bool(r["doc_number"]) == include_document for r in first)
    assert all(bool(r["doc_issuing_country"]) == include_document for r in first)
    assert len({(r["source"], r["record_id"]) for r in _read(truth)}) == 10_000


def test_synthetic_wrapper_passes_its_arguments_to_the_generator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Path, dict[str, object]]] = []
    monkeypatch.setattr("pipeline.synth.generate", lambda out, **kw: calls.append((out, kw)))
    truth = write_synthetic_landing(tmp_path / "landing", persons=40, seed=3)
    assert truth == tmp_path / "landing" / "truth.csv"
    assert calls == [
        (
            tmp_path / "landing",
            {
                "persons": 40,
                "start": dt.date(2023, 1, 1),
                "end": dt.date(2024, 12, 31),
                "seed": 3,
                "name_mix": DEFAULT_NAME_MIX,
            },
        )
    ]
