"""The privacy log in the warehouse: append-only entries as the leaves of an RFC 6962 Merkle tree, with signed
tree heads.

* ``audit_log``: one row per entry (``leaf_index`` from 0, the exact ``entry`` bytes, ``leaf_hash`` =
  SHA-256(0x00 || entry)). An entry is canonical JSON (UTF-8, sorted keys, no spaces) of ``v`` (the entry schema
  version), ``kind``, ``at`` (UTC, milliseconds), ``run`` (the command's or DAG run's id) and the fields of its
  kind (:data:`KINDS`). Entries hold counts, names of things, dates and hashes: a field is accepted only when its
  kind declares it, and names that could hold a person (:data:`FORBIDDEN`) are refused at any depth.
* ``audit_heads``: signed tree heads (tree size, timestamp in ms, root hash, Ed25519 signature over the RFC 6962
  §3.5 ``TreeHeadSignature``, the signing key's id).
* ``audit_state``: the compact Merkle frontier after the last entry, so appending costs O(log n).

:func:`append` writes inside the caller's transaction: a step that rolls back leaves no entry. :func:`seal` signs
the current tree when it has grown. :func:`verify` recomputes everything from the entries and the public key.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import datetime as dt
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from privacy.audit.heads import TreeHead, key_id, sign_tree_head, verify_tree_head
from privacy.audit.merkle import (
    AuditError,
    Frontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
)
from privacy.schema import Component, Migration

LOG_TABLE, HEADS_TABLE, STATE_TABLE = "audit_log", "audit_heads", "audit_state"
SCHEMA_VERSION = 1

AUDIT = Component(
    name="audit",
    tables=(LOG_TABLE, HEADS_TABLE, STATE_TABLE),
    migrations=(
        Migration(
            1,
            "the privacy log: entries (Merkle leaves), signed tree heads, the frontier",
            (
                f"""CREATE TABLE IF NOT EXISTS {LOG_TABLE} (
                    leaf_index BIGINT PRIMARY KEY, entry BLOB NOT NULL, leaf_hash BLOB NOT NULL,
                    appended_at TIMESTAMP NOT NULL)""",
                f"""CREATE TABLE IF NOT EXISTS {HEADS_TABLE} (
                    tree_size BIGINT NOT NULL, timestamp_ms BIGINT NOT NULL, root_hash BLOB NOT NULL,
                    signature BLOB NOT NULL, key_id VARCHAR NOT NULL)""",
                f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (tree_size BIGINT NOT NULL, frontier JSON NOT NULL)",
            ),
        ),
    ),
)

# Each kind and its fields (besides v, kind, at, run). Types: int, str, bool, date (ISO), list (of str),
# counts (str -> int), hashes (str -> hex), json (a flat object of str/int/float/bool/None: method parameters).
KINDS: dict[str, dict[str, str]] = {
    "run_started": {
        "command": "str",
        "dag_run_id": "str?",
        "code_version": "str",
        "config_sha256": "str",
        "register_version": "str",
        "register_sha256": "str",
        "run_date": "date?",
    },
    "run_finished": {"command": "str", "status": "str"},
    "run_failed": {"command": "str", "reason": "str", "run_date": "date"},
    "partitions_read": {
        "source": "str",
        "partitions": "int",
        "rows": "int",
        "files": "int",
        "first": "date",
        "last": "date",
    },
    "quarantined": {"source": "str", "rows": "int", "reasons": "counts"},
    "columns_dropped": {"columns": "list", "register_version": "str"},
    "pseudonymized": {"source": "str", "key_id": "str", "key_version": "int", "records": "int"},
    "linked": {
        "night": "date",
        "mode": "str",
        "model_version": "int",
        "records": "int",
        "persons": "int",
        "new_persons": "int",
        "merged_keys": "int",
        "split_keys": "int",
        "review_queued": "int",
    },
    "model_trained": {"model_version": "int", "records": "int", "status": "str?"},
    # A candidate model promoted (it becomes the current model) or refused (the current model kept): the rules it
    # failed, whether an operator forced it and gave a reason (the reason itself is in linkage_model_promotions),
    # and the comparison's figures (counts of decisions, records and persons; never a record or a pseudonym).
    "model_promoted": {
        "model_version": "int",
        "previous_version": "int?",
        "decided_by": "str",
        "forced": "bool",
        "reason_given": "bool",
        "failed": "list",
        "figures": "counts",
    },
    "model_kept": {
        "model_version": "int",
        "candidate_version": "int",
        "decided_by": "str",
        "failed": "list",
        "figures": "counts",
    },
    "review_decision": {"decision": "str", "pairs": "int", "reviewer": "str", "reason_given": "bool"},
    "histories_built": {
        "vintage": "date",
        "cutoff": "date",
        "mode": "str",
        "persons": "int",
        "crossings": "int",
        "pending": "int",
    },
    "statistics_computed": {"vintage": "date", "rows": "counts", "revisions": "int"},
    "released": {
        "purpose": "str",
        "audience": "str",
        "release_date": "date",
        "tables": "list",
        "methods": "list",
        "parameters_sha256": "str",
        "budget_spent": "str?",
        "off_calendar": "bool",
        "register_version": "str",
        "files": "hashes",
    },
    "refused": {"purpose": "str", "asked": "str", "reason": "str"},
    "key_registered": {"key_id": "str", "key_version": "int"},
    "rekeyed": {"from_version": "int", "to_version": "int", "records": "int"},
    "key_retired": {"key_version": "int"},
    "key_refused": {"reason": "str"},
    "retention_purged": {"what": "str", "partitions": "int", "files": "int", "bytes": "int", "action": "str"},
    "reprocessed": {"source": "str", "partition_date": "date", "records_before": "int", "records_after": "int"},
    "quality_gate": {"suite": "str", "result": "str", "failing": "int", "accepted_by": "str?"},
}
FORBIDDEN = frozenset(
    {
        "family_name",
        "given_names",
        "date_of_birth",
        "doc_number",
        "person_key",
        "record_id",
        "unique_id",
        "visa_number",
        "permit_number",
        "birth_date",
    }
)

_RUN: contextvars.ContextVar[str] = contextvars.ContextVar("migralink_audit_run", default="")


@contextlib.contextmanager
def run_context(run_id: str | None = None) -> Iterator[str]:
    """Entries appended inside the block carry ``run_id`` (a new random id by default) as their ``run``."""
    token = _RUN.set(run_id or uuid.uuid4().hex)
    try:
        yield _RUN.get()
    finally:
        _RUN.reset(token)


def current_run() -> str:
    """The run id entries are appended under (one per process when no :func:`run_context` is open)."""
    if not _RUN.get():
        _RUN.set(uuid.uuid4().hex)
    return _RUN.get()


def canonical(obj: Mapping[str, Any]) -> bytes:
    """The exact bytes of an entry: JSON with sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _check(kind: str, fields: Mapping[str, Any]) -> None:
    if {"v", "kind", "at", "run"} & set(fields):
        raise AuditError(f"audit entry {kind}: v, kind, at and run are set by the log, not by a field")
    declared = KINDS.get(kind)
    if declared is None:
        raise AuditError(f"unknown audit entry kind {kind!r}")
    for name, value in fields.items():
        if name not in declared:
            raise AuditError(f"audit entry {kind} has no field {name!r}")
        _check_value(kind, name, declared[name], value)
    missing = [n for n, t in declared.items() if n not in fields and not t.endswith("?")]
    if missing:
        raise AuditError(f"audit entry {kind} needs {', '.join(missing)}")


def _check_value(kind: str, name: str, declared: str, value: Any) -> None:
    kind_of = declared.rstrip("?")
    if value is None and declared.endswith("?"):
        return
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "date": isinstance(value, str) and len(value) == 10,
        "list": isinstance(value, list) and all(isinstance(v, str) for v in value),
        "counts": isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, int) for k, v in value.items()),
        "hashes": isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()),
    }[kind_of]
    if not ok:
        raise AuditError(f"audit entry {kind}: field {name} must be {kind_of}")
    if isinstance(value, dict) and FORBIDDEN & set(value):
        raise AuditError(f"audit entry {kind}: field {name} names a personal identifier")


def _state(con: duckdb.DuckDBPyConnection) -> Frontier:
    row = con.execute(f"SELECT frontier FROM {STATE_TABLE}").fetchall()
    return Frontier.from_json(row[0][0]) if row else Frontier()


def append(con: duckdb.DuckDBPyConnection, kind: str, /, **fields: Any) -> int:
    """Append one entry of ``kind`` (inside the caller's transaction) and return its leaf index.

    Raises:
        AuditError: an unknown kind, a field the kind does not declare or of the wrong type, a missing field.
    """
    _check(kind, fields)
    now = dt.datetime.now(dt.UTC)
    entry = canonical(
        {
            "v": SCHEMA_VERSION,
            "kind": kind,
            "at": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
            "run": current_run(),
            **fields,
        }
    )
    frontier = _state(con)
    index = frontier.size
    digest = leaf_hash(entry)
    frontier.append(digest)
    con.execute(f"INSERT INTO {LOG_TABLE} VALUES (?, ?, ?, ?)", [index, entry, digest, now.replace(tzinfo=None)])
    con.execute(f"DELETE FROM {STATE_TABLE}")
    con.execute(f"INSERT INTO {STATE_TABLE} VALUES (?, ?)", [frontier.size, frontier.to_json()])
    return index


def seal(con: duckdb.DuckDBPyConnection, private_key: Any, *, now_ms: int | None = None) -> TreeHead | None:
    """Sign the current tree and store the head (inside the caller's transaction), unless it has not grown since
    the last head; return the new head or None."""
    frontier = _state(con)
    last = con.execute(f"SELECT max(tree_size) FROM {HEADS_TABLE}").fetchall()[0][0]
    if frontier.size == 0 or (last is not None and frontier.size <= last):
        return None
    stamp = now_ms if now_ms is not None else int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    head = sign_tree_head(private_key, frontier.size, stamp, frontier.root())
    con.execute(
        f"INSERT INTO {HEADS_TABLE} VALUES (?, ?, ?, ?, ?)",
        [head.tree_size, head.timestamp_ms, head.root_hash, head.signature, head.key_id],
    )
    return head


def heads(con: duckdb.DuckDBPyConnection) -> list[TreeHead]:
    """The stored signed tree heads, smallest tree first."""
    rows = con.execute(
        f"SELECT tree_size, timestamp_ms, root_hash, signature, key_id FROM {HEADS_TABLE} ORDER BY tree_size"
    ).fetchall()
    return [TreeHead(int(s), int(t), bytes(r), bytes(g), str(k)) for s, t, r, g, k in rows]


def signing_key_of_log(con: duckdb.DuckDBPyConnection) -> str | None:
    """The key id that signed the log's last head, or None before the first head."""
    row = con.execute(f"SELECT key_id FROM {HEADS_TABLE} ORDER BY tree_size DESC LIMIT 1").fetchall()
    return str(row[0][0]) if row else None


@dataclass(frozen=True)
class Verification:
    """The outcome of :func:`verify`: ``ok`` and the one line to print."""

    ok: bool
    summary: str
    entries: int = 0
    heads: int = 0


def verify(con: duckdb.DuckDBPyConnection, public_key: Any, exported: Sequence[TreeHead] = ()) -> Verification:
    """Recompute the tree from the stored entries and check it against every signed head.

    Checks, in order, and names the first failure: leaf indices run 0..n-1 without a gap; each stored leaf hash
    is SHA-256(0x00 || its entry); each head is signed by ``public_key`` over its size, time and root; the root of
    the first ``tree_size`` entries equals each head's root (so successive heads are consistent); heads exported
    earlier (``exported``) are signed by the same key and match the log, and none is larger than the log.
    """
    wanted = key_id(public_key)
    stored = heads(con)
    checks = sorted({*(h.tree_size for h in stored), *(h.tree_size for h in exported)})
    by_size: dict[int, list[tuple[str, TreeHead]]] = {}
    for where, group in (("stored", stored), ("exported", exported)):
        for head in group:
            if not verify_tree_head(public_key, head):
                reason = "is signed by another key" if head.key_id != wanted else "has a signature that does not verify"
                return Verification(False, f"FAILED: the {where} tree head of size {head.tree_size} {reason}")
            by_size.setdefault(head.tree_size, []).append((where, head))
    frontier = Frontier()
    expected = 0
    pending = iter(checks)
    target = next(pending, None)
    cursor = con.execute(f"SELECT leaf_index, entry, leaf_hash FROM {LOG_TABLE} ORDER BY leaf_index")
    while batch := cursor.fetchmany(50_000):
        for index, entry, stored_hash in batch:
            if index != expected:
                return Verification(False, f"FAILED: leaf {expected} is missing (the next stored leaf is {index})")
            digest = leaf_hash(bytes(entry))
            if digest != bytes(stored_hash):
                return Verification(False, f"FAILED: leaf {index} does not match its stored leaf hash")
            frontier.append(digest)
            expected += 1
            while target is not None and frontier.size == target:
                computed = frontier.root()
                for where, head in by_size[target]:
                    if head.root_hash != computed:
                        return Verification(
                            False,
                            f"FAILED: the entries do not match the {where} signed tree head of size {target} "
                            "(an entry before it was changed, removed, added or moved)",
                        )
                target = next(pending, None)
    if target is not None:
        return Verification(
            False, f"FAILED: the log holds {expected:,} entries, shorter than a signed tree head of size {target:,}"
        )
    if not stored:
        return Verification(expected == 0, f"no signed tree head yet over {expected:,} entries", expected, 0)
    unsigned = expected - stored[-1].tree_size
    tail = f"; {unsigned:,} entries after the last head are not signed yet" if unsigned else ""
    return Verification(
        True,
        f"intact: {expected:,} entries, {len(stored):,} signed tree heads, key {wanted[:16]}{tail}",
        expected,
        len(stored),
    )


def _leaf_hashes(con: duckdb.DuckDBPyConnection, size: int | None = None) -> list[bytes]:
    limit = "" if size is None else f" WHERE leaf_index < {int(size)}"
    return [
        bytes(h) for (h,) in con.execute(f"SELECT leaf_hash FROM {LOG_TABLE}{limit} ORDER BY leaf_index").fetchall()
    ]


def prove(con: duckdb.DuckDBPyConnection, index: int) -> dict[str, Any]:
    """The inclusion proof of entry ``index`` against the smallest signed head that holds it (RFC 6962 §2.1.1).

    Raises:
        AuditError: no such entry, or no signed head holds it yet.
    """
    head = next((h for h in heads(con) if h.tree_size > index), None)
    row = con.execute(f"SELECT entry FROM {LOG_TABLE} WHERE leaf_index = ?", [index]).fetchall()
    if not row or index < 0:
        raise AuditError(f"no entry {index} in the log")
    if head is None:
        raise AuditError(f"entry {index} is not under a signed tree head yet")
    hashes = _leaf_hashes(con, head.tree_size)
    return {
        "leaf_index": index,
        "tree_size": head.tree_size,
        "entry_b64": base64.b64encode(bytes(row[0][0])).decode(),
        "leaf_hash": hashes[index].hex(),
        "inclusion_path": [h.hex() for h in inclusion_proof(hashes, index, head.tree_size)],
        "root_hash": root(hashes).hex(),
        "signed_tree_head": head.to_dict(),
    }


def consistency(con: duckdb.DuckDBPyConnection, first: int, second: int) -> dict[str, Any]:
    """The consistency proof between the trees of the first ``first`` and ``second`` entries (RFC 6962 §2.1.2).

    Raises:
        AuditError: ``first`` is not between 1 and ``second``, or the log holds fewer than ``second`` entries.
    """
    hashes = _leaf_hashes(con, second)
    if not 0 < first <= second or len(hashes) < second:
        raise AuditError(f"no consistency proof from {first} to {second} entries (the log holds {len(hashes):,})")
    path = consistency_proof(hashes, first, second)
    first_root, second_root = root(hashes[:first]), root(hashes)
    assert verify_consistency(first, second, first_root, second_root, path)
    return {
        "first": first,
        "second": second,
        "first_root": first_root.hex(),
        "second_root": second_root.hex(),
        "consistency_path": [h.hex() for h in path],
    }


def entries(con: duckdb.DuckDBPyConnection) -> list[tuple[int, dict[str, Any], bytes]]:
    """Every entry: (leaf index, the decoded entry, its leaf hash)."""
    return [
        (int(i), json.loads(bytes(e)), bytes(h))
        for i, e, h in con.execute(f"SELECT leaf_index, entry, leaf_hash FROM {LOG_TABLE} ORDER BY 1").fetchall()
    ]
