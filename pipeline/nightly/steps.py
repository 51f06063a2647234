"""The nightly run: the one code path behind ``migralink run`` and the Airflow DAG."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from linkage import PairScorer, backend_for, deferred_charts, forget_missing_records, linked_at, warm_up_charts
from pipeline.audit.trail import run_finished, run_started, seal_if_configured, seal_log, signing_key
from pipeline.errors import ConfigError, PipelineError
from pipeline.histories.build import HistoryPolicy, HistorySummary, build_histories, histories_current
from pipeline.ingest.contract import SOURCES
from pipeline.ingest.landing import newest_landed
from pipeline.ingest.load import IngestSummary, Progress, ingest
from pipeline.ingest.redelivery import DEFAULT_WINDOW_DAYS, find_redeliveries, record_redeliveries
from pipeline.nightly.cutoff import check_cutoff, last_cutoff, newest_partition
from pipeline.nightly.linking import CHART_CACHE, LinkStepSummary, link_night
from pipeline.nightly.settings import Settings
from pipeline.nightly.unit import REPORTS, night_unit
from pipeline.publish.presolve import hand_over, presolving
from pipeline.publish.presolve import worth_it as worth_presolving
from pipeline.warehouse.connection import DB_FILE, connect, transaction, verify_key
from pipeline.warehouse.tables import RECORD_TABLES
from privacy.audit.log import append as audit
from privacy.errors import KeyMismatchError
from privacy.keys import KeyProvider
from privacy.providers import key_provider_from_settings

if TYPE_CHECKING:
    from pipeline.publish.presolve import Presolver
    from pipeline.publish.release import PublishSummary, TableAsk
    from pipeline.quality.gates import GateResult

log = logging.getLogger(__name__)


DAILY_WINDOW = 28  # days looked back to tell a daily feed from a sparse one
DAILY_SHARE = 0.8  # a source that delivered on at least this share of them is expected every day


def missing_sources(con: duckdb.DuckDBPyConnection, night: dt.date) -> tuple[str, ...]:
    """Sources that usually deliver every day (a partition on at least 80 % of the previous 28 days) but have no
    partition for ``night``. A sparse feed (permits issued on some days only) is never reported missing; the
    quality gates will judge volumes with proper bands."""
    rows = con.execute(
        """SELECT source, count(DISTINCT partition_date) FILTER (WHERE partition_date < ?),
                  count(*) FILTER (WHERE partition_date = ?)
           FROM meta_partitions WHERE partition_date BETWEEN ? AND ? GROUP BY source""",
        [night, night, night - dt.timedelta(days=DAILY_WINDOW), night],
    ).fetchall()
    seen = {source: (int(before), int(tonight)) for source, before, tonight in rows}
    return tuple(
        source
        for source in SOURCES
        if seen.get(source, (0, 0))[0] >= DAILY_SHARE * DAILY_WINDOW and not seen.get(source, (0, 0))[1]
    )


@dataclass
class NightlyResult:
    """Counts of one nightly run (no record values)."""

    run_date: str
    ingest: IngestSummary
    linkage: LinkStepSummary | None = None
    histories: HistoryStepSummary | None = None
    releases: PublishSummary | None = None
    missing_sources: tuple[str, ...] = ()  # daily sources with no partition for the run date (see missing_sources)
    quarantine_warn_share: float = 0.05
    gates: list[GateResult] = field(default_factory=list)  # the quality gates that ran, in order

    @property
    def held(self) -> GateResult | None:
        """The gate that held the night (``migralink run`` exits 3), if one did."""
        return next((gate for gate in self.gates if gate.held), None)

    def warnings(self) -> list[str]:
        """What the operator must see (``migralink run`` exits 4 when there is any): the ingest's warnings, a
        source with no data for the night, a quarantine share above ``quarantine_warn_share``."""
        out = self.ingest.warnings()
        out += [
            f"no {source} data for {self.run_date}: it delivered on most of the previous {DAILY_WINDOW} days"
            for source in self.missing_sources
        ]
        read, quarantined = self.ingest.rows_read, self.ingest.rows_quarantined
        if read and quarantined / read > self.quarantine_warn_share:
            out.append(
                f"{quarantined:,} of {read:,} rows quarantined ({quarantined / read:.1%}, above "
                f"{self.quarantine_warn_share:.0%}): see `migralink quarantine list`"
            )
        return out

    @property
    def nothing_to_do(self) -> bool:
        return (
            not self.ingest.partitions
            and not self.gates
            and (self.linkage is None or self.linkage.status != "linked")
            and (self.histories is None or self.histories.status != "built")
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "run_date": self.run_date,
            "run_id": self.ingest.run_id,
            "partitions": len(self.ingest.partitions),
            "rows_read": self.ingest.rows_read,
            "rows_accepted": self.ingest.rows_accepted,
            "rows_quarantined": self.ingest.rows_quarantined,
            **({f"linkage_{k}": v for k, v in self.linkage.as_dict().items()} if self.linkage else {}),
            **({f"histories_{k}": v for k, v in self.histories.as_dict().items()} if self.histories else {}),
            "gates": [gate.as_dict() for gate in self.gates],
        }


@dataclass(frozen=True)
class KeyCheck:
    """The key that will be used tonight (id and version only, never key material)."""

    key_id: str
    key_version: int
    warehouse_exists: bool

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def key_check_step(settings: Settings, *, key_provider: KeyProvider | None = None) -> KeyCheck:
    """Load the secret key and, when the warehouse exists, verify it is the warehouse's key (registers nothing:
    ingest registers a new key version, in its own transaction). Reads no landing data.

    Raises:
        privacy.errors.KeyringError: no usable key.
        privacy.errors.KeyMismatchError: another key than the warehouse's, or a version in use is missing.
    """
    settings.require("warehouse")
    assert settings.warehouse is not None
    ring = (key_provider or key_provider_from_settings(settings)).load()
    exists = (settings.warehouse / DB_FILE).exists()
    if exists:
        con = connect(settings.warehouse, create=False)
        try:
            try:
                verify_key(con, ring)
            except KeyMismatchError as exc:
                with transaction(con):  # the refusal itself is logged (and signed when the log's key is at hand)
                    audit(con, "key_refused", reason=str(exc)[:300])
                with contextlib.suppress(ConfigError):  # the wrong key file has no signing key beside it
                    seal_log(settings, con)
                raise
        finally:
            con.close()
    return KeyCheck(ring.key_id, ring.active_version, exists)


def migrate_step(settings: Settings) -> list[str]:
    """Bring an existing warehouse to this code's schema; returns the migrations applied (empty when current)."""
    settings.require("warehouse")
    assert settings.warehouse is not None
    applied: list[str] = []
    connect(settings.warehouse, create=False, applied=applied).close()
    return applied


def run_nightly(
    settings: Settings,
    run_date: dt.date,
    *,
    key_provider: KeyProvider | None = None,
    progress: Progress | None = None,
    complete_through: dt.date | None = None,
    accept: Mapping[str, str] | None = None,
) -> NightlyResult:
    """Process every landing partition dated on or before ``run_date`` not processed yet, then link.

    The key comes from ``key_provider``, else from the ``key_source`` setting (a key file by default); it is
    loaded and checked before any data are read. Idempotent: a second run for the same date
    finds nothing pending and changes nothing.

    Quality gates (:mod:`pipeline.quality.gates`) follow ingest, linkage and the statistics, and check the night's
    releases: a critical failure not in ``accept`` (expectation id -> the operator's reason) holds the night there.
    What was committed stays, nothing after the gate runs (nothing is released), and the result's ``held`` names
    the gate. Running the night again (with ``accept``) goes on from where it was held.
    """
    settings.require("landing", "warehouse")
    assert settings.warehouse is not None
    if accept:
        from pipeline.quality.gates import check_acceptances

        check_acceptances(accept)
    # Refusals come before the night starts: they are not failed nights and leave the warehouse untouched.
    key_check_step(settings, key_provider=key_provider)
    presolve = False  # suppression solved ahead in a helper process (pipeline.publish.presolve)
    if (settings.warehouse / DB_FILE).exists():
        con = connect(settings.warehouse)
        try:
            _check_run_cutoff(con, settings, run_date, complete_through)
            signing_key(settings, con)  # the night ends by signing the log: a missing key refuses it now
            presolve = worth_presolving(con)
        finally:
            con.close()
    gates: list[GateResult] = []
    linkage: LinkStepSummary | None = None
    histories: HistoryStepSummary | None = None
    releases: PublishSummary | None = None

    def quality_docs() -> None:
        """The Data Docs of tonight's gates (files under the warehouse, no database): built while the night's
        changes are checkpointed (0.6 s of an increment against 1M records beside a 1.8 s checkpoint)."""
        if gates:
            gates[-1].docs = quality_docs_step(settings, run_date)

    # The reports' charts are rendered in the background while the night goes on; its pages are complete (in the
    # staging directory) before the night commits.
    with (
        night_unit(settings.warehouse, run_date, closing=quality_docs) as reports,
        deferred_charts(reports),
        presolving(presolve) as presolver,
    ):
        start_run_step(settings, run_date, "run")
        summary = ingest_step(
            settings, run_date, key_provider=key_provider, progress=progress, complete_through=complete_through
        )

        def gate(stage: str, changed: bool) -> bool:
            """Run the stage's gate when its step changed something tonight or it has not passed for this night;
            True when the night may go on."""
            if changed or gate_due(settings, run_date, stage):
                gates.append(quality_step(settings, run_date, stage, accept=accept, progress=progress))
            return not (gates and gates[-1].held)

        if gate("raw", bool(summary.partitions)):
            linkage = link_step(settings, run_date, progress=progress, reports=reports)
            if gate("linkage", linkage.status == "linked"):
                histories = history_step(
                    settings,
                    run_date,
                    progress=progress,
                    complete_through=complete_through,
                    reports=reports,
                    presolver=presolver,
                )
                if gate("statistics", histories.status == "built"):
                    releases = publish_step(settings, run_date, due_only=True, reports=reports, presolved=presolver)
                    gate("releases", releases is not None and bool(releases.released))
        finish_run_step(settings, "run", "held" if gates and gates[-1].held else "complete")
    con = connect(settings.warehouse, read_only=True)
    try:
        missing = missing_sources(con, run_date)
    finally:
        con.close()
    published = settings.warehouse / REPORTS  # the staged reports were moved there when the night committed
    if linkage is not None and linkage.report:
        linkage = replace(linkage, report=str(published / Path(linkage.report).name))
    if histories is not None and histories.report:
        histories = replace(histories, report=str(published / Path(histories.report).name))
    return NightlyResult(
        run_date=run_date.isoformat(),
        ingest=summary,
        linkage=linkage,
        histories=histories,
        releases=releases,
        missing_sources=missing,
        quarantine_warn_share=settings.quarantine_warn_share,
        gates=gates,
    )


def ingest_step(
    settings: Settings,
    run_date: dt.date,
    *,
    key_provider: KeyProvider | None = None,
    progress: Progress | None = None,
    complete_through: dt.date | None = None,
) -> IngestSummary:
    """Check, pseudonymize and store every pending partition up to ``run_date`` (one transaction).

    The cut-off ``run_date`` is checked first (:func:`pipeline.nightly.cutoff.check_cutoff`) against the newest
    partition in the landing zone or the warehouse: nothing is read or written for a refused cut-off.
    """
    settings.require("landing", "warehouse")
    if key_provider is None:
        key_provider = key_provider_from_settings(settings)
    ring = key_provider.load()
    assert settings.landing is not None and settings.warehouse is not None
    con = connect(settings.warehouse)
    try:
        _check_run_cutoff(con, settings, run_date, complete_through)
        summary = ingest(con, landing=settings.landing, run_date=run_date, ring=ring, progress=progress)
        window = settings.retention_days or DEFAULT_WINDOW_DAYS
        found = find_redeliveries(con, settings.landing, run_date, window)
        if found:
            with transaction(con):
                summary.redeliveries = [r.describe() for r in record_redeliveries(con, found, summary.run_id)]
        for line in summary.redeliveries:
            log.info("%s", line)
        return summary
    finally:
        con.close()


def _check_run_cutoff(
    con: duckdb.DuckDBPyConnection, settings: Settings, run_date: dt.date, complete_through: dt.date | None
) -> None:
    """The cut-off check of a run that ingests: the newest partition is the landing zone's or the warehouse's."""
    assert settings.landing is not None
    known = [d for d in (newest_partition(con), newest_landed(settings.landing, run_date)) if d is not None]
    check_cutoff(run_date, newest=max(known, default=None), last=last_cutoff(con), complete_through=complete_through)


@dataclass(frozen=True)
class ReprocessSummary:
    """What re-ingesting one partition did (counts only)."""

    source: str
    partition_date: dt.date
    records_before: int
    records_after: int
    rows_quarantined: int
    linkage: LinkStepSummary
    histories: HistoryStepSummary | None


def reprocess_step(
    settings: Settings,
    source: str,
    day: dt.date,
    reason: str,
    *,
    key_provider: KeyProvider | None = None,
    progress: Progress | None = None,
) -> ReprocessSummary:
    """Re-ingest a processed partition from the landing zone as it is now (a re-delivery), as one unit: its rows
    are replaced, every person is relinked, and the histories are recomputed at the last cut-off. A partition dated
    after the last cut-off (ingested by a night a quality gate held) was never in its histories: every person is
    relinked for the partition's own date, and the night of that date builds the histories (recomputing them at
    the last cut-off would put records after that cut-off into its statistics). Recorded in ``meta_reprocessed``
    (with ``reason``, which is never logged); its re-deliveries are marked reprocessed. Running it again gives
    the same warehouse.

    Raises:
        ConfigError: an unknown source or an empty reason.
        PipelineError: the partition was never processed (the nightly run will ingest it).
    """
    import getpass

    settings.require("landing", "warehouse")
    assert settings.landing is not None and settings.warehouse is not None
    if source not in SOURCES:
        raise ConfigError(f"--source must be one of {', '.join(SOURCES)} (got {source!r})")
    if not reason.strip():
        raise ConfigError("--reason must say why the partition is reprocessed (it is recorded)")
    key_check_step(settings, key_provider=key_provider)
    ring = (key_provider or key_provider_from_settings(settings)).load()
    con = connect(settings.warehouse, create=False)
    try:
        known = con.execute(
            "SELECT count(*) FROM meta_partitions WHERE source = ? AND partition_date = ?", [source, day]
        ).fetchall()[0][0]
        last = last_cutoff(con)
    finally:
        con.close()
    if not known:
        raise PipelineError(f"{source}/{day} has not been processed yet: the nightly run will ingest it")
    with night_unit(settings.warehouse, day) as reports:
        con = connect(settings.warehouse, create=False)
        try:
            table = RECORD_TABLES[source]
            count = f"SELECT count(*) FROM {table} WHERE partition_date = ?"
            before = int(con.execute(count, [day]).fetchall()[0][0])
            ingested = ingest(
                con, landing=settings.landing, run_date=day, ring=ring, progress=progress, replace=(source, day)
            )
            after = int(con.execute(count, [day]).fetchall()[0][0])
            with transaction(con):
                forget_missing_records(con)
                con.execute(
                    "UPDATE meta_redeliveries SET reprocessed_at = now() WHERE source = ? AND partition_date = ? "
                    "AND reprocessed_at IS NULL",
                    [source, day],
                )
                con.execute(
                    "INSERT INTO meta_reprocessed VALUES (?, ?, ?, ?, ?, ?, now(), ?)",
                    [source, day, reason.strip(), getpass.getuser(), before, after, ingested.run_id],
                )
                audit(
                    con,
                    "reprocessed",
                    source=source,
                    partition_date=day.isoformat(),
                    records_before=before,
                    records_after=after,
                )
        finally:
            con.close()
        # A partition after the last cut-off is not in that cut-off's histories: relink for its own date, and the
        # night of that date builds its histories.
        night = last if last is not None and day <= last else day
        linkage = link_step(settings, night, full=True, progress=progress, reports=reports)
        histories = (
            history_step(settings, night, full=True, progress=progress, reports=reports) if night == last else None
        )
    return ReprocessSummary(source, day, before, after, ingested.rows_quarantined, linkage, histories)


def scorer(settings: Settings) -> PairScorer:
    """The linkage backend the settings name (``linkage_backend``, with ``spark_master`` for Spark)."""
    return backend_for(settings.linkage_backend, master=settings.spark_master)


def link_step(
    settings: Settings,
    night: dt.date,
    *,
    full: bool = False,
    progress: Progress | None = None,
    reports: Path | None = None,
) -> LinkStepSummary:
    """Link tonight's records into persons (pseudonyms only: the key is not needed); ``full`` relinks all."""
    settings.require("warehouse")
    assert settings.warehouse is not None
    warm_up_charts()  # the report's charts: the renderer starts while the records are linked
    con = connect(settings.warehouse)
    try:
        return link_night(
            con,
            night,
            reports=reports or settings.warehouse / "reports",
            full=full,
            progress=progress,
            scorer=scorer(settings),
            chart_cache=settings.warehouse / CHART_CACHE,
        )
    finally:
        con.close()


@dataclass(frozen=True)
class HistoryStepSummary:
    """Tonight's histories and statistics (counts only); ``histories`` is None when the step was skipped."""

    status: str  # built or skipped
    reason: str
    histories: HistorySummary | None = None
    statistics: dict[str, object] | None = None
    report: str = ""

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"status": self.status, "reason": self.reason, "report": self.report}
        if self.histories is not None:
            out.update(self.histories.as_dict())
        out.update({f"statistics_{k}": v for k, v in (self.statistics or {}).items()})
        return out


def history_policy(settings: Settings) -> HistoryPolicy:
    """The host state, the 12/16-month rule's parameters and the visa policy from the settings."""
    from pipeline.histories.rule import RuleParams

    return HistoryPolicy(
        host_country=settings.host_country,
        params=RuleParams(window=settings.rule_window, threshold=settings.rule_threshold),
        visa_exempt=settings.visa_exempt,
        visa_free_days=settings.visa_free_days,
    )


def history_step(
    settings: Settings,
    night: dt.date,
    *,
    full: bool = False,
    progress: Progress | None = None,
    complete_through: dt.date | None = None,
    reports: Path | None = None,
    presolver: Presolver | None = None,
) -> HistoryStepSummary:
    """Classify tonight's crossings, rebuild the touched histories and the statistics (one transaction).
    ``presolver`` is handed the tables tonight's suppression releases will protect as soon as the statistics are
    committed (:mod:`pipeline.publish.presolve`).

    The data cut-off is ``night``: crossings whose resolution date lies after it stay pending. It is checked
    first (:func:`pipeline.nightly.cutoff.check_cutoff`: not after today, not after the newest partition unless
    ``complete_through`` says the days are complete, not before the last cut-off unless ``full``). Pseudonyms
    only; the key is not needed.
    """
    from pipeline.statistics.report import write_statistics_report
    from pipeline.statistics.tables import compute_statistics

    settings.require("warehouse")
    assert settings.warehouse is not None
    warm_up_charts()  # the statistics report's chart: the renderer starts while the histories are built
    policy = history_policy(settings)
    con = connect(settings.warehouse)
    try:
        check_cutoff(
            night,
            newest=newest_partition(con),
            last=last_cutoff(con),
            complete_through=complete_through,
            full=full,
        )
        if linked_at(con) is None:
            return HistoryStepSummary("skipped", "no person keys yet: the records have not been linked")
        if not full and histories_current(con, night, policy):
            return HistoryStepSummary("skipped", "the histories and statistics of this night are current")
        tell = progress or (lambda _stage, _done, _total: None)
        stage = "classifying crossings, building statistics"
        tell(stage, 0, 2)
        with transaction(con):
            histories = build_histories(
                con, night=night, cutoff=night, policy=policy, full=full, complete_through=complete_through
            )
            tell(stage, 1, 2)
            stats = compute_statistics(con, night=night, cutoff=night, host=policy.host_country)
            audit(
                con,
                "histories_built",
                vintage=night.isoformat(),
                cutoff=night.isoformat(),
                mode=histories.mode,
                persons=histories.persons,
                crossings=histories.crossings,
                pending=histories.pending,
            )
            audit(
                con,
                "statistics_computed",
                vintage=night.isoformat(),
                rows={
                    "flows": stats.flow_rows,
                    "first_permits": stats.first_permit_rows,
                    "stock": stats.stock_rows,
                    "overstays": stats.overstay_rows,
                },
                revisions=stats.revisions,
            )
        tell(stage, 2, 2)
        if presolver is not None:
            hand_over(presolver, con, night)  # solved while the night reports and gates the statistics
        report = write_statistics_report(con, night, reports or settings.warehouse / "reports")
        return HistoryStepSummary("built", "", histories, asdict(stats), str(report))
    finally:
        con.close()


def publish_step(
    settings: Settings,
    night: dt.date,
    *,
    purposes: Sequence[str] | None = None,
    asks: Sequence[TableAsk] | None = None,
    reason: str | None = None,
    due_only: bool = False,
    reports: Path | None = None,
    presolved: Presolver | None = None,
) -> PublishSummary | None:
    """Release the statistics of ``night`` under the purpose register (:func:`pipeline.publish.release.publish`)
    and write the data team's report of each release. With ``due_only`` (the nightly run): only purposes whose
    calendar day it is and that have no release for that day yet, and nothing when the night has no statistics.
    ``presolved``: suppression patterns found ahead (:mod:`pipeline.publish.presolve`). Pseudonyms only; the key
    is not needed."""
    from pipeline.publish.release import publish, unreleased_purposes
    from pipeline.publish.report import write_release_report
    from privacy.register import load_register

    settings.require("warehouse")
    assert settings.warehouse is not None
    register = load_register()
    con = connect(settings.warehouse)
    try:
        if due_only:
            purposes = unreleased_purposes(con, register, night)
            if not purposes:
                return None
        summary = publish(
            con,
            register,
            night,
            settings.warehouse,
            purposes=purposes,
            asks=asks,
            reason=reason,
            due_only=due_only,
            presolved=presolved,
        )
        if presolved is not None:
            presolved.close()  # the releases are protected: what the helper is still solving is not needed
        for release in summary.released:
            write_release_report(con, release, reports or settings.warehouse / REPORTS)
        if not due_only:
            seal_if_configured(settings, con)
        return summary
    finally:
        con.close()


def quality_step(
    settings: Settings,
    night: dt.date,
    stage: str,
    *,
    accept: Mapping[str, str] | None = None,
    progress: Progress | None = None,
) -> GateResult:
    """Run one stage's quality gate for ``night`` (:func:`pipeline.quality.gates.run_gate`): results and
    acceptances recorded, validation results stored for the Data Docs (brought up to date by
    :func:`quality_docs_step`). Pseudonyms only; the key is not needed."""
    from pipeline.quality.gates import run_gate

    assert settings.warehouse is not None
    if progress:
        progress(f"quality gate: {stage}", 0, 1)
    con = connect(settings.warehouse)
    try:
        result = run_gate(
            con,
            settings.warehouse,
            night,
            stage,
            accept=accept,
            alpha=settings.quality_alpha,
            holidays=settings.holidays,
        )
    finally:
        con.close()
    if progress:
        progress(f"quality gate: {stage}", 1, 1)
    return result


def quality_docs_step(settings: Settings, night: dt.date) -> Path | None:
    """Bring the quality gates' Data Docs under the warehouse up to date after ``night``'s gates (once a night:
    its pages and the index); returns the index page, or None when no gate has stored results yet."""
    from pipeline.quality.gates import QUALITY_DIR, build_docs

    assert settings.warehouse is not None
    if not (settings.warehouse / QUALITY_DIR).is_dir():
        return None
    return build_docs(settings.warehouse / QUALITY_DIR, night)


def gate_due(settings: Settings, night: dt.date, stage: str) -> bool:
    """Whether ``stage``'s gate must run for ``night`` although its step changed nothing: it has no results for
    the night yet, or it held the night (a run with ``--accept`` judges again)."""
    assert settings.warehouse is not None
    con = connect(settings.warehouse)  # not read only: inside a night the database is open for writing already
    try:
        found, held = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE NOT success AND severity = 'critical' AND NOT accepted) "
            "FROM quality_results WHERE night = ? AND stage = ?",
            [night, stage],
        ).fetchall()[0]
    finally:
        con.close()
    return not found or bool(held)


def start_run_step(settings: Settings, run_date: dt.date, command: str, dag_run_id: str | None = None) -> None:
    """The privacy log's ``run_started`` entry of a night (the CLI's ``run`` or a DAG run)."""
    assert settings.warehouse is not None
    con = connect(settings.warehouse)
    try:
        run_started(settings, con, command, run_date, dag_run_id=dag_run_id)
    finally:
        con.close()


def finish_run_step(settings: Settings, command: str, status: str = "complete") -> int | None:
    """The privacy log's ``run_finished`` entry and a signed tree head over the night; returns the tree size."""
    assert settings.warehouse is not None
    con = connect(settings.warehouse)
    try:
        head = run_finished(settings, con, command, status)
    finally:
        con.close()
    return head.tree_size if head is not None else None
