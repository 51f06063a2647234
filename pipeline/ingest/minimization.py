"""Minimization (proportionality): store only the contract columns some registered purpose or the pipeline
itself needs.

Identifiers (names, birth date, document and permit numbers) are never stored in clear: they become keyed
pseudonyms for linkage and a sealed copy for rekeying (:mod:`pipeline.ingest.load`). Of the other columns, each
is kept for a reason:

* **the pipeline's own needs** (:data:`PIPELINE_NEEDS`), e.g. the crossing time, because the histories and the
  coherence checks order a person's crossings within a day, and the visa and permit categories and dates that
  the stays and the 12/16-month rule are built from;
* **a purpose of the register** that releases a dimension made from the column (:data:`DIMENSION_COLUMNS`),
  e.g. the permit's ``reason`` for first permits by reason.

Every other contract column is dropped at ingest: it is read, checked by the contract, and not stored (its
record-table column stays empty). Each run prints and records in ``meta_minimization`` what it dropped and why.
A purpose added later that needs a dropped column takes effect for data ingested from then on, and the run says
so, naming the purpose and the first day the column was stored again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb

from pipeline.warehouse.connection import insert_rows
from pipeline.warehouse.tables import FEED_COLUMNS

if TYPE_CHECKING:
    from privacy.register import Register

# The clear columns ingest can store per source besides the pseudonyms (pipeline.ingest.load.KEPT_COLUMNS).
CANDIDATES = {
    "border": ("record_id", "direction", "crossing_time", "port", "doc_type"),
    "visa": ("record_id", "visa_category", "decision", "decision_date", "valid_from", "valid_until"),
    "permit": (
        "record_id",
        "permit_type",
        "reason",
        "issue_date",
        "valid_from",
        "valid_until",
        "country_of_birth",
        "region",
    ),
}

# What the pipeline needs whatever the purposes: (source, column) -> why.
PIPELINE_NEEDS = {
    ("border", "record_id"): "record identity (partitions, quarantine, person keys)",
    ("border", "direction"): "the 12/16-month rule (arrivals and departures)",
    ("border", "crossing_time"): "histories and coherence order a person's crossings within a day",
    ("visa", "record_id"): "record identity (partitions, quarantine, person keys)",
    ("visa", "visa_category"): "stays: the authorization valid on each day",
    ("visa", "decision"): "stays: only granted visas authorize a stay",
    ("visa", "decision_date"): "stays: the visa's date when it has no validity",
    ("visa", "valid_from"): "stays and overstays: the visa's validity",
    ("visa", "valid_until"): "stays and overstays: the visa's validity",
    ("permit", "record_id"): "record identity (partitions, quarantine, person keys)",
    ("permit", "permit_type"): "stays: the authorization valid on each day",
    ("permit", "issue_date"): "first permits and stays: the permit's date",
    ("permit", "valid_from"): "stays and permit validity",
    ("permit", "valid_until"): "stays and permit validity",
}

# A released dimension -> the contract columns it is made from (beyond those the pipeline keeps anyway).
DIMENSION_COLUMNS = {
    "country_of_birth": (("permit", "country_of_birth"),),
    "reason": (("permit", "reason"),),
}


@dataclass(frozen=True)
class Decision:
    """Whether one contract column is stored, and why."""

    source: str
    column: str
    kept: bool
    why: str


def plan(register: Register) -> list[Decision]:
    """What ingest stores of each candidate column under ``register``, with the reason."""
    users: dict[tuple[str, str], list[str]] = {}
    for purpose in register.purposes:
        for grant in purpose.tables:
            for dimension in grant.dimensions:
                for needed in DIMENSION_COLUMNS.get(dimension, ()):
                    users.setdefault(needed, []).append(f"{purpose.id} ({grant.table} by {dimension})")
    decisions = []
    for source, columns in CANDIDATES.items():
        for column in columns:
            if (source, column) in PIPELINE_NEEDS:
                decisions.append(Decision(source, column, True, PIPELINE_NEEDS[(source, column)]))
            elif (source, column) in users:
                purposes = sorted(set(users[(source, column)]))
                decisions.append(Decision(source, column, True, "used by " + "; ".join(purposes)))
            else:
                why = f"no registered purpose uses it (register {register.version})"
                if FEED_COLUMNS.get(source) == column:
                    why += "; only its daily row count per value is kept, for the quality gates' volume bands"
                decisions.append(Decision(source, column, False, why))
    return decisions


def kept_columns(decisions: list[Decision], source: str) -> tuple[str, ...]:
    return tuple(d.column for d in decisions if d.source == source and d.kept)


def dropped(decisions: list[Decision]) -> list[Decision]:
    return [d for d in decisions if not d.kept]


def record(
    con: duckdb.DuckDBPyConnection, decisions: list[Decision], run_id: str, night: dt.date, register: Register
) -> list[str]:
    """Record this run's dropped columns in ``meta_minimization`` (inside the ingest transaction), and a column
    stored again after earlier runs dropped it; return one line for the operator per column stored again."""
    last = {
        (source, column): (action, day)
        for source, column, action, day in con.execute(
            """SELECT source, column_name, action, run_date FROM meta_minimization
               QUALIFY row_number() OVER (PARTITION BY source, column_name ORDER BY recorded_at DESC) = 1"""
        ).fetchall()
    }
    rows, lines = [], []
    for d in decisions:
        previous = last.get((d.source, d.column))
        if not d.kept:
            rows.append((run_id, night, d.source, d.column, "dropped", d.why, register.version, register.sha256))
        elif previous is not None and previous[0] == "dropped":
            rows.append((run_id, night, d.source, d.column, "stored again", d.why, register.version, register.sha256))
            lines.append(
                f"{d.source}.{d.column} is stored again from this run ({night}) on, {d.why}; records ingested "
                f"before were stored without it (last dropped by the run of {previous[1]})"
            )
    insert_rows(con, "meta_minimization", rows, then="now()")
    return lines
