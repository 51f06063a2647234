"""Clerical review of uncertain pairs, without names.

Pairs scored between a lower and an upper match weight go to ``review_queue``. A reviewer sees the pair's
record references, its match weight and its agreement pattern (the comparison level of each field, e.g.
``family_name: 3``) — never a name, date or number. Decisions (``accepted`` / ``rejected``) are kept and later
runs honour them: accepted pairs become must-links, rejected pairs cannot-links (applied by the clustering,
:mod:`linkage.link`).
A pair once queued is never queued again, whatever its later score.

A decision can be revised: :func:`undo` returns a decided pair to the queue, with a reason. The next night
reclusters the persons of the pair without the decision (an accepted pair's records may part again, a rejected
pair's may join). Every decision and every revision is kept in ``review_decisions`` with who, when and why.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from linkage.errors import ReviewError
from linkage.schema import REVIEW_DECISIONS_TABLE, ensure_schema
from privacy.audit.log import append as audit
from privacy.sql import quote_identifier

DECISIONS = ("accepted", "rejected")
UNDONE = "undone"


@dataclass(frozen=True)
class QueuedPair:
    """One pair as a reviewer sees it."""

    pair_id: str
    unique_id_l: str
    unique_id_r: str
    match_weight: float
    agreement: str
    status: str


def pair_id_sql(left: str, right: str) -> str:
    """SQL for a pair id that does not depend on the order of the two records."""
    return f"md5(least({left}, {right}) || '|' || greatest({left}, {right}))[:20]"


def enqueue_pairs(
    con: duckdb.DuckDBPyConnection, predictions: str, *, lower: float, upper: float, night: dt.date
) -> int:
    """Queue the pairs of ``predictions`` with ``lower <= match_weight < upper``; return how many were new.

    ``predictions`` is a Splink prediction table (``unique_id_l``, ``unique_id_r``, ``match_weight``,
    ``match_probability`` and ``gamma_<comparison>`` levels or ``mw_<comparison>`` partial match weights,
    which become the agreement pattern the reviewer sees).
    """
    ensure_schema(con)
    relation = quote_identifier(predictions)
    described = con.execute(f"SELECT column_name FROM (DESCRIBE SELECT * FROM {relation})").fetchall()
    levels = [c for (c,) in described if c.startswith("gamma_")]
    weights = [c for (c,) in described if c.startswith("mw_") and not c.startswith("mw_tf_adj_")]
    parts = [f"'{c[6:]}: ' || coalesce({quote_identifier(c)}::VARCHAR, '-')" for c in levels] + [
        f"'{c[3:]}: ' || coalesce(printf('%+.1f', {quote_identifier(c)}), '-')" for c in weights
    ]
    pattern = " || ', ' || ".join(parts) or "''"
    before = con.execute("SELECT count(*) FROM review_queue").fetchall()[0][0]
    con.execute(
        f"""INSERT INTO review_queue (pair_id, unique_id_l, unique_id_r, match_weight, match_probability,
                                     agreement, queued_on)
        SELECT {pair_id_sql("unique_id_l", "unique_id_r")} AS pair_id, least(unique_id_l, unique_id_r),
               greatest(unique_id_l, unique_id_r), match_weight, match_probability, {pattern}, ?
        FROM {quote_identifier(predictions)}
        WHERE match_weight >= ? AND match_weight < ?
        ON CONFLICT DO NOTHING""",
        [night, lower, upper],
    )
    return int(con.execute("SELECT count(*) FROM review_queue").fetchall()[0][0] - before)


def pending_pairs(con: duckdb.DuckDBPyConnection, limit: int = 50) -> list[QueuedPair]:
    """Undecided pairs, most uncertain first (match weight closest to zero)."""
    ensure_schema(con)
    rows = con.execute(
        "SELECT pair_id, unique_id_l, unique_id_r, match_weight, agreement, status FROM review_queue "
        "WHERE status = 'pending' ORDER BY abs(match_weight), pair_id LIMIT ?",
        [limit],
    ).fetchall()
    return [QueuedPair(*r) for r in rows]


def decide(
    con: duckdb.DuckDBPyConnection, pair_ids: list[str], decision: str, *, reviewer: str, at: dt.datetime
) -> int:
    """Record ``decision`` (accepted or rejected) for pending pairs; refuse unknown or decided pairs."""
    ensure_schema(con)
    if decision not in DECISIONS:
        raise ReviewError(f"decision must be one of {', '.join(DECISIONS)}")
    found = _statuses(con, pair_ids, reviewer)
    decided = [p for p in pair_ids if found[p] != "pending"]
    if decided:
        raise ReviewError(f"already decided: {', '.join(decided[:5])}")
    _record(con, pair_ids, decision, reviewer=reviewer.strip(), at=at, reason=None)
    return len(pair_ids)


def undo(
    con: duckdb.DuckDBPyConnection, pair_ids: list[str], *, reviewer: str, reason: str, at: dt.datetime
) -> dict[str, str]:
    """Return decided pairs to the queue (pending), recording who undid them, when and why.

    The next linkage night reclusters the persons of each pair without the decision. Returns each pair's
    decision that was undone.

    Raises:
        ReviewError: no reviewer or reason, an unknown pair id, or a pair that is not decided.
    """
    ensure_schema(con)
    if not reason.strip():
        raise ReviewError("a reason is required to undo a decision (--reason)")
    found = _statuses(con, pair_ids, reviewer)
    pending = [p for p in pair_ids if found[p] == "pending"]
    if pending:
        raise ReviewError(f"not decided, nothing to undo: {', '.join(pending[:5])}")
    _record(con, pair_ids, UNDONE, reviewer=reviewer.strip(), at=at, reason=reason.strip())
    return {p: found[p] for p in pair_ids}


def _statuses(con: duckdb.DuckDBPyConnection, pair_ids: list[str], reviewer: str) -> dict[str, str]:
    """Each pair's status; refuses an empty reviewer name and unknown pair ids."""
    if not reviewer.strip():
        raise ReviewError("a reviewer name is required")
    found = dict(
        con.execute("SELECT pair_id, status FROM review_queue WHERE list_contains(?, pair_id)", [pair_ids]).fetchall()
    )
    unknown = [p for p in pair_ids if p not in found]
    if unknown:
        raise ReviewError(f"unknown pair id(s): {', '.join(unknown[:5])}")
    return found


def _record(
    con: duckdb.DuckDBPyConnection,
    pair_ids: list[str],
    decision: str,
    *,
    reviewer: str,
    at: dt.datetime,
    reason: str | None,
) -> None:
    """Set the pairs' status (``undone`` returns them to pending) and log the decision, in one transaction when
    the caller has none."""
    status = "pending" if decision == UNDONE else decision
    con.execute(
        "UPDATE review_queue SET status = ?, decided_by = ?, decided_at = ? WHERE list_contains(?, pair_id)",
        [status, reviewer, at, pair_ids],
    )
    con.execute(
        f"INSERT INTO {REVIEW_DECISIONS_TABLE} SELECT unnest(?::VARCHAR[]), ?, ?, ?, ?",
        [pair_ids, decision, reviewer, at, reason],
    )
    audit(con, "review_decision", decision=decision, pairs=len(pair_ids), reviewer=reviewer, reason_given=bool(reason))


def decision_log(con: duckdb.DuckDBPyConnection, pair_id: str | None = None) -> list[tuple[object, ...]]:
    """Decisions and revisions, newest first: (pair_id, decision, reviewer, decided_at, reason)."""
    ensure_schema(con)
    return con.execute(
        f"SELECT pair_id, decision, reviewer, decided_at, reason FROM {REVIEW_DECISIONS_TABLE} "
        "WHERE ? IS NULL OR pair_id = ? ORDER BY decided_at DESC, pair_id",
        [pair_id, pair_id],
    ).fetchall()
