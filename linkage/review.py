"""Clerical review of uncertain pairs, without names.

Pairs scored between a lower and an upper match weight go to ``review_queue``. A reviewer sees the pair's
record references, its match weight and its agreement pattern (the comparison level of each field, e.g.
``family_name: 3``) — never a name, date or number. Decisions (``accepted`` / ``rejected``) are kept and later
runs honour them: accepted pairs become must-links, rejected pairs cannot-links (applied by the clustering,
:mod:`linkage.link`).
A pair once queued is never queued again, whatever its later score.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from linkage.errors import ReviewError
from linkage.schema import ensure_schema
from privacy.sql import quote_identifier

DECISIONS = ("accepted", "rejected")


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
    if not reviewer.strip():
        raise ReviewError("a reviewer name is required")
    found = dict(
        con.execute("SELECT pair_id, status FROM review_queue WHERE list_contains(?, pair_id)", [pair_ids]).fetchall()
    )
    unknown = [p for p in pair_ids if p not in found]
    if unknown:
        raise ReviewError(f"unknown pair id(s): {', '.join(unknown[:5])}")
    decided = [p for p in pair_ids if found[p] != "pending"]
    if decided:
        raise ReviewError(f"already decided: {', '.join(decided[:5])}")
    con.execute(
        "UPDATE review_queue SET status = ?, decided_by = ?, decided_at = ? WHERE list_contains(?, pair_id)",
        [decision, reviewer.strip(), at, pair_ids],
    )
    return len(pair_ids)
