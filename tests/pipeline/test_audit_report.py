"""The auditor's view of the privacy log: escaping and the identifier guard (fast), and the page itself in a real
headless browser (Debian's chromium driven by Playwright): the verification status, the filters, an entry's
inclusion proof, and a tampered log shown in red."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pipeline.audit.report import (
    AuditRow,
    HeadRow,
    Verification,
    canonical_entry,
    describe_entry,
    write_audit_report,
)
from privacy.audit.heads import sign_tree_head
from privacy.audit.merkle import inclusion_proof, leaf_hash, root, verify_inclusion

RUNS = ("3f2a9c1e0b7d4e58a1c2d3e4f5a6b7c8", "8d41b07e2c9a4f13b5e6d7c8a9b0c1d2", "c07e55a19b3d4c2e8f1a2b3c4d5e6f70")
NIGHTS = ("2026-11-28", "2026-11-29", "2026-11-30")
PUBLIC, INTERNAL = "public-migration-statistics", "internal-monitoring"
VERIFIED = Verification(True, "intact: 60 entries, 3 signed tree heads, key 3f2a6b0c91d4e7a2")
TAMPERED_LEAF = 22
FAILED = Verification(
    False,
    "FAILED: the entries do not match the stored signed tree head of size 40 (an entry before it was changed, "
    "removed, added or moved)",
)


def _night(n: int) -> list[dict[str, Any]]:
    """The 20 entries of one nightly run, as the pipeline appends them."""
    run, day = RUNS[n], NIGHTS[n]
    previous = (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()
    rows = {"border": 609 + 3 * n, "visa": 212 + n, "permit": 148 + 2 * n}
    fields: list[tuple[str, dict[str, Any]]] = [
        (
            "run_started",
            {
                "command": "run",
                "dag_run_id": f"scheduled__{day}T02:00:00+00:00",
                "code_version": "0.1.0",
                "config_sha256": "9b" * 32,
                "register_version": "2026.3",
                "register_sha256": "4e" * 32,
                "run_date": day,
            },
        ),
        *(
            (
                "partitions_read",
                {"source": s, "partitions": 1, "rows": r, "files": 1, "first": previous, "last": previous},
            )
            for s, r in rows.items()
        ),
        (
            "quarantined",
            {"source": "border", "rows": 7 + n, "reasons": {"unknown port": 4, "bad crossing_time": 3 + n}},
        ),
        *(
            ("pseudonymized", {"source": s, "key_id": "a91c" * 16, "key_version": 1 + (n == 2), "records": r})
            for s, r in rows.items()
        ),
        ("columns_dropped", {"columns": ["border.port", "visa.visa_category"], "register_version": "2026.3"}),
        (
            ("model_trained", {"model_version": 3, "records": 11_840})
            if n == 0
            else ("key_registered", {"key_id": "b72d" * 16, "key_version": 2})
            if n == 1
            else ("rekeyed", {"from_version": 1, "to_version": 2, "records": 12_771})
        ),
        (
            "linked",
            {
                "night": day,
                "mode": "incremental",
                "model_version": 3,
                "records": 962 + n,
                "persons": 870 + n,
                "new_persons": 41 + n,
                "merged_keys": 2,
                "split_keys": n,
                "review_queued": 5 - n,
            },
        ),
        ("review_decision", {"decision": "match", "pairs": 3 + n, "reviewer": "reviewer-2", "reason_given": True}),
        (
            "histories_built",
            {
                "vintage": day,
                "cutoff": previous,
                "mode": "incremental",
                "persons": 8_120,
                "crossings": 19_406,
                "pending": 12,
            },
        ),
        (
            "statistics_computed",
            {"vintage": day, "rows": {"flows": 480, "stock": 96, "first_permits": 120}, "revisions": 6},
        ),
        ("quality_gate", {"suite": "landing_contract", "result": "passed", "failing": 0, "accepted_by": None}),
        (
            "quality_gate",
            {
                "suite": "statistics",
                "result": "failed" if n == 1 else "passed",
                "failing": int(n == 1),
                "accepted_by": None,
            },
        ),
        (
            "released",
            {
                "purpose": PUBLIC,
                "audience": "public",
                "release_date": day,
                "tables": ["stat_migration_flows", "stat_resident_stock", "stat_first_permits"],
                "methods": ["cell_key"],
                "parameters_sha256": "c3" * 32,
                "budget_spent": None,
                "off_calendar": False,
                "register_version": "2026.3",
                "files": {"flows.csv": "11" * 32, "stock.csv": "22" * 32, "first_permits.csv": "33" * 32},
            },
        ),
        (
            (
                "released",
                {
                    "purpose": INTERNAL,
                    "audience": "ministry analysts",
                    "release_date": day,
                    "tables": ["stat_migration_flows"],
                    "methods": ["dp"],
                    "parameters_sha256": "d4" * 32,
                    "budget_spent": "0.5",
                    "off_calendar": False,
                    "register_version": "2026.3",
                    "files": {"flows.csv": "44" * 32},
                },
            )
            if n < 2
            else (
                "refused",
                {
                    "purpose": INTERNAL,
                    "asked": "stat_migration_flows by port, month",
                    "reason": "does not allow stat_migration_flows by port at monthly detail (finest: quarter)",
                },
            )
        ),
        (
            "retention_purged",
            {"partitions": 1, "files": 1, "bytes": 48_213, "action": "deleted"},
        ),
        ("run_finished", {"command": "run", "status": "success"}),
    ]
    return [
        {"v": 1, "kind": kind, "at": f"{day}T02:{i // 6:02d}:{i * 7 % 60:02d}.{i * 37 % 1000:03d}Z", "run": run, **body}
        for i, (kind, body) in enumerate(fields)
    ]


def _log(entries: list[dict[str, Any]], sizes: list[int]) -> tuple[list[AuditRow], list[HeadRow]]:
    """Leaf hashes, inclusion proofs and Ed25519-signed tree heads, as ``migralink audit report`` builds them."""
    hashes = [leaf_hash(canonical_entry(e).encode()) for e in entries]
    key = Ed25519PrivateKey.generate()
    heads = [sign_tree_head(key, size, 1_795_924_800_000 + size * 60_000, root(hashes[:size])) for size in sizes]
    rows = []
    for index, entry in enumerate(entries):
        size = next((s for s in sizes if s > index), 0)
        path = [p.hex() for p in inclusion_proof(hashes[:size], index, size)] if size else []
        rows.append(AuditRow(index, entry, hashes[index].hex(), path, size))
    head_rows = [
        HeadRow(h.tree_size, h.timestamp_ms, h.root_hash.hex(), base64.b64encode(h.signature).decode(), h.key_id)
        for h in heads
    ]
    return rows, head_rows


ENTRIES = [entry for n in range(3) for entry in _night(n)]
ROWS, HEADS = _log(ENTRIES, [20, 40, 60])


def _tampered() -> list[AuditRow]:
    """Rows read back after someone lowered the rows read by one entry, leaving its stored leaf hash as it was."""
    row = ROWS[TAMPERED_LEAF]
    changed = AuditRow(row.leaf_index, {**row.entry, "rows": 512}, row.leaf_hash, row.inclusion_path, 40)
    return [changed if r.leaf_index == TAMPERED_LEAF else r for r in ROWS]


def test_the_hand_made_log_is_realistic() -> None:
    assert len(ENTRIES) == 60
    assert {e["run"] for e in ENTRIES} == set(RUNS)
    assert {e["purpose"] for e in ENTRIES if "purpose" in e} == {PUBLIC, INTERNAL}
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["at"]) for e in ENTRIES)


# -- fast: the page as text -----------------------------------------------------------------------------------


DESCRIPTIONS = [
    pytest.param(ENTRIES[1], "read 1 border partition, 609 rows (2026-11-27)", id="partitions_read"),
    pytest.param(ENTRIES[4], "quarantined 7 border rows: 4 unknown port, 3 bad crossing_time", id="quarantined"),
    pytest.param(ENTRIES[16], f"released {PUBLIC}: 3 tables (cell_key)", id="released"),
    pytest.param(
        ENTRIES[57],
        f"refused {INTERNAL}: does not allow stat_migration_flows by port at monthly detail (finest: quarter) "
        "(asked: stat_migration_flows by port, month)",
        id="refused",
    ),
    pytest.param(
        ENTRIES[10],
        "linked 962 records into 870 persons (model v3, incremental): 2 merged, 0 split, 5 queued for review",
        id="linked",
    ),
    pytest.param(ENTRIES[49], "re-keyed 12,771 records from key version 1 to 2", id="rekeyed"),
    pytest.param(
        {
            "v": 1,
            "kind": "model_promoted",
            "at": "2026-12-01T00:00:00.000Z",
            "run": RUNS[0],
            "model_version": 4,
            "previous_version": 3,
            "decided_by": "linkage_model",
            "forced": False,
            "reason_given": False,
            "failed": [],
            "figures": {"records": 900},
        },
        "promoted linkage model v4 over v3 (linkage_model)",
        id="model_promoted",
    ),
    pytest.param(
        {
            "v": 1,
            "kind": "model_promoted",
            "at": "2026-12-01T00:00:00.000Z",
            "run": RUNS[0],
            "model_version": 5,
            "previous_version": 4,
            "decided_by": "ops",
            "forced": True,
            "reason_given": True,
            "failed": ["largest_person"],
            "figures": {},
        },
        "promoted linkage model v5 over v4 (ops, forced despite: largest_person)",
        id="model_promoted forced",
    ),
    pytest.param(
        {
            "v": 1,
            "kind": "model_kept",
            "at": "2026-12-01T00:00:00.000Z",
            "run": RUNS[0],
            "model_version": 3,
            "candidate_version": 4,
            "decided_by": "linkage_model",
            "failed": ["review_errors", "birth_dates"],
            "figures": {},
        },
        "kept linkage model v3, candidate v4 refused (linkage_model): review_errors, birth_dates",
        id="model_kept",
    ),
    pytest.param(
        {"v": 2, "kind": "something_new", "at": "2026-12-01T00:00:00.000Z", "run": RUNS[0], "count": 3, "what": "x"},
        "count 3, what x",
        id="unknown kind: its fields",
    ),
    pytest.param(
        {"v": 1, "kind": "partitions_read", "at": "2026-12-01T00:00:00.000Z", "run": RUNS[0], "source": "border"},
        "source border",
        id="missing fields: its fields",
    ),
]


@pytest.mark.parametrize(("entry", "expected"), DESCRIPTIONS)
def test_each_entry_is_described_in_one_line(entry: dict[str, Any], expected: str) -> None:
    assert describe_entry(entry) == expected


def test_entries_are_data_and_rendered_escaped(tmp_path: Path) -> None:
    hostile = {
        "v": 1,
        "kind": "refused",
        "at": "2026-11-30T03:00:00.000Z",
        "run": RUNS[2],
        "purpose": 'x" onmouseover="alert(1)',
        "asked": "</script><script>alert(2)</script>",
        "reason": "<script>alert(3)</script> & <b>bold</b>",
    }
    rows, heads = _log([*ENTRIES, hostile], [61])
    text = write_audit_report(rows, heads, VERIFIED, tmp_path).read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(3)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in text
    assert text.count("<script") == 2  # the page's own: the embedded data and the code
    assert "<b>bold" not in text
    assert 'onmouseover="alert' not in text
    data = re.search(r'<script type="application/json" id="entry-data">(.*?)</script>', text, re.S)
    assert data is not None
    assert json.loads(data.group(1))["entries"][60][1] == canonical_entry(hostile)


IDENTIFIERS = [
    pytest.param({"family_name": "MÜLLER"}, "family_name", id="top level"),
    pytest.param({"reasons": {"date_of_birth": 3}}, "date_of_birth", id="key of a nested object"),
    pytest.param({"files": [{"name": "a.csv", "person_key": "pk-1"}]}, "person_key", id="object inside a list"),
    pytest.param({"Doc-Number": "X1234567"}, "Doc-Number", id="spelled differently"),
    pytest.param({"record_id": None}, "record_id", id="even when empty"),
]


@pytest.mark.parametrize(("fields", "name"), IDENTIFIERS)
def test_an_entry_with_an_identifier_field_is_refused(tmp_path: Path, fields: dict[str, Any], name: str) -> None:
    entry = {"v": 1, "kind": "quarantined", "at": "2026-11-30T02:00:00.000Z", "run": RUNS[2], **fields}
    rows, heads = _log([*ENTRIES[:5], entry], [6])
    with pytest.raises(ValueError, match=f"leaf 5 .*named like a personal identifier \\({name}\\)") as caught:
        write_audit_report(rows, heads, VERIFIED, tmp_path)
    assert "MÜLLER" not in str(caught.value) and "X1234567" not in str(caught.value)
    assert not (tmp_path / "index.html").exists()


def test_names_of_columns_are_not_identifiers(tmp_path: Path) -> None:
    entry = {
        "v": 1,
        "kind": "columns_dropped",
        "at": "2026-11-30T02:00:00.000Z",
        "run": RUNS[2],
        "columns": ["border.family_name", "visa.visa_number"],
        "register_version": "2026.3",
    }
    rows, heads = _log([entry], [1])
    text = write_audit_report(rows, heads, VERIFIED, tmp_path).read_text(encoding="utf-8")
    assert "dropped 2 columns (register 2026.3): border.family_name, visa.visa_number" in text


def test_an_empty_log_still_gets_a_page(tmp_path: Path) -> None:
    page = write_audit_report([], [], Verification(True, "no signed tree head yet over 0 entries"), tmp_path / "new")
    text = page.read_text(encoding="utf-8")
    assert page == tmp_path / "new" / "index.html"
    assert 'data-ok="true"' in text and "no signed tree head yet" in text


# -- slow: the page in a real browser -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra (make install)")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (make install installs it)")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root_dir = tmp_path_factory.mktemp("audit-report")
    return {
        "verified": write_audit_report(ROWS, HEADS, VERIFIED, root_dir / "verified"),
        "failed": write_audit_report(_tampered(), HEADS, FAILED, root_dir / "failed"),
    }


def _open(browser: Any, page_path: Path) -> tuple[Any, list[str], list[str]]:
    """The page, the URLs it asked for, and the script errors it raised."""
    page = browser.new_page()
    requested: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(page_path.as_uri())
    return page, requested, errors


def _shown(page: Any) -> tuple[int, int]:
    """(rows not hidden, the count the page shows)."""
    visible = page.locator("#entries tbody tr:not([hidden])").count()
    return visible, int(page.locator("#shown-count").inner_text().replace(",", ""))


@pytest.mark.slow
def test_the_page_renders_with_the_verification_status(browser: Any, reports: dict[str, Path]) -> None:
    page, requested, errors = _open(browser, reports["verified"])
    assert page.title() == "Privacy log: auditor's view"
    assert page.locator("#entries tbody tr").count() == len(ENTRIES)
    banner = page.locator("#verification")
    assert banner.is_visible()
    assert banner.get_attribute("data-ok") == "true"
    assert "Log verified" in banner.inner_text() and VERIFIED.summary in banner.inner_text()
    assert _shown(page) == (60, 60)
    assert page.locator("#entries tbody tr.fails").count() == 0
    assert page.locator("#runs details.run").count() == 3
    assert page.locator("#tree-heads tbody tr").count() == 3
    assert requested == [reports["verified"].as_uri()]  # self-contained: nothing else is fetched
    assert errors == []
    page.close()


@pytest.mark.slow
def test_the_kind_filter_narrows_the_rows(browser: Any, reports: dict[str, Path]) -> None:
    page, _requested, errors = _open(browser, reports["verified"])
    page.select_option("#filter-kind", "released")
    assert _shown(page) == (5, 5)
    kinds = page.locator("#entries tbody tr:not([hidden]) td:nth-child(3)").all_inner_texts()
    assert kinds == ["released"] * 5
    page.select_option("#filter-kind", "partitions_read")
    assert _shown(page) == (9, 9)
    page.click("#filter-reset")
    assert _shown(page) == (60, 60)
    assert errors == []
    page.close()


@pytest.mark.slow
def test_the_purpose_filter_and_the_date_range_narrow_the_rows(browser: Any, reports: dict[str, Path]) -> None:
    page, _requested, errors = _open(browser, reports["verified"])
    page.select_option("#filter-purpose", INTERNAL)
    assert _shown(page) == (3, 3)
    assert page.locator("#entries tbody tr:not([hidden]) td:nth-child(5)").all_inner_texts() == [INTERNAL] * 3
    page.select_option("#filter-purpose", "")
    page.fill("#filter-from", "2026-11-29")
    assert _shown(page) == (40, 40)
    page.fill("#filter-to", "2026-11-29")
    assert _shown(page) == (20, 20)
    page.select_option("#filter-purpose", PUBLIC)
    assert _shown(page) == (1, 1)
    page.select_option("#filter-kind", "refused")
    assert _shown(page) == (0, 0)
    assert errors == []
    page.close()


@pytest.mark.slow
def test_clicking_an_entry_shows_its_inclusion_proof(browser: Any, reports: dict[str, Path]) -> None:
    page, _requested, errors = _open(browser, reports["verified"])
    row = ROWS[27]
    assert not page.locator("#entry-detail").is_visible()
    page.locator('#entries tbody tr[data-i="27"] td:nth-child(6)').click()
    assert page.locator("#entry-detail").is_visible()
    assert page.locator("#detail-entry").inner_text() == canonical_entry(row.entry)
    assert page.locator("#detail-leaf-hash").inner_text() == row.leaf_hash
    path = page.locator("#detail-path li").all_inner_texts()
    assert path == row.inclusion_path and len(path) == 6  # leaf 27 of a tree of 40
    assert "size 40" in page.locator("#detail-against").inner_text()
    assert page.locator("#detail-check").get_attribute("class") == "ok"
    assert "SHA-256(0x00 || entry)" in page.locator("#entry-detail").inner_text()
    # what the page shows is enough to check the entry: its bytes, the path and the signed root
    shown_root = bytes.fromhex(HEADS[1].root_hash)
    leaf = leaf_hash(page.locator("#detail-entry").inner_text().encode())
    assert verify_inclusion(leaf, 27, 40, [bytes.fromhex(h) for h in path], shown_root)
    page.click("#detail-close")
    assert not page.locator("#entry-detail").is_visible()
    page.locator("#runs details.run").first.locator("summary").click()
    page.locator('#runs a[data-leaf="16"]').click()
    assert page.locator("#detail-title").inner_text().startswith("Entry 16: released")
    assert errors == []
    page.close()


@pytest.mark.slow
def test_a_tampered_log_shows_the_failure(browser: Any, reports: dict[str, Path]) -> None:
    page, _requested, errors = _open(browser, reports["failed"])
    banner = page.locator("#verification")
    assert banner.is_visible()
    assert banner.get_attribute("data-ok") == "false"
    assert "Verification FAILED" in banner.inner_text() and FAILED.summary in banner.inner_text()
    assert page.evaluate("getComputedStyle(document.getElementById('verification')).borderColor") == "rgb(207, 34, 46)"
    failing = page.locator("#entries tbody tr.fails")
    assert failing.count() == 1
    assert failing.locator("td").first.inner_text() == str(TAMPERED_LEAF)
    failing.click()
    assert "FAILS" in page.locator("#detail-check").inner_text()
    assert errors == []
    page.close()
