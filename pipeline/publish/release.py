"""Publishing: what a registered purpose may release, protected by its disclosure method, written atomically and
recorded in the ledger.

For each purpose asked for (every registered one by default; the nightly run only those whose calendar day it
is), and each table it is granted (or asked for, at a detail no finer than granted):

1. the request is checked against the purpose register; a refusal is one line naming the purpose and what was
   asked, is recorded in ``release_refusals``, and nothing else is written;
2. the cells are read from that night's statistics at the asked detail (:mod:`pipeline.publish.cells`);
3. the purpose's method protects them (:mod:`pipeline.publish.protect`): cell key perturbation, random rounding
   to base 3, threshold and secondary suppression (with the differencing guard against the purpose's earlier
   releases), or differential privacy within the purpose's budget for the period (refused when exhausted);
4. one SDMX-CSV file per table and ``manifest.json`` (purpose, audience, register version and hash, method and
   parameters per table, vintage, cut-off, checksums) are written into a hidden directory and renamed into
   ``<warehouse>/published/<YYYY-MM-DD>/<purpose>/`` in the transaction that records the release in
   ``release_ledger`` and its cells in ``release_cells``.

A release off its purpose's calendar needs a reason and is recorded as such. Nothing here reads a person-level
table: the statistics tables hold counts and cell keys only.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.publish.cells import CellRequest, read_cells
from pipeline.publish.files import atomic_release, write_file, write_manifest
from pipeline.publish.protect import Protected, SuppressionMemo, protect_cells
from pipeline.publish.sdmx import structure_id, to_sdmx_csv
from pipeline.warehouse.connection import transaction
from privacy.audit.log import append as audit

if TYPE_CHECKING:
    from pipeline.publish.presolve import Presolver
    from privacy.register import Purpose, Register

PUBLISHED = "published"


class ReleaseRefused(PipelineError):
    """A release the calendar, the ledger or the budget does not allow (recorded in ``release_refusals``)."""


@dataclass(frozen=True)
class TableAsk:
    """A table asked for explicitly, instead of everything the purpose is granted."""

    table: str
    dimensions: dict[str, str] | None = None  # None: every granted dimension at its finest detail
    period: str | None = None  # None: the granted finest period


@dataclass(frozen=True)
class TableReleased:
    """One released table (counts only)."""

    table: str
    file: str
    sha256: str
    cells: int
    suppressed: int
    perturbed: int
    mean_abs_deviation: float


@dataclass(frozen=True)
class PurposeReleased:
    """One purpose's release."""

    purpose: str
    audience: str
    release_id: str
    directory: Path
    off_calendar: bool
    tables: list[TableReleased] = field(default_factory=list)


@dataclass(frozen=True)
class PublishSummary:
    """What a publish run released and which purposes it left for their calendar day."""

    night: dt.date
    released: list[PurposeReleased]
    not_due: list[str]

    def as_dict(self) -> dict[str, object]:
        return {
            "night": self.night.isoformat(),
            "released": [
                {"purpose": r.purpose, "tables": len(r.tables), "cells": sum(t.cells for t in r.tables)}
                for r in self.released
            ],
            "not_due": self.not_due,
        }


def requests_of(register: Register, purpose: Purpose, asks: Sequence[TableAsk] | None = None) -> list[CellRequest]:
    """The cell requests of a release (every granted table without ``asks``), each checked against the register
    (refusals raise PurposeRefused)."""
    if not asks:
        asks = [TableAsk(grant.table) for grant in purpose.tables]
    requests = []
    for ask in asks:
        granted = purpose.grant(ask.table)
        finest = granted.finest_period if granted is not None else "month"
        grant = register.check_request(purpose.id, ask.table, dimensions=ask.dimensions, period=ask.period or finest)
        dimensions = dict(grant.dimensions) if ask.dimensions is None else dict(ask.dimensions)
        requests.append(CellRequest(ask.table, tuple(grant.measures), ask.period or grant.finest_period, dimensions))
    return requests


def unreleased_purposes(con: duckdb.DuckDBPyConnection, register: Register, night: dt.date) -> list[str]:
    """The purposes with no release for ``night`` yet (none when the night has no statistics)."""
    computed = con.execute("SELECT count(*) FROM stat_migration_flows WHERE vintage = ?", [night]).fetchall()
    if not computed[0][0]:
        return []
    done = {
        p
        for (p,) in con.execute(
            "SELECT DISTINCT purpose FROM release_ledger WHERE release_date = ?", [night]
        ).fetchall()
    }
    return [p.id for p in register.purposes if p.id not in done]


def record_refusal(con: duckdb.DuckDBPyConnection, purpose: str, asked: str, reason: str) -> None:
    """Record a refused request in its own transaction (the refusal stands even though nothing was released)."""
    with transaction(con):
        con.execute(
            "INSERT INTO release_refusals VALUES (now(), ?, ?, ?, ?)", [purpose, asked, reason[:500], getpass.getuser()]
        )
        audit(con, "refused", purpose=purpose, asked=asked, reason=reason[:500])


def publish(
    con: duckdb.DuckDBPyConnection,
    register: Register,
    night: dt.date,
    warehouse: Path,
    *,
    purposes: Sequence[str] | None = None,
    asks: Sequence[TableAsk] | None = None,
    reason: str | None = None,
    due_only: bool = False,
    presolved: Presolver | None = None,
) -> PublishSummary:
    """Release what the purposes allow for ``night`` (see the module docstring).

    Args:
        con: The warehouse (its statistics vintage ``night`` must exist).
        register: The purpose register.
        night: The statistics vintage to release; also the release date (the folder name).
        warehouse: The warehouse directory (releases go to its ``published/``).
        purposes: Purpose ids (default: every registered purpose).
        asks: Tables to release instead of every granted one (each checked against the register).
        reason: Why a purpose is released off its calendar (required for that).
        due_only: Release only the purposes whose calendar day ``night`` is, silently leaving the others (the
            nightly run).
        presolved: Suppression patterns being found ahead (:mod:`pipeline.publish.presolve`), offered to each
            release's memo.

    Raises:
        PurposeRefused: a purpose, table, dimension, detail or period no purpose allows (recorded).
        ReleaseRefused: off calendar without a reason, or a privacy budget exhausted (recorded).
    """
    from privacy.errors import PurposeRefused

    chosen = list(purposes) if purposes else [p.id for p in register.purposes]
    released, not_due = [], []
    for purpose_id in chosen:
        try:
            purpose = register.purpose(purpose_id)
            requests = requests_of(register, purpose, asks)
            due = purpose.calendar.releases_on(night)
            if not due and due_only:
                not_due.append(purpose_id)
                continue
            if not due and not (reason and reason.strip()):
                raise ReleaseRefused(
                    f"purpose {purpose_id} does not release on {night} ({_calendar_words(purpose)}): an off-calendar "
                    "release needs --reason"
                )
        except (PurposeRefused, ReleaseRefused) as exc:
            record_refusal(con, purpose_id, _asked(asks), str(exc))
            raise
        released.append(
            _release(con, register, purpose, requests, night, warehouse, due=due, reason=reason, presolved=presolved)
        )
    return PublishSummary(night, released, not_due)


def _asked(asks: Sequence[TableAsk] | None) -> str:
    if not asks:
        return "every granted table"
    return "; ".join(
        f"{a.table}"
        + (f" by {', '.join(f'{d} at {v}' for d, v in a.dimensions.items())}" if a.dimensions else "")
        + (f" per {a.period}" if a.period else "")
        for a in asks
    )


def _calendar_words(purpose: Purpose) -> str:
    calendar = purpose.calendar.model_dump()
    return ", ".join(f"{k} {v}" for k, v in calendar.items())


def _release(
    con: duckdb.DuckDBPyConnection,
    register: Register,
    purpose: Purpose,
    requests: list[CellRequest],
    night: dt.date,
    warehouse: Path,
    *,
    due: bool,
    reason: str | None,
    presolved: Presolver | None = None,
) -> PurposeReleased:
    from privacy.register import Suppression

    cutoff = con.execute("SELECT max(cutoff) FROM stat_migration_flows WHERE vintage = ?", [night]).fetchall()[0][0]
    groups = {name: group.members for name, group in register.citizenship_groups.items()}
    protected: list[tuple[CellRequest, Protected]] = []
    memo = SuppressionMemo.load(con)
    if presolved is not None and isinstance(purpose.method, Suppression):
        memo.offer(presolved.arrived)  # what the helper found already, and what it finds while the release works
    for request in requests:
        cells = read_cells(con, night, request, groups)
        try:
            protected.append((request, protect_cells(con, cells, purpose, request, night, memo)))
        except ReleaseRefused as exc:
            record_refusal(con, purpose.id, request.table, str(exc))
            raise
    release_id = uuid.uuid4().hex
    target = warehouse / PUBLISHED / night.isoformat() / purpose.id
    tables: list[TableReleased] = []
    with atomic_release(target) as (incoming, place):
        manifest_tables = []
        for request, result in protected:
            name = f"{request.table}.csv"
            digest = write_file(incoming, name, to_sdmx_csv(request.table, result.cells))
            tables.append(
                TableReleased(
                    request.table,
                    name,
                    digest,
                    len(result.cells),
                    result.suppressed,
                    result.perturbed,
                    result.mean_abs_deviation,
                )
            )
            manifest_tables.append(
                {
                    "table": request.table,
                    "file": name,
                    "sha256": digest,
                    "structure_id": structure_id(request.table),
                    "measures": list(request.measures),
                    "period": request.period,
                    "dimensions": dict(request.dimensions),
                    "cells": len(result.cells),
                    "method": result.method,
                    "parameters": result.parameters,
                    "margins": result.margins,
                }
            )
        write_manifest(
            incoming,
            {
                "purpose": purpose.id,
                "description": purpose.description,
                "legal_basis": purpose.legal_basis,
                "owner": purpose.owner,
                "audience": purpose.audience,
                "release_id": release_id,
                "release_date": night.isoformat(),
                "vintage": night.isoformat(),
                "data_cutoff": str(cutoff),
                "register": {"version": register.version, "sha256": register.sha256},
                "off_calendar": not due,
                "reason": reason if not due else None,
                "tables": manifest_tables,
            },
        )
        with transaction(con):
            for (request, result), table in zip(protected, tables, strict=True):
                _record(con, release_id, purpose, request, result, table, night, cutoff, register, due, reason)
            memo.save(con, night)
            parameters = json.dumps([t["parameters"] for t in manifest_tables], sort_keys=True, default=str)
            budget = [r.budget_spent for _q, r in protected if r.budget_spent is not None]
            audit(
                con,
                "released",
                purpose=purpose.id,
                audience=purpose.audience,
                release_date=night.isoformat(),
                tables=[t.table for t in tables],
                methods=sorted({r.method for _q, r in protected}),
                parameters_sha256=hashlib.sha256(parameters.encode()).hexdigest(),
                budget_spent=" + ".join(budget) if budget else None,
                off_calendar=not due,
                register_version=register.version,
                files={t.file: t.sha256 for t in tables},
            )
            place()
    return PurposeReleased(purpose.id, purpose.audience, release_id, target, not due, tables)


def _record(
    con: duckdb.DuckDBPyConnection,
    release_id: str,
    purpose: Purpose,
    request: CellRequest,
    result: Protected,
    table: TableReleased,
    night: dt.date,
    cutoff: object,
    register: Register,
    due: bool,
    reason: str | None,
) -> None:
    con.execute(
        f"INSERT INTO release_ledger VALUES (?, ?, ?, ?, ?, now(), {', '.join('?' * 17)})",
        [
            release_id,
            purpose.id,
            purpose.audience,
            request.table,
            night,
            night,
            cutoff,
            register.version,
            register.sha256,
            result.method,
            json.dumps(result.parameters, sort_keys=True),
            table.cells,
            table.suppressed,
            table.perturbed,
            table.mean_abs_deviation,
            result.budget_spent,
            result.budget_period,
            f"{PUBLISHED}/{night.isoformat()}/{purpose.id}/{table.file}",
            table.sha256,
            not due,
            reason if not due else None,
            getpass.getuser(),
        ],
    )
    cells = result.cells[["measure", "period_type", "period", "dimension", "category", "released", "conf_status"]]
    frame = pd.DataFrame(cells).assign(release_id=release_id, purpose=purpose.id, table_name=request.table)
    con.register("__released_cells", frame)
    try:
        con.execute(
            """INSERT INTO release_cells SELECT release_id, purpose, table_name, measure, period_type, period,
                      dimension, category, released::BIGINT, conf_status FROM __released_cells"""
        )
    finally:
        con.unregister("__released_cells")
