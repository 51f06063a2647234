"""Disclosure control of a release's cells by the method its purpose names (the methods live in
:mod:`privacy.disclosure`; this module shapes the statistics' cells for them).

* ``cell_key``: each count plus the perturbation its cell key selects in the purpose's perturbation table.
  Totals are perturbed as cells of their own (by their own cell key), so a breakdown need not add up to its
  published total; net migration is the published arrivals minus the published departures.
* ``rr3``: each count randomly rounded to a multiple of 3, the draw made from the cell key (the same persons in
  a cell get the same rounding whenever it is asked for again); totals rounded separately.
* ``suppression``: counts from 1 to ``threshold - 1`` withheld, then complementary cells so that no withheld
  count can be narrowed below the protection level from the published cells, the margins and the
  year-is-the-sum-of-its-months relation (:func:`privacy.disclosure.suppression.secondary_suppress`). Each
  measure, dimension and year is one table of categories by months with both margins; a total withheld in one
  dimension's table is withheld in all of them. The differencing guard treats as sensitive a cell whose value
  differs from the purpose's last release of it by 1 to ``threshold - 1``. Before anything is returned the
  intruder's LP is solved on every table and must leave every sensitive cell its protection. Margins stay the
  true values, so published cells add up. A table whose counts and sensitive cells are those of a table already
  protected and audited gets the same withheld cells again without the solvers (:class:`SuppressionMemo`: most of
  a release's tables are unchanged from one night to the next).
* ``dp``: the discrete Laplace mechanism of OpenDP on every cell of the release, within the purpose's budget
  per period (the ledger holds what was spent; an exhausted budget refuses the release).

The deviation figures returned (cells changed, mean absolute deviation) are computed here from the unprotected
counts and stay in the warehouse's ledger and the data team's report; they are never written to a release.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.publish.cells import CELL_KEY_MODULUS, CellRequest
from pipeline.warehouse.connection import insert_rows
from pipeline.warehouse.tables import STOCK_TABLE

if TYPE_CHECKING:
    from privacy.register import DifferentialPrivacy, Purpose


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
        digest.update(np.packbits(sensitive).tobytes())
        digest.update(np.packbits(forced).tobytes())
        return digest.hexdigest()

    def get(self, key: str, size: int) -> np.ndarray | None:
        if key in self.new:
            return self.new[key]
        packed = self.known.get(key)
        if packed is None:
            return None
        self.used.add(key)
        return np.unpackbits(np.frombuffer(packed, dtype=np.uint8), count=size).astype(bool)

    def put(self, key: str, mask: np.ndarray) -> None:
        self.new[key] = mask.copy()

    def save(self, con: duckdb.DuckDBPyConnection, night: dt.date) -> None:
        """Record the new patterns and the use of the known ones, and forget those unused for
        :data:`MEMO_KEEP_DAYS` (inside the caller's transaction)."""
        fresh = [
            (key, len(mask), np.packbits(mask).tobytes(), night, night)
            for key, mask in self.new.items()
            if key not in self.known
        ]
        insert_rows(con, MEMO_TABLE, fresh)
        used = sorted(self.used & self.known.keys())
        if used:
            con.execute(
                f"UPDATE {MEMO_TABLE} SET last_used = greatest(last_used, ?) WHERE memo_key IN (SELECT unnest(?))",
                [night, used],
            )
        con.execute(f"DELETE FROM {MEMO_TABLE} WHERE last_used < ?", [night - dt.timedelta(days=MEMO_KEEP_DAYS)])


@dataclass(frozen=True)
class Protected:
    """A table's cells as released (``released``: None where withheld; ``conf_status`` F, A or D)."""

    cells: pd.DataFrame
    method: str
    parameters: dict[str, Any]
    margins: str
    suppressed: int
    perturbed: int
    mean_abs_deviation: float
    budget_spent: str | None = None
    budget_period: str | None = None


def protect_cells(
    con: duckdb.DuckDBPyConnection,
    cells: pd.DataFrame,
    purpose: Purpose,
    request: CellRequest,
    night: dt.date,
    memo: SuppressionMemo | None = None,
) -> Protected:
    """Protect the unprotected ``cells`` of one request by ``purpose``'s method (see the module docstring).
    Suppression looks up and adds to ``memo`` (the caller saves it) when one is given."""
    from privacy.register import CellKey, DifferentialPrivacy, RoundedToThree, Suppression

    method = purpose.method
    parameters = method.model_dump()
    values = cells["value"].to_numpy(dtype=np.int64)
    keys = cells["cell_key"].to_numpy(dtype=np.uint64).astype(np.float64) / CELL_KEY_MODULUS
    conf = np.full(len(cells), "F", dtype=object)
    budget: tuple[str, str] | None = None
    if isinstance(method, CellKey):
        from privacy.disclosure.cellkey import perturb_counts
        from privacy.disclosure.ptable import build_ptable

        table = build_ptable(method.max_deviation, method.variance, method.block_small)
        released = perturb_counts(values, keys, table).astype(float)
        parameters["ptable"] = table.as_dict()
        margins = "each total perturbed by its own cell key: breakdowns need not add up to their totals"
    elif isinstance(method, RoundedToThree):
        from privacy.disclosure.rounding import random_round, uniforms_from_cell_keys

        labels = (cells["measure"] + "/" + request.table).to_numpy()
        uniforms = np.empty(len(cells))
        for label in np.unique(labels):
            at = labels == label
            uniforms[at] = uniforms_from_cell_keys(cells["cell_key"].to_numpy(dtype=np.uint64)[at], str(label))
        released = random_round(values, 3, uniforms=uniforms).astype(float)
        margins = "each total rounded separately: breakdowns need not add up to their totals"
    elif isinstance(method, Suppression):
        guarded = differencing_guard(con, cells, purpose.id, request.table, method.threshold)
        mask, primary = suppress_cells(cells, request, method.threshold, method.protection_level, guarded, memo)
        released = np.where(mask, np.nan, values.astype(float))
        conf = np.where(primary, "A", np.where(mask, "D", "F")).astype(object)
        parameters["differencing_guarded_cells"] = int(guarded.sum())
        margins = "true values: published cells add up to their published totals"
    elif isinstance(method, DifferentialPrivacy):
        released, budget, parameters = _dp(con, cells, purpose, method, request, night, parameters)
        margins = "each cell noised on its own: breakdowns need not add up to their totals"
    else:  # pragma: no cover - the register admits no other method
        raise PipelineError(f"unknown disclosure method {method.name}")
    out = cells.drop(columns=["cell_key"]).assign(released=released, conf_status=conf)
    out = _derive_net_migration(out, request)
    shown = out.dropna(subset=["released"])
    deviation = (shown["released"] - shown["value"]).abs()
    protected = out.drop(columns=["value"])
    return Protected(
        cells=protected,
        method=method.name,
        parameters=parameters,
        margins=margins,
        suppressed=int(out["released"].isna().sum()),
        perturbed=int((deviation > 0).sum()),
        mean_abs_deviation=float(deviation.mean()) if len(deviation) else 0.0,
        budget_spent=budget[0] if budget else None,
        budget_period=budget[1] if budget else None,
    )


def _derive_net_migration(cells: pd.DataFrame, request: CellRequest) -> pd.DataFrame:
    """Add net migration (published arrivals minus published departures; withheld when either is) if asked."""
    if "net_migration" not in request.measures:
        return cells
    keys = ["period_type", "period", "dimension", "category"]
    arrivals = cells[cells["measure"] == "arrivals"].set_index(keys)
    departures = cells[cells["measure"] == "departures"].set_index(keys)
    net = pd.DataFrame(
        {
            "measure": "net_migration",
            "value": arrivals["value"] - departures["value"],
            "provisional": arrivals["provisional"] | departures["provisional"],
            "released": arrivals["released"] - departures["released"],
            "conf_status": np.where(arrivals["released"].isna() | departures["released"].isna(), "D", "F"),
        }
    ).reset_index()
    kept = cells[cells["measure"].isin(request.measures)]
    return pd.concat([kept, net[kept.columns]], ignore_index=True)


def differencing_guard(
    con: duckdb.DuckDBPyConnection, cells: pd.DataFrame, purpose: str, table: str, threshold: int
) -> np.ndarray:
    """Cells whose count differs from the purpose's last published value of the same cell by 1 to
    ``threshold - 1``: set against that release, they would isolate fewer persons than the threshold."""
    frame = cells[["measure", "period_type", "period", "dimension", "category", "value"]].assign(
        row=np.arange(len(cells))
    )
    con.register("__guard_cells", frame)
    try:
        flagged = con.execute(
            """WITH last AS (
                   SELECT measure, period_type, period, dimension, category, released
                   FROM release_cells c JOIN release_ledger l USING (release_id, table_name)
                   WHERE c.purpose = ? AND c.table_name = ? AND released IS NOT NULL
                   QUALIFY row_number() OVER (PARTITION BY measure, period_type, period, dimension, category
                                              ORDER BY l.released_at DESC) = 1)
               SELECT coalesce(abs(g.value - last.released) BETWEEN 1 AND ? - 1, false)
               FROM __guard_cells g LEFT JOIN last USING (measure, period_type, period, dimension, category)
               ORDER BY g.row""",
            [purpose, table, threshold],
        ).fetchnumpy()
    finally:
        con.unregister("__guard_cells")
    return np.asarray(next(iter(flagged.values())), dtype=bool)


def suppress_cells(
    cells: pd.DataFrame,
    request: CellRequest,
    threshold: int,
    protection_level: int,
    guarded: np.ndarray,
    memo: SuppressionMemo | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(withheld, sensitive) masks over ``cells`` by threshold and secondary suppression, per measure, dimension
    and year; a total withheld for one dimension is withheld for all (repeated until no total changes). A table
    found in ``memo`` takes its remembered pattern; one that is not is solved, audited and added to it."""
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
    stock = request.table == STOCK_TABLE
    months_in_table = request.period == "month"
    for _ in range(10):
        changed = False
        for (_measure, _year), group in frame.groupby(["measure", "year"], sort=False):
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
        grid_cols = columns
        annual = False
    else:
        grid_cols = columns
        annual = not stock and not year_totals.empty
    rows, cols = len(categories), len(grid_cols)
    interior = np.zeros((rows, cols), dtype=np.int64)
    index = np.full((rows + 1, cols + (1 if annual else 0)), -1, dtype=np.int64)
    position = {c: i for i, c in enumerate(categories)}
    column = {p: j for j, p in enumerate(grid_cols)}
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


def _dp(
    con: duckdb.DuckDBPyConnection,
    cells: pd.DataFrame,
    purpose: Purpose,
    method: DifferentialPrivacy,
    request: CellRequest,
    night: dt.date,
    parameters: dict[str, Any],
) -> tuple[np.ndarray, tuple[str, str], dict[str, Any]]:
    """Noisy counts within the purpose's budget for the period of ``night`` (refused when it would be exceeded).

    The release's epsilon is split evenly over its tables. A person appears in one cell per dimension (and the
    total), per period type and per count measure of a table, at most once each (one long-term arrival or
    departure per month, one first permit, one overstay start): that number of cells is the L1 sensitivity."""
    from privacy.disclosure.dp import BudgetExceeded, BudgetLedger, exact_epsilon, noisy_counts, period_key

    period = period_key(night, method.period)
    release_epsilon = exact_epsilon(method.epsilon_per_release)
    epsilon = release_epsilon / max(1, len(purpose.tables))  # this table's share of the release
    spent = con.execute(
        """SELECT budget_spent FROM release_ledger WHERE purpose = ? AND budget_period = ?
           AND budget_spent IS NOT NULL""",
        [purpose.id, period],
    ).fetchall()
    ledger = BudgetLedger(purpose.id, period, exact_epsilon(method.budget_per_period), tuple(s for (s,) in spent))
    try:
        ledger.charge(release_epsilon)  # the whole release must fit, whichever of its tables comes first
    except BudgetExceeded as exc:
        from pipeline.publish.release import ReleaseRefused

        raise ReleaseRefused(str(exc)) from None
    counts = len({m for m in cells["measure"]})
    sensitivity = (1 + len(request.dimensions)) * cells["period_type"].nunique() * counts
    released = noisy_counts(cells["value"].to_numpy(dtype=np.int64), epsilon, sensitivity=sensitivity)
    parameters = parameters | {"epsilon_this_table": str(epsilon), "sensitivity": sensitivity}
    return released.astype(float), (str(epsilon), period), parameters
