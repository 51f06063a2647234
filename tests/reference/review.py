"""The reviewers' decisions as plain pairs: what the clustering's SQL (:mod:`linkage.link`) must honour."""

from __future__ import annotations

import duckdb


def review_constraints(con: duckdb.DuckDBPyConnection) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The reviewers' decisions as (must-link pairs, cannot-link pairs) of unique ids."""
    rows = con.execute(
        "SELECT status, unique_id_l, unique_id_r FROM review_queue WHERE status <> 'pending' ORDER BY ALL"
    ).fetchall()
    must = [(left, right) for status, left, right in rows if status == "accepted"]
    cannot = [(left, right) for status, left, right in rows if status == "rejected"]
    return must, cannot
