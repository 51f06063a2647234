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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.publish.cells import CELL_KEY_MODULUS, CellRequest
from pipeline.publish.suppress import SuppressionMemo, suppress_cells

if TYPE_CHECKING:
    from privacy.register import DifferentialPrivacy, Purpose


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
        mask, primary = suppress_cells(
            cells, request.table, request.period, method.threshold, method.protection_level, guarded, memo
        )
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
