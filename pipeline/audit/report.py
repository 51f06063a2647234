"""The auditor's view of the privacy log: one static HTML page (``index.html``) with the verification status at
the top, a summary, every entry with a one-line description and its inclusion proof, the runs, and the signed
tree heads.

The page is self-contained (inline CSS and a small script, no network, no external assets) and usable with tens
of thousands of entries: rows are rendered once and the filters (date range, purpose, kind) only toggle their
``hidden`` attribute; an entry's detail (its exact canonical JSON, leaf hash and inclusion path) is built on
click from data embedded as JSON, with ``textContent`` only.

Security properties:
    * Entries are data: every value is HTML-escaped, and the embedded JSON cannot close its script element.
    * Entries hold counts, names of things, dates and hashes, never a person; :func:`write_audit_report` still
      refuses an entry with a field named like a personal identifier (:data:`IDENTIFIER_FIELDS`) at any depth.
    * The page reports what ``migralink audit verify`` found when it was written; it is not evidence itself. An
      auditor re-checks with the log's public key, and can check any entry's proof with nothing but SHA-256.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import html
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privacy.audit.log import FORBIDDEN
from privacy.audit.merkle import verify_inclusion

IDENTIFIER_FIELDS = FORBIDDEN
"""Field names that would hold a person; an entry with one of them, at any depth, is refused."""

RUN_HIGHLIGHTS = frozenset(
    {
        "partitions_read",
        "quarantined",
        "columns_dropped",
        "linked",
        "review_decision",
        "released",
        "refused",
        "rekeyed",
        "key_rotated",
        "model_promoted",
        "model_kept",
        "retention_purged",
        "quality_gate",
        "run_failed",
    }
)
"""Kinds listed one by one under each run (the others are counted)."""

_ENVELOPE = ("v", "kind", "at", "run")
_SEPARATORS = re.compile(r"[\s.-]+")


@dataclass(frozen=True)
class AuditRow:
    """One log entry as the page shows it: the decoded entry, its leaf hash (hex), and its inclusion path (hex
    hashes) against the signed tree head of size ``proved_against`` (0: no signed head holds it yet)."""

    leaf_index: int
    entry: dict[str, object]
    leaf_hash: str
    inclusion_path: list[str]
    proved_against: int


@dataclass(frozen=True)
class HeadRow:
    """A signed tree head: root hash in hex, signature in base64, the signing key's id."""

    tree_size: int
    timestamp_ms: int
    root_hash: str
    signature: str
    key_id: str


@dataclass(frozen=True)
class Verification:
    """What ``migralink audit verify`` found: ``ok`` and the one line it prints."""

    ok: bool
    summary: str


def canonical_entry(entry: Mapping[str, object]) -> str:
    """The entry as the log stores it: JSON with sorted keys, no spaces (encoded as UTF-8 when hashed)."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def find_identifier_field(value: object) -> str | None:
    """The first field name (at any depth) that is named like a personal identifier, or None."""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if _SEPARATORS.sub("_", str(key).strip().lower()) in IDENTIFIER_FIELDS:
                return str(key)
            found = find_identifier_field(inner)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for inner in value:
            found = find_identifier_field(inner)
            if found is not None:
                return found
    return None


# -- one line per entry ---------------------------------------------------------------------------------------


def _n(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _count(value: object, singular: str, plural: str | None = None) -> str:
    word = singular if value == 1 else (plural or singular + "s")
    return f"{_n(value)} {word}"


def _listed(items: Sequence[object], most: int = 6) -> str:
    shown = ", ".join(str(i) for i in items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")


def _run_started(e: Mapping[str, Any]) -> str:
    dag = f" (DAG run {e['dag_run_id']})" if e.get("dag_run_id") else ""
    day = f" for {e['run_date']}" if e.get("run_date") else ""
    return f"started {e['command']}{day}{dag}: code {e['code_version']}, register {e['register_version']}"


def _partitions_read(e: Mapping[str, Any]) -> str:
    first, last = e.get("first"), e.get("last")
    span = "" if not first else f" ({first})" if first == last or not last else f" ({first} to {last})"
    return f"read {_count(e['partitions'], e['source'] + ' partition')}, {_count(e['rows'], 'row')}{span}"


def _quarantined(e: Mapping[str, Any]) -> str:
    reasons = sorted(e["reasons"].items(), key=lambda item: (-item[1], item[0]))
    rows = e.get("rows", sum(count for _reason, count in reasons))
    why = _listed([f"{_n(count)} {reason}" for reason, count in reasons], 4)
    return f"quarantined {_count(rows, str(e['source']) + ' row')}: {why}"


def _linked(e: Mapping[str, Any]) -> str:
    mode = f", {e['mode']}" if e.get("mode") else ""
    return (
        f"linked {_count(e['records'], 'record')} into {_count(e['persons'], 'person')} (model v{e['model_version']}"
        f"{mode}): {_n(e['merged_keys'])} merged, {_n(e['split_keys'])} split, {_n(e['review_queued'])} queued "
        "for review"
    )


def _statistics(e: Mapping[str, Any]) -> str:
    rows = e["rows"]
    if isinstance(rows, Mapping):
        parts = ", ".join(f"{name} {_n(count)}" for name, count in rows.items())
        rows_text = f"{_count(sum(rows.values()), 'row')} ({parts})"
    else:
        rows_text = _count(rows, "row")
    revised = f", {_count(e['revisions'], 'revision')}" if e.get("revisions") else ""
    return f"computed statistics, vintage {e['vintage']}: {rows_text}{revised}"


def _released(e: Mapping[str, Any]) -> str:
    methods = e.get("methods", e.get("method"))
    how = ", ".join(methods) if isinstance(methods, list) else str(methods)
    budget = f", budget spent {e['budget_spent']}" if e.get("budget_spent") is not None else ""
    off = ", off calendar" if e.get("off_calendar") else ""
    return f"released {e['purpose']}: {_count(len(e['tables']), 'table')} ({how}){budget}{off}"


def _refused(e: Mapping[str, Any]) -> str:
    asked = f" (asked: {e['asked']})" if e.get("asked") else ""
    return f"refused {e['purpose']}: {e['reason']}{asked}"


def _quality_gate(e: Mapping[str, Any]) -> str:
    failing = f", {_n(e['failing'])} failing" if e.get("failing") else ""
    accepted = f", accepted by {e['accepted_by']}" if e.get("accepted_by") else ""
    return f"quality gate {e['suite']}: {e['result']}{failing}{accepted}"


def _retention(e: Mapping[str, Any]) -> str:
    size = f", {_n(e['bytes'])} bytes" if "bytes" in e else ""
    action = f" ({e['action']})" if e.get("action") else ""
    what = f" {e['what']}:" if e.get("what") else ""
    return f"purged{what} {_count(e['partitions'], 'partition')}, {_count(e['files'], 'file')}{size}{action}"


_DESCRIBE: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "run_started": _run_started,
    "run_finished": lambda e: f"finished {e.get('command') or 'run'}: {e['status']}",
    "run_failed": lambda e: f"{e['command']} failed for {e['run_date']}: {e['reason']}",
    "partitions_read": _partitions_read,
    "quarantined": _quarantined,
    "columns_dropped": lambda e: (
        f"dropped {_count(len(e['columns']), 'column')} (register {e['register_version']}): {_listed(e['columns'])}"
    ),
    "pseudonymized": lambda e: (
        f"pseudonymized {_count(e['records'], (e['source'] + ' record') if e.get('source') else 'record')} with key "
        f"version {e['key_version']} (key {str(e['key_id'])[:8]})"
    ),
    "linked": _linked,
    "model_trained": lambda e: f"trained linkage model v{e['model_version']} on {_count(e['records'], 'record')}",
    "review_decision": lambda e: f"review: {e['decision']} on {_count(e['pairs'], 'pair')} by {e['reviewer']}",
    "model_promoted": lambda e: (
        f"promoted linkage model v{e['model_version']}"
        + (f" over v{e['previous_version']}" if e.get("previous_version") is not None else "")
        + f" ({e['decided_by']}"
        + (", forced despite: " + _listed(e["failed"]) if e.get("forced") else "")
        + ")"
    ),
    "model_kept": lambda e: (
        f"kept linkage model v{e['model_version']}, candidate v{e['candidate_version']} refused "
        f"({e['decided_by']}): {_listed(e['failed'])}"
    ),
    "histories_built": lambda e: (
        f"built histories, vintage {e['vintage']} (cut-off {e['cutoff']}): {_count(e['persons'], 'person')}, "
        f"{_count(e['crossings'], 'crossing')}"
    ),
    "statistics_computed": _statistics,
    "released": _released,
    "refused": _refused,
    "key_registered": lambda e: f"registered key version {e['key_version']} (key {str(e['key_id'])[:8]})",
    "rekeyed": lambda e: (
        f"re-keyed {_count(e['records'], 'record')} from key version {e['from_version']} to {e['to_version']}"
    ),
    "key_rotated": lambda e: (
        f"rotated the key from version {e['from_version']} to {e['to_version']} ({_count(e['records'], 'record')})"
    ),
    "key_retired": lambda e: f"retired key version {e['key_version']}",
    "key_refused": lambda e: f"key refused: {e['reason']}",
    "retention_purged": _retention,
    "reprocessed": lambda e: (
        f"reprocessed {e['source']} partition {e['partition_date']}: {_n(e['records_before'])} → "
        f"{_n(e['records_after'])} records"
    ),
    "quality_gate": _quality_gate,
}


def describe_entry(entry: Mapping[str, Any]) -> str:
    """One line saying what the entry records, e.g. ``read 31 border partitions, 609 rows``; an unknown kind or
    unexpected fields fall back to the fields themselves."""
    describe = _DESCRIBE.get(str(entry.get("kind")))
    if describe is not None:
        try:
            return describe(entry)
        except (KeyError, TypeError, ValueError, AttributeError):
            pass
    fields = ", ".join(
        f"{key} {value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}"
        for key, value in sorted(entry.items())
        if key not in _ENVELOPE
    )
    return fields if len(fields) <= 200 else fields[:199] + "…"


# -- the page -------------------------------------------------------------------------------------------------


def _text(value: object) -> str:
    return html.escape(str(value))


def _str(entry: Mapping[str, object], key: str) -> str:
    value = entry.get(key)
    return value if isinstance(value, str) else ""


def _utc(timestamp_ms: int) -> str:
    return dt.datetime.fromtimestamp(timestamp_ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _proof_status(row: AuditRow, canonical: str, roots: Mapping[int, str]) -> str:
    """``ok``, ``unsigned`` (no signed head holds the entry yet) or ``fails``: checked as an auditor would."""
    recomputed = hashlib.sha256(b"\x00" + canonical.encode("utf-8")).hexdigest()
    if not hmac.compare_digest(recomputed, row.leaf_hash.lower()):
        return "fails"
    if row.proved_against <= 0:
        return "unsigned"
    try:
        path = [bytes.fromhex(p) for p in row.inclusion_path]
        leaf, root = bytes.fromhex(row.leaf_hash), bytes.fromhex(roots[row.proved_against])
    except (ValueError, KeyError):
        return "fails"
    return "ok" if verify_inclusion(leaf, row.leaf_index, row.proved_against, path, root) else "fails"


_PROOF_WORDS = {"ok": "✓", "unsigned": "not signed yet", "fails": "✗ fails"}


def _banner(verification: Verification) -> str:
    state, title = ("ok", "Log verified") if verification.ok else ("failed", "Verification FAILED")
    return (
        f'<section id="verification" class="banner {state}" data-ok="{str(verification.ok).lower()}" role="status">'
        f'<strong>{title}</strong> <span class="summary">{_text(verification.summary)}</span>'
        '<p class="note">What <code>migralink audit verify</code> found when this page was written. The page is '
        "not evidence itself: verify the warehouse again with the public key you keep.</p></section>"
    )


def _table(caption: str, headers: Sequence[str], rows: Sequence[Sequence[object]], empty: str) -> str:
    head = f"<thead><tr>{''.join(f'<th>{_text(h)}</th>' for h in headers)}</tr></thead>" if headers else ""
    body = "".join("<tr>" + "".join(f"<td>{_text(_n(c))}</td>" for c in row) + "</tr>" for row in rows)
    body = body or f'<tr><td colspan="{max(len(headers), 1)}">{_text(empty)}</td></tr>'
    return f"<table><caption>{_text(caption)}</caption>{head}<tbody>{body}</tbody></table>"


def _summary(rows: Sequence[AuditRow], heads: Sequence[HeadRow], proofs: Counter[str]) -> str:
    kinds = Counter(_str(r.entry, "kind") for r in rows)
    released = Counter(_str(r.entry, "purpose") for r in rows if r.entry.get("kind") == "released")
    refused = Counter(_str(r.entry, "purpose") for r in rows if r.entry.get("kind") == "refused")
    times = sorted(t for r in rows if (t := _str(r.entry, "at")))
    runs = {_str(r.entry, "run") for r in rows}
    overview = [
        ("entries", len(rows)),
        ("runs", len(runs)),
        ("first entry", times[0] if times else "none"),
        ("last entry", times[-1] if times else "none"),
        ("releases", sum(released.values())),
        ("refusals", sum(refused.values())),
        ("signed tree heads", len(heads)),
        ("largest signed tree", max((h.tree_size for h in heads), default=0)),
        ("proofs checked on this page", f"{proofs['ok']:,} fold to their signed root"),
        ("proofs that fail", proofs["fails"]),
        ("entries not signed yet", proofs["unsigned"]),
    ]
    purposes = sorted(set(released) | set(refused))
    return (
        '<section id="summary"><h2>Summary</h2><div class="cards">'
        + _table("The log", (), overview, "")
        + _table("Entries per kind", ("kind", "entries"), sorted(kinds.items()), "no entries")
        + _table(
            "Releases and refusals per purpose",
            ("purpose", "released", "refused"),
            [(p, released[p], refused[p]) for p in purposes],
            "no release and no refusal",
        )
        + "</div></section>"
    )


def _entry_rows(rows: Sequence[AuditRow], descriptions: Sequence[str], proofs: Sequence[str]) -> str:
    out = []
    for i, (row, description, proof) in enumerate(zip(rows, descriptions, proofs, strict=True)):
        e = row.entry
        at, kind, run, purpose = _str(e, "at"), _str(e, "kind"), _str(e, "run"), _str(e, "purpose")
        flag = "" if proof == "ok" else f' class="{proof}"'
        out.append(
            f'<tr data-i="{i}" data-day="{_text(at[:10])}" data-kind="{_text(kind)}" data-purpose="{_text(purpose)}"'
            f'{flag}><td><button type="button">{row.leaf_index}</button></td><td>{_text(at[:19].replace("T", " "))}'
            f"</td><td>{_text(kind)}</td><td><code>{_text(run[:8])}</code></td><td>{_text(purpose)}</td>"
            f"<td>{_text(description)}</td><td>{_PROOF_WORDS[proof]}</td></tr>"
        )
    return "".join(out)


def _options(label: str, counts: Counter[str]) -> str:
    options = "".join(f'<option value="{_text(v)}">{_text(v)} ({n:,})</option>' for v, n in sorted(counts.items()))
    return f'<option value="">{label}</option>{options}'


def _entries(rows: Sequence[AuditRow], descriptions: Sequence[str], proofs: Sequence[str]) -> str:
    days = sorted(d for r in rows if (d := _str(r.entry, "at")[:10]))
    bounds = f' min="{_text(days[0])}" max="{_text(days[-1])}"' if days else ""
    purposes = Counter(p for r in rows if (p := _str(r.entry, "purpose")))
    kinds = Counter(_str(r.entry, "kind") for r in rows)
    return f"""<section id="log"><h2>Entries</h2>
<div class="filters" role="search">
<label>from (UTC) <input type="date" id="filter-from"{bounds}></label>
<label>to (UTC) <input type="date" id="filter-to"{bounds}></label>
<label>purpose <select id="filter-purpose">{_options("every purpose", purposes)}</select></label>
<label>kind <select id="filter-kind">{_options("every kind", kinds)}</select></label>
<button type="button" id="filter-reset">show all</button>
<span><strong id="shown-count">{len(rows):,}</strong> of {len(rows):,} entries shown</span></div>
<p class="hint">Click an entry for its exact bytes and its inclusion proof.</p>
<table id="entries"><colgroup><col class="leaf"><col class="time"><col class="kind"><col class="run">
<col class="purpose"><col><col class="proof"></colgroup>
<thead><tr><th>leaf</th><th>time (UTC)</th><th>kind</th><th>run</th><th>purpose</th>
<th>what happened</th><th title="the inclusion path folds to the signed root">proof</th></tr></thead>
<tbody>{_entry_rows(rows, descriptions, proofs)}</tbody></table></section>"""


def _runs(rows: Sequence[AuditRow], descriptions: Sequence[str]) -> str:
    grouped: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        grouped.setdefault(_str(row.entry, "run"), []).append(i)
    parts = []
    for run, members in grouped.items():
        entries = [rows[i].entry for i in members]
        started = next((e for e in entries if e.get("kind") == "run_started"), {})
        ended = next((e for e in reversed(entries) if e.get("kind") in ("run_finished", "run_failed")), {})
        status = "failed" if ended.get("kind") == "run_failed" else _str(ended, "status") or "unfinished"
        times = [t for e in entries if (t := _str(e, "at"))]
        when = f"{times[0][:19].replace('T', ' ')} to {times[-1][11:19]}" if times else ""
        what = _str(started, "command") + (f" for {_str(started, 'run_date')}" if started.get("run_date") else "")
        what += f" (DAG run {_str(started, 'dag_run_id')})" if started.get("dag_run_id") else ""
        items = "".join(
            f'<li><a href="#leaf-{rows[i].leaf_index}" data-leaf="{rows[i].leaf_index}">#{rows[i].leaf_index}</a> '
            f"{_text(descriptions[i])}</li>"
            for i in members
            if rows[i].entry.get("kind") in RUN_HIGHLIGHTS
        )
        others = Counter(_str(e, "kind") for e in entries if e.get("kind") not in RUN_HIGHLIGHTS)
        also = ", ".join(f"{n} {kind}" for kind, n in sorted(others.items()))
        parts.append(
            f'<details class="run"><summary><code title="{_text(run)}">{_text(run[:8])}</code> {_text(what)} '
            f'· {_text(when)} · <span class="status {"ok" if status == "success" else "bad"}">{_text(status)}</span>'
            f" · {_count(len(members), 'entry', 'entries')}</summary><ul>{items}</ul>"
            f'<p class="also">also: {_text(also or "nothing else")}</p></details>'
        )
    return f'<section id="runs"><h2>Runs</h2>{"".join(parts) or "<p>No runs.</p>"}</section>'


def _heads(heads: Sequence[HeadRow]) -> str:
    body = "".join(
        f"<tr><td>{h.tree_size:,}</td><td>{_utc(h.timestamp_ms)}</td><td><code>{_text(h.root_hash)}</code></td>"
        f'<td><code title="{_text(h.key_id)}">{_text(h.key_id[:16])}</code></td>'
        f'<td><code class="sig">{_text(h.signature)}</code></td></tr>'
        for h in heads
    )
    body = body or '<tr><td colspan="5">no signed tree head yet</td></tr>'
    return f"""<section id="heads"><h2>Signed tree heads</h2>
<p>Each head signs (Ed25519, RFC 6962 §3.5) a tree size, a time and the root hash of the first that many entries.</p>
<table id="tree-heads"><thead><tr><th>tree size</th><th>signed at</th><th>root hash</th><th>key</th>
<th>signature (base64)</th></tr></thead><tbody>{body}</tbody></table></section>"""


def _data(rows: Sequence[AuditRow], canonicals: Sequence[str], heads: Sequence[HeadRow], proofs: Sequence[str]) -> str:
    """The entries' bytes and proofs for the detail view; a hash shared by many paths is stored once."""
    nodes: dict[str, int] = {}
    doc = {
        "entries": [
            [
                r.leaf_index,
                c,
                r.leaf_hash,
                [nodes.setdefault(h, len(nodes)) for h in r.inclusion_path],
                r.proved_against,
                p,
            ]
            for r, c, p in zip(rows, canonicals, proofs, strict=True)
        ],
        "nodes": list(nodes),
        "heads": {str(h.tree_size): [h.root_hash, _utc(h.timestamp_ms)] for h in heads},
    }
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def write_audit_report(
    entries: Sequence[AuditRow],
    heads: Sequence[HeadRow],
    verification: Verification,
    out_dir: Path,
    *,
    written_at: dt.datetime | None = None,
) -> Path:
    """Write the auditor's view of the privacy log to ``out_dir/index.html`` and return its path.

    Args:
        entries: every entry with its leaf hash and inclusion proof.
        heads: the signed tree heads, smallest tree first.
        verification: what ``migralink audit verify`` found; shown at the top, green or red.
        out_dir: the directory to write to (made if missing).
        written_at: the time to state on the page (default: now).

    Returns:
        The path of the page.

    Raises:
        ValueError: an entry holds a field named like a personal identifier (the page is never written).

    Examples:
        >>> from pipeline.audit.report import Verification, write_audit_report
        >>> write_audit_report([], [], Verification(True, "intact: 0 entries"), out_dir)  # doctest: +SKIP
    """
    rows = sorted(entries, key=lambda r: r.leaf_index)
    for row in rows:
        found = find_identifier_field(row.entry)
        if found is not None:
            raise ValueError(
                f"the audit entry at leaf {row.leaf_index} has a field named like a personal identifier ({found}); "
                "the auditor's view is not written"
            )
    roots = {h.tree_size: h.root_hash for h in heads}
    canonicals = [canonical_entry(r.entry) for r in rows]
    descriptions = [describe_entry(r.entry) for r in rows]
    proofs = [_proof_status(r, c, roots) for r, c in zip(rows, canonicals, strict=True)]
    heads = sorted(heads, key=lambda h: h.tree_size)
    stamp = (written_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Privacy log: auditor's view</title><style>{_CSS}</style></head><body>
<header><h1>Privacy log: auditor's view</h1><p class="meta">Written {stamp}: {_count(len(rows), "entry", "entries")},
{_count(len(heads), "signed tree head")}. Entries hold counts, names of things, dates and hashes, never a person.</p>
</header>
{_banner(verification)}
<nav><a href="#summary">Summary</a> <a href="#log">Entries</a> <a href="#runs">Runs</a>
<a href="#heads">Signed tree heads</a></nav>
{_summary(rows, heads, Counter(proofs))}
{_entries(rows, descriptions, proofs)}
{_runs(rows, descriptions)}
{_heads(heads)}
{_DIALOG}
<script type="application/json" id="entry-data">{_data(rows, canonicals, heads, proofs)}</script>
<script>{_JS}</script>
</body></html>
"""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    partial = out_dir / ".index.html.partial"
    partial.write_text(page, encoding="utf-8")
    partial.replace(path)
    return path


_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1300px;padding:0 1em;color:#1f2328}
h1{margin-bottom:.2em} .meta,.hint,.note,.also{color:#57606a;font-size:.9em}
code,pre{font-family:ui-monospace,monospace;font-size:.85em} [hidden]{display:none!important}
.banner{border:2px solid;border-radius:6px;padding:.8em 1em;margin:1em 0;font-size:1.1em}
.banner.ok{background:#dafbe1;border-color:#1a7f37;color:#0f5323}
.banner.failed{background:#ffebe9;border-color:#cf222e;color:#82071e}
.banner strong{font-size:1.2em;margin-right:.5em} .banner .note{margin:.4em 0 0}
nav a{margin-right:1em} .cards{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}
table{border-collapse:collapse} #entries{table-layout:fixed;width:100%}
col.leaf{width:5em} col.time{width:11.5em} col.kind{width:10em} col.run{width:6em} col.purpose{width:15em}
col.proof{width:8em} #entries td{overflow-wrap:anywhere} #entries td:nth-child(2){white-space:nowrap}
#runs,#heads{content-visibility:auto} caption{text-align:left;font-weight:600;padding:.3em 0}
th,td{padding:3px 10px;border-bottom:1px solid #d0d7de;text-align:left;vertical-align:top}
thead th{position:sticky;top:0;background:#f6f8fa}
#entries tbody tr{cursor:pointer} #entries tbody tr:hover{background:#f6f8fa}
#entries tr.fails{background:#ffebe9} #entries button{font:inherit;cursor:pointer}
.filters{display:flex;flex-wrap:wrap;gap:1em;align-items:center;background:#f6f8fa;padding:.6em;border-radius:6px}
details.run{border-bottom:1px solid #d0d7de;padding:.3em 0} .status.ok{color:#1a7f37} .status.bad{color:#cf222e}
.sig{word-break:break-all;font-size:.75em} #tree-heads code{word-break:break-all}
dialog{max-width:min(960px,95vw);border:1px solid #d0d7de;border-radius:8px}
dialog pre{white-space:pre-wrap;word-break:break-all;background:#f6f8fa;padding:.6em}
dialog ol{font-family:ui-monospace,monospace;font-size:.85em;word-break:break-all}
#detail-check.ok{color:#1a7f37} #detail-check.fails{color:#cf222e;font-weight:600}
"""

_DIALOG = """<dialog id="entry-detail" aria-labelledby="detail-title">
<form method="dialog"><button id="detail-close" aria-label="close">close</button></form>
<h2 id="detail-title"></h2>
<h3>Entry: canonical JSON, the exact bytes hashed (UTF-8)</h3><pre id="detail-entry"></pre>
<h3>Leaf hash</h3><code id="detail-leaf-hash"></code>
<h3>Inclusion path</h3><p id="detail-against"></p><ol id="detail-path" start="0"></ol>
<p id="detail-check"></p>
<p class="note">To check it yourself (RFC 6962 §2.1.1): hash the entry's bytes as SHA-256(0x00 || entry), which must
equal the leaf hash; fold the path in order with SHA-256(0x01 || left || right), the leaf index and the tree size
telling at each step whether the path's hash is on the left or the right (RFC 9162 §2.1.3.2); the result must equal
the root hash of the signed tree head of that size, whose Ed25519 signature you check with the log's public key.
<code id="detail-command"></code> prints the same proof from the warehouse.</p>
</dialog>"""

_JS = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("entry-data").textContent);
  var rows = Array.prototype.slice.call(document.querySelectorAll("#entries tbody tr"));
  var from = document.getElementById("filter-from"), to = document.getElementById("filter-to");
  var purpose = document.getElementById("filter-purpose"), kind = document.getElementById("filter-kind");
  var shown = document.getElementById("shown-count"), dialog = document.getElementById("entry-detail");
  var byLeaf = {};
  data.entries.forEach(function (e, i) { byLeaf[e[0]] = i; });

  function apply() {
    var f = from.value, t = to.value, p = purpose.value, k = kind.value, n = 0;
    for (var i = 0; i < rows.length; i++) {
      var d = rows[i].dataset;
      var show = (!f || d.day >= f) && (!t || d.day <= t) && (!p || d.purpose === p) && (!k || d.kind === k);
      rows[i].hidden = !show;
      if (show) { n++; }
    }
    shown.textContent = n.toLocaleString("en");
  }
  [from, to, purpose, kind].forEach(function (el) {
    el.addEventListener("change", apply);
    el.addEventListener("input", apply);
  });
  document.getElementById("filter-reset").addEventListener("click", function () {
    from.value = ""; to.value = ""; purpose.value = ""; kind.value = ""; apply();
  });

  function set(id, text) { document.getElementById(id).textContent = text; }
  function open(i) {
    var e = data.entries[i];
    if (!e) { return; }
    var leaf = e[0], size = e[4], head = data.heads[String(size)], status = e[5];
    var entry = JSON.parse(e[1]);
    set("detail-title", "Entry " + leaf + ": " + entry.kind + " at " + entry.at);
    set("detail-entry", e[1]);
    set("detail-leaf-hash", e[2]);
    var list = document.getElementById("detail-path");
    list.textContent = "";
    e[3].forEach(function (n) {
      var li = document.createElement("li");
      li.textContent = data.nodes[n];
      list.appendChild(li);
    });
    set("detail-against", size > 0
      ? "Against the signed tree head of size " + size.toLocaleString("en") + (head ? " (signed " + head[1] +
        ", root hash " + head[0] + ")" : " (not in this page's list of heads)") + ": " + e[3].length + " hashes."
      : "No signed tree head holds this entry yet: there is no proof until the log is sealed again.");
    var check = document.getElementById("detail-check");
    check.className = status;
    check.textContent = {
      ok: "Checked when this page was written: the entry hashes to its leaf hash and the path folds to the " +
        "signed root.",
      unsigned: "The entry hashes to its leaf hash; it is not under a signed tree head yet.",
      fails: "Checked when this page was written: this proof FAILS (the entry, its leaf hash or the path does not " +
        "lead to the signed root)."
    }[status] || "";
    set("detail-command", "migralink audit prove --entry " + leaf);
    if (!dialog.open) { dialog.showModal(); }
  }
  document.querySelector("#entries tbody").addEventListener("click", function (ev) {
    var tr = ev.target.closest("tr");
    if (tr) { open(Number(tr.dataset.i)); }
  });
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest("a[data-leaf]");
    if (a) { ev.preventDefault(); open(byLeaf[a.dataset.leaf]); }
  });
  var m = /^#leaf-(\\d+)$/.exec(location.hash);
  if (m && m[1] in byLeaf) { open(byLeaf[m[1]]); }
  apply();
})();
"""
