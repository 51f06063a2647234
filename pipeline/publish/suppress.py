"""Secondary suppression of a release's cells, table by table, and the memo of the patterns already found.

Light on imports (numpy, pandas, :mod:`privacy.disclosure.suppression` and the table names; the warehouse's
connection module only when a memo is saved), so that :mod:`pipeline.publish.presolve`'s helper process starts quickly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.warehouse.tables import STOCK_TABLE

if TYPE_CHECKING:
    import duckdb


def pack_mask(mask: np.ndarray) -> bytes:
    """A withheld-cell pattern as bits (how the memo stores it and the helper sends it)."""
    return np.packbits(mask).tobytes()


def unpack_mask(packed: bytes, size: int) -> np.ndarray:
    """The inverse of :func:`pack_mask` for a pattern of ``size`` cells."""
    return np.unpackbits(np.frombuffer(packed, dtype=np.uint8), count=size).astype(bool)


MEMO_TABLE = "release_suppression_memo"
MEMO_KEEP_DAYS = 31  # a pattern no release has used for this long is forgotten


@dataclass
class SuppressionMemo:
    """Withheld-cell patterns already found by secondary suppression and passed by the intruder's audit, by a
    SHA-256 of everything they depend on: the table's kind and counts, its sensitive and forced cells, the
    protection level and :data:`privacy.disclosure.suppression.SUPPRESSION_VERSION`. Both are deterministic, so a
    pattern found here is the one they would find again (the release is the same with or without the memo).

    Kept in the warehouse (``release_suppression_memo``: digests and bit masks, no counts) and read and saved once
    per release, in the release's transaction."""

    known: dict[str, bytes]  # packed masks read from the warehouse
    used: set[str] = field(default_factory=set)  # known keys found again
    new: dict[str, np.ndarray] = field(default_factory=dict)  # masks found tonight
    offered: dict[str, np.ndarray] = field(default_factory=dict)  # found by pipeline.publish.presolve's helper

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection) -> SuppressionMemo:
        return cls(
            {key: bytes(mask) for key, mask in con.execute(f"SELECT memo_key, mask FROM {MEMO_TABLE}").fetchall()}
        )

    @staticmethod
    def key(kind: str, values: np.ndarray, sensitive: np.ndarray, forced: np.ndarray, level: int) -> str:
        from privacy.disclosure.suppression import SUPPRESSION_VERSION

        digest = hashlib.sha256(f"{SUPPRESSION_VERSION}|{kind}|{level}|{values.shape}|".encode())
        digest.update(np.ascontiguousarray(values, dtype=np.int64).tobytes())
        digest.update(pack_mask(sensitive))
        digest.update(pack_mask(forced))
        return digest.hexdigest()

    def get(self, key: str, size: int) -> np.ndarray | None:
        if key in self.new:
            return self.new[key]
        if key in self.offered:  # found ahead by the same solvers and audit: now found tonight
            self.new[key] = self.offered.pop(key)
            return self.new[key]
        packed = self.known.get(key)
        if packed is None:
            return None
        self.used.add(key)
        return unpack_mask(packed, size)

    def offer(self, found: dict[str, np.ndarray]) -> None:
        """Patterns solved and audited by another process, by key: ``found`` itself is looked in, so patterns that
        arrive in it later are found too. Only those the release asks for are saved."""
        self.offered = found

    def put(self, key: str, mask: np.ndarray) -> None:
        self.new[key] = mask.copy()

    def save(self, con: duckdb.DuckDBPyConnection, night: dt.date) -> None:
        """Record the new patterns and the use of the known ones, and forget those unused for
        :data:`MEMO_KEEP_DAYS` (inside the caller's transaction)."""
        from pipeline.warehouse.connection import insert_rows

        fresh = [
            (key, len(mask), pack_mask(mask), night, night) for key, mask in self.new.items() if key not in self.known
        ]
        insert_rows(con, MEMO_TABLE, fresh)
        used = sorted(self.used & self.known.keys())
        if used:
            con.execute(
                f"UPDATE {MEMO_TABLE} SET last_used = greatest(last_used, ?) WHERE memo_key IN (SELECT unnest(?))",
                [night, used],
            )
        con.execute(f"DELETE FROM {MEMO_TABLE} WHERE last_used < ?", [night - dt.timedelta(days=MEMO_KEEP_DAYS)])


def suppress_cells(
    cells: pd.DataFrame,
    table_name: str,
    period: str,
    threshold: int,
    protection_level: int,
    guarded: np.ndarray,
    memo: SuppressionMemo | None = None,
    *,
    backwards: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(withheld, sensitive) masks over ``cells`` by threshold and secondary suppression, per measure, dimension
    and year; a total withheld for one dimension is withheld for all (repeated until no total changes). A table
    found in ``memo`` takes its remembered pattern; one that is not is solved, audited and added to it.

    The measures and years share no cell, so the order they are taken in changes nothing: ``backwards`` takes
    them last first (the helper of :mod:`pipeline.publish.presolve` does, to meet the release half way)."""
    from privacy.disclosure.suppression import (
        one_way_table,
        primary_suppress,
        protection_shortfalls,
        secondary_suppress,
        two_way_table,
    )

    withheld = np.zeros(len(cells), dtype=bool)
    sensitive = np.zeros(len(cells), dtype=bool)
    frame = cells.reset_index(drop=True)
    frame["year"] = frame["period"].str[:4]
    forced = np.zeros(len(cells), dtype=bool)
    stock = table_name == STOCK_TABLE
    months_in_table = period == "month"
    for _ in range(10):
        changed = False
        groups = [group for _key, group in frame.groupby(["measure", "year"], sort=False)]
        for group in reversed(groups) if backwards else groups:
            totals = group[group["dimension"] == "total"]
            dimensions = [d for d in group["dimension"].unique() if d != "total"] or ["total"]
            for dimension in dimensions:
                part = group[group["dimension"] == dimension] if dimension != "total" else group.iloc[0:0]
                layout = _layout(part, totals, months_in_table, stock)
                if layout is None:
                    continue
                index, values, kind = layout
                if kind == "none":
                    small = ((values > 0) & (values < threshold)) | guarded[index]
                    withheld[index[small]] = sensitive[index[small]] = True
                    continue
                table = (
                    one_way_table(values) if kind == "one_way" else two_way_table(values, row_totals=kind == "two_way")
                )
                present = index >= 0
                cell_rows = index[present]
                primary = np.zeros(table.size, dtype=bool)
                primary[present] = primary_suppress(table, threshold)[present] | guarded[cell_rows]
                force = np.zeros(table.size, dtype=bool)
                force[present] = forced[cell_rows] | withheld[cell_rows]
                key = SuppressionMemo.key(kind, values, primary, force, protection_level) if memo is not None else ""
                remembered = memo.get(key, table.size) if memo is not None else None
                if remembered is not None:
                    mask = remembered
                else:
                    mask = secondary_suppress(table, primary | force, protection_level)
                    short = protection_shortfalls(table, mask, primary, protection_level)  # the intruder's LP
                    if short:
                        raise PipelineError(f"audit failed: {short} sensitive cells can be narrowed; nothing released")
                    if memo is not None:
                        memo.put(key, mask)
                newly = cell_rows[mask[present] & ~withheld[cell_rows]]
                if newly.size:
                    withheld[newly] = True
                    total_rows = newly[frame.loc[newly, "dimension"].to_numpy() == "total"]
                    if total_rows.size and not forced[total_rows].all():
                        forced[total_rows] = True
                        changed = True
                sensitive[cell_rows[primary[present]]] = True
        if not changed:
            break
    else:
        raise PipelineError("secondary suppression did not settle across the dimensions of a table")
    return withheld, sensitive


def _layout(
    part: pd.DataFrame, totals: pd.DataFrame, months: bool, stock: bool
) -> tuple[np.ndarray, np.ndarray, str] | None:
    """(row index of each table cell in ``cells``, or -1 for a cell the release does not hold; the interior
    counts; the table kind) for one dimension and year: categories by months with the month totals, and the
    annual column unless the table is a stock or a year-only release."""
    month_totals = totals[totals["period_type"] == "month"] if months else totals.iloc[0:0]
    year_totals = totals[totals["period_type"] == "year"]
    if part.empty:  # only the total: its months and their year
        if month_totals.empty:
            return None
        index = month_totals.index.to_numpy()
        if stock or year_totals.empty:  # no relation ties these cells: each is withheld on its own if small
            return index, np.asarray(month_totals["value"], dtype=np.int64), "none"
        return (
            np.append(index, year_totals.index[0]),
            np.asarray(month_totals["value"], dtype=np.int64),
            "one_way",
        )
    categories = sorted(part["category"].unique())
    columns = sorted(month_totals["period"].unique()) if not month_totals.empty else []
    if not columns:  # year only: categories and the year's total
        columns = sorted(part["period"].unique())
        annual = False
    else:
        annual = not stock and not year_totals.empty
    rows, cols = len(categories), len(columns)
    interior = np.zeros((rows, cols), dtype=np.int64)
    index = np.full((rows + 1, cols + (1 if annual else 0)), -1, dtype=np.int64)
    position = {c: i for i, c in enumerate(categories)}
    column = {p: j for j, p in enumerate(columns)}
    for at, category, period, period_type, value in zip(
        part.index, part["category"], part["period"], part["period_type"], part["value"], strict=True
    ):
        if period in column:
            interior[position[category], column[period]] = value
            index[position[category], column[period]] = at
        elif annual and period_type == "year":
            index[position[category], cols] = at
    source = month_totals if not month_totals.empty else year_totals
    for at, period in zip(source.index, source["period"], strict=True):
        if period in column:
            index[rows, column[period]] = at
    if annual:
        index[rows, cols] = year_totals.index[0]
    return index.ravel(), interior, "two_way" if annual else "column_totals"
