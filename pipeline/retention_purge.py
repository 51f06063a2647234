"""Retention of every kind of data the purpose register names: what ``migralink retention purge`` and the DAG
``retention`` call.

For each kind, the period is the register's (:meth:`privacy.register.Register.retention_days`: the longest any
registered purpose needs); a setting may only shorten it (landing: ``retention_days``; the others: ``keep``,
``--keep KIND=DAYS``). Data dated before ``today - days`` is purged. What each kind covers in this warehouse:

``landing`` (``landing_days``)
    Processed landing partitions, deleted or archived sealed (:mod:`pipeline.ingest.retention`, unchanged).
``quarantine`` (``quarantine_days``)
    Quarantined rows (``quarantine``: the sealed rejected rows and their reasons) of partitions dated before the
    cut-off, resolved or not (an unresolved row past its period can no longer be fixed; it is counted apart).
    Kept: the partition counts in ``meta_partitions`` and ``meta_replays`` (counts only).
``sealed_identifiers`` (``sealed_identifiers_days``)
    The sealed identifiers (``identity_vault``) of partitions dated before the cut-off, and with them those
    records' pseudonyms (``identity_tokens``): a rekey re-derives every pseudonym from the sealed identifiers, so a
    pseudonym whose identifiers are gone could never follow a key rotation (and would block every later rekey).
``linkage`` (``linkage_days``)
    The linkage zone's data of records dated before the cut-off: their pseudonyms (``identity_tokens``), with their
    sealed identifiers for the same reason, and the linkage reports (``reports/linkage-<night>.html``). The
    linkage's derived tables (``linkage_records``, ``linkage_input``, ``linkage_pairs``, ``linkage_clusters``) are
    linkage's own: the purge marks the linkage for a full relink (:func:`linkage.require_full_relink`) and the
    next night that links records rebuilds them without those records.
``histories`` (``histories_days``)
    History detail: each crossing's classification changes per night (``crossing_vintages``) of nights before the
    cut-off, and the statistics reports (``reports/statistics-<night>.html``).
``releases`` (``releases_days``)
    Releases dated before the cut-off: their directories (``published/<date>/<purpose>/``: SDMX files and
    manifest), their release reports (``reports/release-<date>-<purpose>.html``), their released cells
    (``release_cells``) except each cell's last published value for its purpose (the differencing guard compares
    a new release with it: the published value is public anyway), and refused requests (``release_refusals``).

Kept whatever its age, on purpose:

* the privacy log (``audit_log``, ``audit_heads``): append-only, tamper-evident; it holds counts, never values;
* the release ledger (``release_ledger``): the accountability record of every release (purpose, register,
  method, parameters, checksums; no cell values) and the privacy-loss budget spent per period;
* the statistics tables and their revisions (``stat_*``): aggregates, published or publishable;
* the record tables, person keys and the histories' current state (``crossing_classification``,
  ``person_stays``, ``stay_authorizations``): the statistics of every later night are computed from them;
* the linkage's models, review queue and decisions, and the per-night counts (linkage's own tables; the review
  queue holds pair ids and agreement patterns, no pseudonyms);
* bookkeeping made of counts (``meta_runs``, ``meta_partitions``, ``history_runs``, ``linkage_nights``, ...).

The pseudonyms and sealed identifiers (``sealed_identifiers`` and ``linkage``) are purged by calendar month: a
month's partitions go as soon as its first day is past the period (so up to a month early, never late), so the
linkage relinks everything at most once a month rather than every night.

Each kind is purged in one transaction (landing: batches of partitions), recorded in ``meta_retention``
(one row per kind and purge: ``source`` is the kind, ``partition_date`` the cut-off, ``files`` the number of
rows, blobs and files removed, ``bytes`` the bytes of sealed blobs and files removed; landing keeps its row per
partition) and in the privacy log (``retention_purged``: counts, the cut-off, never values). A kind with nothing
to purge records nothing: a second purge the same day purges and records nothing. Files go aside inside the
transaction and are deleted after it (:class:`~pipeline.ingest.retention.SetAside`); what an earlier purge left
aside is finished first (:func:`_leftovers`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from linkage import require_full_relink
from pipeline.audit.trail import seal_if_configured
from pipeline.ingest.landing import partition_day
from pipeline.ingest.retention import (
    PURGE_PREFIX,
    SET_ASIDE,
    PurgeSummary,
    RetentionError,
    RetentionPeriod,
    SetAside,
    landing_retention,
    purge_landing,
)
from pipeline.nightly.settings import Settings
from pipeline.publish.release import PUBLISHED
from pipeline.warehouse import mirror
from pipeline.warehouse.connection import connect, transaction
from pipeline.warehouse.tables import RECORD_TABLES
from privacy.audit.log import append as audit
from privacy.audit.log import run_context
from privacy.keys import Keyring
from privacy.register import RETENTION_KINDS, Register, load_register

log = logging.getLogger(__name__)

KINDS = RETENTION_KINDS
MONTHLY = ("sealed_identifiers", "linkage")  # purged by calendar month (each purge makes the linkage relink)
REPORTS = "reports"
_REPORT = re.compile(r"(?P<what>linkage|statistics|release)-(?P<day>\d{4}-\d{2}-\d{2})(?:-.+)?\.html")
_REPORT_KIND = {"linkage": "linkage", "statistics": "histories", "release": "releases"}


@dataclass(frozen=True)
class KindPeriod:
    """The period of one kind, where it came from, and the cut-off it gives for ``today``."""

    kind: str
    days: int
    source: str
    cutoff: dt.date  # data dated before this day is purged


def os_user() -> str:
    """Who runs the purge, for ``meta_retention`` (``unknown`` when the system cannot say)."""
    with contextlib.suppress(KeyError, OSError):
        return getpass.getuser()
    return "unknown"


def _cutoff(kind: str, today: dt.date, days: int) -> dt.date:
    raw = today - dt.timedelta(days=days)
    if kind not in MONTHLY:
        return raw
    month = (raw - dt.timedelta(days=1)).replace(day=1)  # the month of the last day that must go
    return (month + dt.timedelta(days=32)).replace(day=1)  # ... goes whole


def kind_period(
    register: Register, kind: str, today: dt.date, requested: int | None = None, *, given_as: str | None = None
) -> KindPeriod:
    """The period of ``kind``: the register's, or ``requested`` when that is shorter.

    Raises:
        RetentionError: an unknown kind, or ``requested`` below 1 or longer than the register's period.
    """
    if kind not in KINDS:
        raise RetentionError(f"unknown kind of data {kind!r}; use one of {', '.join(KINDS)}")
    if kind == "landing":
        period: RetentionPeriod = landing_retention(register, requested, given_as=given_as or "retention_days")
        return KindPeriod(kind, period.days, period.source, _cutoff(kind, today, period.days))
    limit = register.retention_days(kind)
    purposes = register.retention_purposes(kind)
    needed_by = f"purpose{'s' if len(purposes) > 1 else ''} {', '.join(purposes)}"
    if requested is None:
        source = f"the purpose register {register.version} ({kind}_days of {needed_by})"
        return KindPeriod(kind, limit, source, _cutoff(kind, today, limit))
    label = given_as or f"keep {kind}"
    if requested < 1:
        raise RetentionError(f"{label} must be at least 1 (got {requested})")
    if requested > limit:
        raise RetentionError(
            f"{label} {requested} is longer than the register's {limit} days for {kind} ({needed_by}, register "
            f"{register.version}); a setting may only shorten it"
        )
    source = f"{label} (the purpose register {register.version} allows up to {limit})"
    return KindPeriod(kind, requested, source, _cutoff(kind, today, requested))


def retention_plan(
    register: Register,
    today: dt.date,
    kinds: Sequence[str] | None = None,
    *,
    landing_days: int | None = None,
    landing_given_as: str = "retention_days",
    keep: Mapping[str, int] | None = None,
) -> list[KindPeriod]:
    """The period and cut-off of each kind to purge (every kind by default), in the register's order.

    Args:
        landing_days: The landing setting (``retention_days``), or None for the register's period.
        keep: Shorter periods for other kinds (``{"quarantine": 30}``).

    Raises:
        RetentionError: an unknown kind, a period for landing in ``keep``, or a period longer than the register's.
    """
    chosen = list(KINDS) if not kinds else list(dict.fromkeys(kinds))
    for kind in [*chosen, *(keep or {})]:
        if kind not in KINDS:
            raise RetentionError(f"unknown kind of data {kind!r}; use one of {', '.join(KINDS)}")
    if keep and "landing" in keep:
        raise RetentionError("the landing period is the retention_days setting (--retention-days), not keep")
    plan = []
    for kind in KINDS:
        if kind not in chosen:
            continue
        if kind == "landing":
            plan.append(kind_period(register, kind, today, landing_days, given_as=landing_given_as))
        else:
            plan.append(kind_period(register, kind, today, (keep or {}).get(kind), given_as=f"keep {kind}"))
    return plan


@dataclass
class KindPurge:
    """What one kind's purge removed (or, in a dry run, would remove): counts only."""

    kind: str
    days: int
    source: str
    cutoff: str
    dry_run: bool
    removed: dict[str, int] = field(default_factory=dict)  # what -> rows, blobs or files
    bytes: int = 0  # of sealed blobs and files removed
    groups: int = 0  # partitions, nights or releases concerned
    unresolved: int = 0  # quarantine: rows never fixed
    relink: bool = False  # the next linkage relinks every record
    landing: PurgeSummary | None = None
    leftovers: list[str] = field(default_factory=list)  # an earlier purge's files finished, put back or kept

    @property
    def items(self) -> int:
        return sum(self.removed.values())

    def describe(self) -> str:
        """``removed 3 quarantined rows (1 unresolved) dated before 2024-01-01``: one line, counts only."""
        verb = "would remove" if self.dry_run else "removed"
        done = [_counted(n, what) for what, n in self.removed.items() if n]
        if not done:
            return f"nothing dated before {self.cutoff}"
        extra = [f"{self.unresolved:,} unresolved"] if self.unresolved else []
        extra += [f"{self.bytes:,} bytes"] if self.bytes else []
        text = f"{verb} {', '.join(done)}" + (f" ({', '.join(extra)})" if extra else "")
        text += f" dated before {self.cutoff}"
        if self.relink:
            text += "; the next linkage relinks every record"
        return text

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out.pop("landing")
        if self.landing is not None:
            out["kept_unsafe"] = len(self.landing.kept_unsafe)
            out["kept_unprocessed"] = len(self.landing.kept_unprocessed)
        return out


@dataclass
class RetentionSummary:
    """Every kind purged by one call of :func:`retention_step`."""

    run_id: str
    today: str
    dry_run: bool
    kinds: list[KindPurge] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "today": self.today,
            "dry_run": self.dry_run,
            "kinds": {k.kind: k.as_dict() for k in self.kinds},
        }


def _counted(n: int, what: str) -> str:
    """``1 quarantined row``, ``2 quarantined rows``."""
    return f"{n:,} {what.removesuffix('s') if n == 1 else what}"


@contextlib.contextmanager
def _purge(con: duckdb.DuckDBPyConnection, files: SetAside, *, dry_run: bool) -> Iterator[None]:
    """The kind's one transaction (nothing in a dry run): the block deletes rows, then the files are moved aside
    inside the transaction and deleted once it has committed."""
    if dry_run:
        yield
        return
    try:
        with transaction(con):
            yield
            files.move()
    except BaseException:
        files.restore()
        raise
    files.delete()


def _record(con: duckdb.DuckDBPyConnection, purge: KindPurge, run_id: str, by: str) -> None:
    """``retention_purged`` in the privacy log and a ``meta_retention`` row, inside the kind's transaction."""
    counts = ", ".join(_counted(n, what) for what, n in purge.removed.items() if n)
    audit(
        con,
        "retention_purged",
        what=f"{purge.kind} dated before {purge.cutoff} ({purge.days} days): {counts}",
        partitions=purge.groups,
        files=purge.items,
        bytes=purge.bytes,
        action="deleted",
    )
    con.execute(
        "INSERT INTO meta_retention VALUES (?, ?, 'deleted', ?, ?, NULL, ?, ?, now())",
        [purge.kind, dt.date.fromisoformat(purge.cutoff), purge.items, purge.bytes, run_id, by],
    )


def _reports(warehouse: Path, kind: str, cutoff: dt.date) -> list[Path]:
    """The kind's HTML reports in ``reports/`` dated before ``cutoff``."""
    folder = warehouse / REPORTS
    found: list[Path] = []
    for path in sorted(folder.glob("*.html")) if folder.is_dir() else []:
        match = _REPORT.fullmatch(path.name)
        if match is None or _REPORT_KIND[match["what"]] != kind:
            continue
        with contextlib.suppress(ValueError):
            if dt.date.fromisoformat(match["day"]) < cutoff:
                found.append(path)
    return found


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object]) -> tuple[int, ...]:
    return tuple(int(v or 0) for v in con.execute(sql, list(params)).fetchall()[0])


def purge_quarantine(
    con: duckdb.DuckDBPyConnection, period: KindPeriod, files: SetAside, *, dry_run: bool = False
) -> KindPurge:
    """Quarantined rows of partitions dated before the cut-off, resolved or not."""
    purge = KindPurge(period.kind, period.days, period.source, period.cutoff.isoformat(), dry_run)
    where = "FROM quarantine WHERE partition_date < ?"
    rows, unresolved, size, groups = _one(
        con,
        "SELECT count(*), count(*) FILTER (WHERE resolved_at IS NULL), sum(octet_length(sealed_row)), "
        f"count(DISTINCT (source, partition_date)) {where}",
        [period.cutoff],
    )
    purge.removed, purge.unresolved, purge.bytes, purge.groups = {"quarantined rows": rows}, unresolved, size, groups
    if rows and not dry_run:
        con.execute(f"DELETE {where}", [period.cutoff])
    return purge


def _identity(
    con: duckdb.DuckDBPyConnection, cutoff: dt.date, since: dt.date | None, *, dry_run: bool
) -> tuple[int, int, int, int]:
    """Sealed identity blobs and pseudonymized records of partitions dated before ``cutoff`` (and not before
    ``since``, what an earlier kind of the same purge covered), deleted together unless ``dry_run``: (blobs, their
    bytes, records' pseudonyms, partitions)."""
    dates = "partition_date < $cutoff AND partition_date >= $since"
    bounds = {"cutoff": cutoff, "since": since or dt.date.min}
    blobs, size, groups = (
        int(v or 0)
        for v in con.execute(
            "SELECT count(*), sum(octet_length(sealed_identities)), count(DISTINCT (source, partition_date)) "
            f"FROM identity_vault WHERE {dates}",
            bounds,
        ).fetchall()[0]
    )
    tokens = 0
    for source, table in RECORD_TABLES.items():
        where = (
            f"FROM identity_tokens WHERE source = '{source}' AND record_id IN "
            f"(SELECT record_id FROM {table} WHERE {dates})"
        )
        n = int(con.execute(f"SELECT count(*) {where}", bounds).fetchall()[0][0])
        if n and not dry_run:
            con.execute(f"DELETE {where}", bounds)
        tokens += n
    if blobs and not dry_run:
        con.execute(f"DELETE FROM identity_vault WHERE {dates}", bounds)
    if tokens and not dry_run:
        require_full_relink(con)  # the linkage's derived tables still hold them: rebuilt by the next linkage
    return blobs, size, tokens, groups


def purge_sealed_identifiers(
    con: duckdb.DuckDBPyConnection,
    period: KindPeriod,
    files: SetAside,
    *,
    dry_run: bool = False,
    since: dt.date | None = None,
) -> KindPurge:
    """Sealed identifiers of partitions dated before the cut-off, and those records' pseudonyms with them."""
    purge = KindPurge(period.kind, period.days, period.source, period.cutoff.isoformat(), dry_run)
    blobs, purge.bytes, tokens, purge.groups = _identity(con, period.cutoff, since, dry_run=dry_run)
    purge.removed = {"sealed identity blobs": blobs, "pseudonymized records": tokens}
    purge.relink = tokens > 0
    return purge


def purge_linkage(
    con: duckdb.DuckDBPyConnection,
    period: KindPeriod,
    files: SetAside,
    *,
    dry_run: bool = False,
    since: dt.date | None = None,
) -> KindPurge:
    """Pseudonyms (and their sealed identifiers) of records dated before the cut-off, and the linkage reports."""
    purge = KindPurge(period.kind, period.days, period.source, period.cutoff.isoformat(), dry_run)
    blobs, size, tokens, purge.groups = _identity(con, period.cutoff, since, dry_run=dry_run)
    reports = files.count
    purge.bytes = size + files.bytes
    purge.removed = {"pseudonymized records": tokens, "sealed identity blobs": blobs, "linkage reports": reports}
    purge.relink = tokens > 0
    return purge


def purge_histories(
    con: duckdb.DuckDBPyConnection, period: KindPeriod, files: SetAside, *, dry_run: bool = False
) -> KindPurge:
    """Each crossing's classification changes of nights before the cut-off, and the statistics reports."""
    purge = KindPurge(period.kind, period.days, period.source, period.cutoff.isoformat(), dry_run)
    where = "FROM crossing_vintages WHERE night < ?"
    rows, purge.groups = _one(con, f"SELECT count(*), count(DISTINCT night) {where}", [period.cutoff])
    if rows and not dry_run:
        con.execute(f"DELETE {where}", [period.cutoff])
    reports = files.count
    purge.bytes = files.bytes
    purge.removed = {"crossing vintage rows": rows, "statistics reports": reports}
    return purge


# Cells of releases before the cut-off that are not the last published value of their cell for their purpose.
_OLD_CELLS = """FROM release_cells WHERE rowid IN (
    SELECT c.rowid FROM release_cells c JOIN release_ledger l USING (release_id, table_name)
    WHERE l.release_date < $cutoff
    EXCEPT
    SELECT rid FROM (
        SELECT c.rowid AS rid FROM release_cells c JOIN release_ledger l USING (release_id, table_name)
        WHERE c.released IS NOT NULL
        QUALIFY row_number() OVER (
            PARTITION BY c.purpose, c.table_name, c.measure, c.period_type, c.period, c.dimension, c.category
            ORDER BY l.released_at DESC) = 1))"""


def _release_dirs(warehouse: Path, cutoff: dt.date) -> list[Path]:
    """``published/<date>/<purpose>/`` directories dated before ``cutoff``."""
    root = warehouse / PUBLISHED
    found: list[Path] = []
    for day in sorted(root.iterdir()) if root.is_dir() else []:
        with contextlib.suppress(ValueError):
            if day.is_dir() and dt.date.fromisoformat(day.name) < cutoff:
                found.extend(p for p in sorted(day.iterdir()) if p.is_dir() and not p.name.startswith("."))
    return found


def purge_releases(
    con: duckdb.DuckDBPyConnection, period: KindPeriod, files: SetAside, *, dry_run: bool = False
) -> KindPurge:
    """Release files, reports, superseded released cells and refusals dated before the cut-off (the ledger stays)."""
    purge = KindPurge(period.kind, period.days, period.source, period.cutoff.isoformat(), dry_run)
    cutoff = {"cutoff": period.cutoff}
    cells = int(con.execute(f"SELECT count(*) {_OLD_CELLS}", cutoff).fetchall()[0][0])
    (refusals,) = _one(con, "SELECT count(*) FROM release_refusals WHERE refused_at < ?", [period.cutoff])
    if not dry_run:
        if cells:
            con.execute(f"DELETE {_OLD_CELLS}", cutoff)
        if refusals:
            con.execute("DELETE FROM release_refusals WHERE refused_at < ?", [period.cutoff])
    paths = files.paths
    directories = [p for p in paths if p.is_dir()]
    release_files = sum(1 for p in directories for q in p.rglob("*") if q.is_file())
    purge.groups = len(directories)
    purge.bytes = files.bytes
    purge.removed = {
        "release files": release_files,
        "release reports": len(paths) - len(directories),
        "released cells": cells,
        "refused requests": refusals,
    }
    return purge


_PURGES: dict[str, Callable[..., KindPurge]] = {
    "quarantine": purge_quarantine,
    "sealed_identifiers": purge_sealed_identifiers,
    "linkage": purge_linkage,
    "histories": purge_histories,
    "releases": purge_releases,
}


def _files_of(warehouse: Path, period: KindPeriod) -> SetAside:
    paths = _reports(warehouse, period.kind, period.cutoff)
    if period.kind == "releases":
        paths = _release_dirs(warehouse, period.cutoff) + paths
    return SetAside(paths, prune=_emptied_release_day)


def _emptied_release_day(parent: Path) -> bool:
    """Whether a folder emptied by a purge goes too: a date directory of ``published/``, not ``reports/``."""
    return parent.name != REPORTS


def purge_kind(
    con: duckdb.DuckDBPyConnection,
    warehouse: Path,
    period: KindPeriod,
    *,
    dry_run: bool = False,
    run_id: str | None = None,
    by: str | None = None,
    since: dt.date | None = None,
) -> KindPurge:
    """Purge one kind other than landing in one transaction and record it (see the module docstring). ``since``:
    for the pseudonyms and sealed identifiers, the cut-off an earlier kind of the same purge applied (so a dry run
    does not count them twice)."""
    if period.kind == "landing":
        raise RetentionError("the landing zone is purged by pipeline.ingest.retention.purge_landing")
    leftovers = _leftovers(con, warehouse, period.kind, dry_run=dry_run)
    files = _files_of(warehouse, period)
    with _purge(con, files, dry_run=dry_run):
        extra = {"since": since} if period.kind in MONTHLY else {}
        purge = _PURGES[period.kind](con, period, files, dry_run=dry_run, **extra)
        if purge.items and not dry_run:
            _record(con, purge, run_id or uuid.uuid4().hex, by or os_user())
    purge.leftovers = leftovers
    if purge.items:
        log.info("retention %s: %s", purge.kind, purge.describe())
    return purge


def _leftovers(con: duckdb.DuckDBPyConnection, warehouse: Path, kind: str, *, dry_run: bool) -> list[str]:
    """Finish what an earlier purge of ``kind`` left set aside (``.purge-<name>-<hex>`` beside a report or a
    release it removed, see :class:`~pipeline.ingest.retention.SetAside`): deleted when a recorded purge of the kind
    covers its date, put back when none does (that purge was stopped before it committed), kept and named when
    its place is taken again. One line each (names and dates only)."""
    found: list[tuple[Path, Path, dt.date]] = []  # (set aside, its place, its date)
    reports = warehouse / REPORTS
    for entry in sorted(reports.glob(f"{PURGE_PREFIX}*")) if reports.is_dir() else []:
        aside = SET_ASIDE.fullmatch(entry.name)
        report = _REPORT.fullmatch(aside["name"]) if aside else None
        if aside and report and _REPORT_KIND[report["what"]] == kind and entry.is_file():
            with contextlib.suppress(ValueError):
                found.append((entry, reports / aside["name"], dt.date.fromisoformat(report["day"])))
    published = warehouse / PUBLISHED
    for folder in sorted(published.iterdir()) if kind == "releases" and published.is_dir() else []:
        day = partition_day(folder.name)  # a release's date directory
        if day is None:
            continue
        for entry in sorted(folder.glob(f"{PURGE_PREFIX}*")):
            aside = SET_ASIDE.fullmatch(entry.name)
            if aside and entry.is_dir() and not entry.is_symlink():
                found.append((entry, folder / aside["name"], day))
    if not found:
        return []
    (covered,) = con.execute(
        "SELECT max(partition_date) FROM meta_retention WHERE source = ? AND action = 'deleted'", [kind]
    ).fetchall()[0]
    lines = []
    for entry, place, day in found:
        name, where = place.relative_to(warehouse).as_posix(), entry.relative_to(warehouse).as_posix()
        if covered is not None and day < covered:
            what = f"deleted what is left of {name} (a recorded purge of {kind} removed it)"
            if not dry_run:
                SetAside.left_by_earlier_purge(place, entry, prune=_emptied_release_day).delete()
        elif place.exists():
            what = f"kept {where}: an earlier purge set it aside without recording it, and {name} exists again"
            lines.append(what)
            log.warning("retention %s: %s", kind, what)
            continue
        else:
            what = f"put {name} back (an earlier purge set it aside but was stopped before recording it)"
            if not dry_run:
                os.rename(entry, place)
        lines.append(("would have " if dry_run else "") + what)
        log.info("retention %s: %s%s", kind, "dry run: " if dry_run else "", what)
    return lines


def retention_step(
    settings: Settings,
    today: dt.date,
    *,
    kinds: Sequence[str] | None = None,
    keep: Mapping[str, int] | None = None,
    dry_run: bool = False,
    run_id: str | None = None,
    by: str | None = None,
    landing_given_as: str = "retention_days",
    register: Register | None = None,
) -> RetentionSummary:
    """Purge every kind (or ``kinds``) past its period, counting from ``today``; see the module docstring.

    Every period is checked before anything is read or written. A dry run opens the warehouse read only and
    changes nothing. ``run_id`` (a DAG run's id) is the run of the privacy-log entries and ``meta_retention`` rows;
    ``by`` who purged (the OS user by default).

    Raises:
        RetentionError: an unknown kind, or a period longer than the register's.
        ConfigError: no warehouse (or, with the landing kind, no landing zone).
    """
    register = register or load_register()
    plan = retention_plan(
        register, today, kinds, landing_days=settings.retention_days, landing_given_as=landing_given_as, keep=keep
    )
    settings.require("warehouse")
    assert settings.warehouse is not None
    if any(p.kind == "landing" for p in plan):
        settings.require("landing")
    ring = None
    if settings.landing_archive is not None and any(p.kind == "landing" for p in plan):
        from privacy.providers import key_provider_from_settings

        ring = key_provider_from_settings(settings).load()
    summary = RetentionSummary(run_id or uuid.uuid4().hex, today.isoformat(), dry_run)
    con = connect(settings.warehouse, create=False, read_only=dry_run)
    try:
        with run_context(run_id):
            covered: dt.date | None = None  # pseudonyms and sealed identifiers dated before it are counted already
            for period in plan:
                if period.kind == "landing":
                    assert settings.landing is not None
                    summary.kinds.append(_landing(con, settings, period, today, register, ring, dry_run, by))
                else:
                    summary.kinds.append(
                        purge_kind(
                            con,
                            settings.warehouse,
                            period,
                            dry_run=dry_run,
                            run_id=summary.run_id,
                            by=by,
                            since=covered,
                        )
                    )
                    if period.kind in MONTHLY:
                        covered = max(covered or period.cutoff, period.cutoff)
            if not dry_run and any(k.items for k in summary.kinds):
                seal_if_configured(settings, con)
    finally:
        con.close()
    if not dry_run and any(k.items for k in summary.kinds if k.kind != "landing"):
        mirror.discard(settings.warehouse)  # it would still hold what was purged
    return summary


def _landing(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    period: KindPeriod,
    today: dt.date,
    register: Register,
    ring: Keyring | None,
    dry_run: bool,
    by: str | None,
) -> KindPurge:
    assert settings.landing is not None
    done = purge_landing(
        con,
        settings.landing,
        today=today,
        retention_days=period.days,
        register=register,
        archive=settings.landing_archive,
        ring=ring,
        dry_run=dry_run,
        by=by,
    )
    purge = KindPurge(period.kind, period.days, period.source, done.cutoff, dry_run, landing=done)
    purge.removed = {"landing files": done.files}
    purge.bytes, purge.groups = done.bytes, len(done.actions)
    return purge
