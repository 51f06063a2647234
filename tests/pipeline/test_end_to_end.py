"""End to end through the `migralink` command line on a small generated landing zone."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from pipeline.cli.main import main

pytestmark = [pytest.mark.quality_gates, pytest.mark.charts]  # a real night: nothing leaks, charts included


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("e2e") / "landing"
    argv = [
        "synth",
        "--out",
        str(out),
        "--persons",
        "400",
        "--start",
        "2024-01-01",
        "--end",
        "2024-06-30",
        "--seed",
        "11",
    ]
    assert main(argv) == 0
    return out


def _truth_rows(landing: Path) -> list[tuple[str, str, str]]:
    with (landing / "truth.csv").open(encoding="utf-8") as fh:
        return [(r["source"], r["record_id"], r["person_id"]) for r in csv.DictReader(fh)]


def _identifiers(landing: Path) -> set[str]:
    """Every name, birth date and document number in the landing files (the values that must not leak)."""
    found: set[str] = set()
    for path in landing.glob("*/*/*.csv"):
        with path.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                for col in (
                    "family_name",
                    "given_names",
                    "date_of_birth",
                    "doc_number",
                    "visa_number",
                    "permit_number",
                ):
                    value = (row.get(col) or "").strip()
                    if len(value) >= 6:
                        found.add(value)
    return found


def _snapshot(warehouse: Path) -> dict[str, object]:
    """A checksum of every table's rows, and every report's bytes and modification time (the privacy log, which
    records every run, is left out)."""
    con = duckdb.connect(str(warehouse / "migralink.duckdb"), read_only=True)
    try:
        tables = [
            t
            for (t,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()
            if not t.startswith("audit_")
        ]
        rows = "CAST(t AS VARCHAR)"
        checksum = f"count(*), md5(coalesce(string_agg({rows}, chr(10) ORDER BY {rows}), ''))"
        out: dict[str, object] = {t: con.execute(f'SELECT {checksum} FROM "{t}" t').fetchall()[0] for t in tables}
    finally:
        con.close()
    for report in sorted((warehouse / "reports").iterdir()):
        out[report.name] = (report.read_bytes(), report.stat().st_mtime_ns)
    return out


def test_run_ingests_every_generated_record_once_and_leaks_no_identifier(
    generated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, warehouse = tmp_path / "k.key", tmp_path / "wh"
    assert main(["keys", "init", "--key-file", str(key)]) == 0
    argv = [
        "run",
        "--date",
        "2024-06-30",
        "--landing",
        str(generated),
        "--warehouse",
        str(warehouse),
        "--key-file",
        str(key),
        "--quiet",
    ]
    assert main(argv) == 0
    first_output = capsys.readouterr()
    with (generated / "truth.csv").open(encoding="utf-8") as fh:
        truth = {(r["source"], r["record_id"]) for r in csv.DictReader(fh)}
    con = duckdb.connect(str(warehouse / "migralink.duckdb"), read_only=True)
    try:
        stored = set(
            con.execute(
                "SELECT 'border', record_id FROM border_crossings UNION ALL "
                "SELECT 'visa', record_id FROM visa_decisions UNION ALL "
                "SELECT 'permit', record_id FROM residence_permits UNION ALL "
                "SELECT source, record_id FROM quarantine"
            ).fetchall()
        )
        read, accepted, quarantined = con.execute(
            "SELECT sum(rows_read), sum(rows_accepted), sum(rows_quarantined) FROM meta_partitions"
        ).fetchall()[0]
        text_values = set()
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
            for row in con.execute(f'SELECT * FROM "{table}"').fetchall():
                text_values.update(str(v) for v in row if isinstance(v, str))
    finally:
        con.close()
    assert stored == truth
    assert read == len(truth) == accepted + quarantined
    identifiers = _identifiers(generated)
    assert len(identifiers) > 500
    assert not identifiers & text_values
    printed = first_output.out + first_output.err
    assert not [v for v in identifiers if v in printed]

    reports = list((warehouse / "reports").glob("linkage-*.html"))
    assert len(reports) == 1 and "<svg" in reports[0].read_text()
    assert not [v for v in identifiers if v in reports[0].read_text()]
    statistics = list((warehouse / "reports").glob("statistics-*.html"))
    assert len(statistics) == 1 and "<svg" in statistics[0].read_text()
    pages = list((warehouse / "reports").glob("*.html"))  # the charts were put into every page before the commit
    assert len(pages) >= 3 and not [p.name for p in pages if "<!--migralink-chart" in p.read_text()]
    assert not [v for v in identifiers if v in statistics[0].read_text()]
    assert "histories (every person): " in printed
    assert "linkage (relinked every record): " in printed and "persons" in printed
    assert "linkage coherence: " in printed and "with repeated-direction crossings" in printed

    links = tmp_path / "links.csv"
    assert main(["export", "links", "--out", str(links), "--warehouse", str(warehouse)]) == 0
    with links.open(encoding="utf-8") as fh:
        exported = list(csv.DictReader(fh))
    accepted_records = {(r["source"], r["record_id"]) for r in exported}
    assert len(exported) == accepted and all(r["person_key"] for r in exported)
    persons = {r["person_key"] for r in exported}
    true_persons = {p for s, rid, p in _truth_rows(generated) if (s, rid) in accepted_records}
    assert 0.9 * len(true_persons) <= len(persons) <= 1.1 * len(true_persons)

    crossings = tmp_path / "crossings.csv"
    assert main(["export", "crossings", "--out", str(crossings), "--warehouse", str(warehouse)]) == 0
    with crossings.open(encoding="utf-8") as fh:
        classified = list(csv.DictReader(fh))
    border = {rid for s, rid in accepted_records if s == "border"}
    assert {r["record_id"] for r in classified} == border and len(classified) == len(border)
    assert {"false", "pending"} <= {r["long_term_migration"] for r in classified} <= {"true", "false", "pending"}
    assert {r["person_key"] for r in classified} <= persons
    assert not [v for v in identifiers if v in crossings.read_text()]

    before = _snapshot(warehouse)
    assert main(argv) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert _snapshot(warehouse) == before  # a second run for the same night changes no table and no report
    assert main(["link", "--date", "2024-07-01", "--warehouse", str(warehouse), "--full"]) == 0
    relinked = capsys.readouterr().out
    assert "linkage (relinked every record)" in relinked and f"-> {len(persons):,} persons" in relinked
