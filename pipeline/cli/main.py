"""The ``migralink`` command line: a thin layer over the same functions the Airflow DAG calls.

Errors print one line (``migralink: error: ...``) and exit non-zero; ``--help`` works everywhere.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.cli.audit import audit_app
from pipeline.cli.common import (
    ConfigOpt,
    LandingOpt,
    WarehouseOpt,
    console,
    count,
    open_warehouse,
    parse_date,
    parse_optional_date,
)
from pipeline.cli.linkage import export_app, model_app, review_app
from pipeline.cli.ops import quarantine_app, retention_app
from pipeline.errors import environment_problem
from pipeline.nightly.settings import load_settings
from pipeline.warehouse import lock
from privacy.errors import MigralinkError

if TYPE_CHECKING:
    from pipeline.ingest.load import Progress as StepProgress
    from pipeline.nightly.linking import LinkStepSummary
    from pipeline.nightly.steps import HistoryStepSummary
    from pipeline.publish.release import PublishSummary
    from pipeline.quality.gates import GateResult

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Migration statistics from linked, pseudonymized records.",
)
keys_app = typer.Typer(no_args_is_help=True, help="Create and manage the secret key.")
app.add_typer(keys_app, name="keys")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(retention_app, name="retention")
app.add_typer(review_app, name="review")
app.add_typer(export_app, name="export")
app.add_typer(model_app, name="model")
app.add_typer(audit_app, name="audit")

# Exit codes (stable, documented in docs/operations.md): 0 the night is complete, 1 error, 2 usage, 3 held by a
# quality gate, 4 complete with warnings the operator must see.
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_GATE, EXIT_WARNINGS = 0, 1, 2, 3, 4
out = console()
err = console(stderr=True)

CompleteOpt = Annotated[
    str | None,
    typer.Option(
        "--complete-through",
        help="State that the days up to this one (YYYY-MM-DD) are complete although no partition arrived for them.",
    ),
]
BackendOpt = Annotated[
    str | None,
    typer.Option(
        "--linkage-backend", help="Engine that scores pairs: duckdb (default) or spark (or MIGRALINK_LINKAGE_BACKEND)."
    ),
]
KeyOpt = Annotated[Path | None, typer.Option("--key-file", help="Secret key file (or MIGRALINK_KEY_FILE).")]


@contextlib.contextmanager
def progress_bar(enabled: bool = True) -> Iterator[StepProgress | None]:
    """Yield a ``callback(stage, done, total)`` that draws a progress bar on stderr."""
    if not enabled:
        yield None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    with bar:
        yield update


@keys_app.command("init")
def keys_init(key_file: Annotated[Path, typer.Option("--key-file", help="Where to write the new key.")]) -> None:
    """Create a new secret key file (mode 0600) and, beside it, the privacy log's signing key; refuses to
    overwrite an existing key file."""
    from privacy.audit.heads import key_id, new_signing_key_file
    from privacy.keys import write_new_key_file

    ring = write_new_key_file(key_file)
    out.print(
        f"created key file {key_file} (key id {ring.key_id}, version {ring.active_version}, "
        f"fingerprint {ring.fingerprint()}); keep it secret and backed up"
    )
    signing = Path(f"{key_file}.audit.pem")
    if not signing.exists():
        private = new_signing_key_file(signing)
        out.print(
            f"created the privacy log's signing key {signing} (key {key_id(private.public_key())[:16]}); give its "
            "public key to the auditors: migralink audit public-key"
        )


@keys_app.command("rotate")
def keys_rotate(key_file: Annotated[Path, typer.Option("--key-file", help="The key file to rotate.")]) -> None:
    """Add a new key version and make it active; pseudonyms move to it with `migralink keys rekey`."""
    from privacy.keys import rotate_key_file

    ring = rotate_key_file(key_file)
    out.print(
        f"key file {key_file}: version {ring.active_version} is now active (fingerprint "
        f"{ring.fingerprint()}); nightly runs keep the warehouse's version until `migralink keys rekey`"
    )


@keys_app.command("rekey")
def keys_rekey(
    warehouse: WarehouseOpt = None,
    key_file: KeyOpt = None,
    config: ConfigOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Re-derive every pseudonym and re-seal every blob with the active key version."""
    from pipeline.nightly.keysteps import rekey_step

    settings = load_settings(config, warehouse=warehouse, key_file=key_file).require("warehouse", "key_file")
    with progress_bar(not quiet) as bar:
        summary = rekey_step(settings, progress=bar)
    if summary.nothing_to_do:
        out.print(f"nothing to do: the warehouse already uses key version {summary.to_version}")
        return
    out.print(
        f"rekeyed from version {summary.from_version} to {summary.to_version}: {count(summary.records, 'record')}, "
        f"{count(summary.vault_blobs, 'sealed identity blob')}, {count(summary.quarantine_rows, 'quarantined row')}"
    )
    if summary.filled_columns:
        out.print(
            f"filled new pseudonym columns {', '.join(summary.filled_columns)}; the next run relinks everything. "
            "Train a new model (`migralink model train`) so that it estimates their levels from data."
        )


@keys_app.command("check")
def keys_check(key_file: KeyOpt = None, warehouse: WarehouseOpt = None, config: ConfigOpt = None) -> None:
    """Load the key and verify it is the warehouse's key (changes nothing; the DAG's first task does the same)."""
    from pipeline.nightly.steps import key_check_step
    from privacy.keys import FileKeyProvider

    settings = load_settings(config, warehouse=warehouse, key_file=key_file)
    provider = FileKeyProvider(key_file) if key_file is not None else None  # an explicit flag wins
    found = key_check_step(settings, key_provider=provider)
    where = "matches the warehouse" if found.warehouse_exists else "no warehouse yet: the first run registers it"
    out.print(f"key {found.key_id}, active version {found.key_version}: {where}")


@app.command()
def migrate(warehouse: WarehouseOpt = None, config: ConfigOpt = None) -> None:
    """Bring an existing warehouse to this release's schema (numbered migrations; `run` does it too)."""
    from pipeline.nightly.steps import migrate_step
    from pipeline.warehouse.schema import versions

    applied = migrate_step(load_settings(config, warehouse=warehouse))
    for line in applied:
        out.print(f"applied {line}")
    current = ", ".join(f"{name} v{version}" for name, version in versions().items())
    out.print(f"schema current: {current}" + ("" if applied else " (nothing to do)"))


@keys_app.command("retire")
def keys_retire(
    version: Annotated[int, typer.Option("--version", help="The key version to remove.")],
    warehouse: WarehouseOpt = None,
    key_file: KeyOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Remove an old key version from the key file once the warehouse no longer uses it (nothing to do when it
    is retired already)."""
    from pipeline.nightly.keysteps import retire_step

    settings = load_settings(config, warehouse=warehouse, key_file=key_file).require("warehouse", "key_file")
    done = retire_step(settings, version)
    if done.already_retired:
        out.print(f"nothing to do: key version {version} is not in {settings.key_file} (retired already)")
        return
    out.print(f"key version {version} retired from {settings.key_file} and the warehouse")


@app.command()
def run(
    date: Annotated[str, typer.Option("--date", help="Process partitions dated on or before this day (YYYY-MM-DD).")],
    landing: LandingOpt = None,
    warehouse: WarehouseOpt = None,
    key_file: KeyOpt = None,
    config: ConfigOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    linkage_backend: BackendOpt = None,
    complete_through: CompleteOpt = None,
    accept: Annotated[
        list[str] | None,
        typer.Option(
            "--accept",
            help="Let a night a quality gate held go on despite this expectation (SUITE/NAME, repeatable; needs "
            "--reason; recorded).",
        ),
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why the accepted expectations may fail.")] = None,
) -> None:
    """Run the nightly pipeline for every unprocessed partition up to --date (exit 3: held by a quality gate)."""
    from pipeline.nightly.steps import run_nightly

    run_date = parse_date(date, "--date")
    if accept and not (reason or "").strip():
        raise typer.BadParameter("--accept needs --reason (it is recorded with the acceptance)")
    if reason and not accept:
        raise typer.BadParameter("--reason goes with --accept")
    settings = load_settings(
        config, landing=landing, warehouse=warehouse, key_file=key_file, linkage_backend=linkage_backend
    )
    from privacy.keys import FileKeyProvider

    provider = FileKeyProvider(key_file) if key_file is not None else None  # an explicit flag wins
    with progress_bar(not quiet) as bar:
        result = run_nightly(
            settings,
            run_date,
            key_provider=provider,
            progress=bar,
            complete_through=parse_optional_date(complete_through, "--complete-through"),
            accept=dict.fromkeys(accept, (reason or "").strip()) if accept else None,
        )
    summary = result.ingest
    warnings = result.warnings()
    for line in warnings:
        err.print(f"migralink: warning: {line}", soft_wrap=True)
    if result.nothing_to_do:
        out.print(
            f"nothing to do: every landing partition up to {run_date} is already processed; the warehouse is unchanged"
        )
        if warnings:
            raise typer.Exit(EXIT_WARNINGS)
        return
    table = Table(title=f"run {summary.run_id[:8]} up to {run_date}")
    for col in ("source", "partitions", "rows read", "accepted", "quarantined"):
        table.add_column(col, justify="right" if col != "source" else "left")
    for source in ("border", "visa", "permit"):
        parts = [p for p in summary.partitions if p.source == source]
        table.add_row(
            source,
            str(len(parts)),
            f"{sum(p.rows_read for p in parts):,}",
            f"{sum(p.rows_accepted for p in parts):,}",
            f"{sum(p.rows_quarantined for p in parts):,}",
        )
    if summary.partitions:
        out.print(table)
    for reason, n in summary.quarantine_reasons.items():
        out.print(f"  quarantined {n:,}: {reason}")
    if summary.dropped_columns:
        out.print(f"minimization: not stored: {'; '.join(summary.dropped_columns)}")
    for line in summary.stored_again:
        out.print(f"minimization: {line}")
    print_linkage(result.linkage)
    print_histories(result.histories)
    print_releases(result.releases)
    print_gates(result.gates)
    out.print(f"warehouse: {settings.warehouse}")
    held = result.held
    if held is not None:
        err.print(f"migralink: held: {held.message()}", soft_wrap=True)
        raise typer.Exit(EXIT_GATE)
    if warnings or any(gate.warnings for gate in result.gates):
        raise typer.Exit(EXIT_WARNINGS)


def print_gates(gates: list[GateResult]) -> None:
    """One line per quality gate that ran, and where its Data Docs are."""
    for gate in gates:
        failed = [o for o in gate.outcomes if not o.success]
        accepted = sum(o.accepted for o in failed)
        verdict = "held" if gate.held else "passed" if not failed else "passed with warnings"
        out.print(
            f"quality gate {gate.stage}: {verdict}: {len(gate.outcomes) - len(failed)} of "
            f"{count(len(gate.outcomes), 'expectation')} met" + (f", {accepted} accepted" if accepted else "")
        )
        for outcome in gate.warnings:
            out.print(f"  {'accepted' if outcome.accepted else 'warning'}: {outcome.describe()}", soft_wrap=True)
    if gates and gates[-1].docs is not None:
        out.print(f"quality Data Docs: {gates[-1].docs}")


@app.command()
def reprocess(
    source: Annotated[str, typer.Option("--source", help="border, visa or permit.")],
    date: Annotated[str, typer.Option("--date", help="The partition's date (YYYY-MM-DD).")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is reprocessed (recorded, never logged).")],
    landing: LandingOpt = None,
    warehouse: WarehouseOpt = None,
    key_file: KeyOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Re-ingest a processed partition whose files were re-delivered: replace its rows, relink, recompute."""
    from pipeline.nightly.steps import reprocess_step
    from privacy.keys import FileKeyProvider

    day = parse_date(date, "--date")
    settings = load_settings(config, landing=landing, warehouse=warehouse, key_file=key_file)
    provider = FileKeyProvider(key_file) if key_file is not None else None
    with progress_bar() as bar:
        done = reprocess_step(settings, source, day, reason, key_provider=provider, progress=bar)
    out.print(
        f"reprocessed {done.source}/{done.partition_date}: {done.records_before:,} records before, "
        f"{done.records_after:,} now ({done.rows_quarantined:,} quarantined); every person relinked"
        + (", histories recomputed" if done.histories is not None else ""),
        soft_wrap=True,
    )


@app.command("link")
def link_command(
    date: Annotated[str, typer.Option("--date", help="The night the person keys are assigned for (YYYY-MM-DD).")],
    warehouse: WarehouseOpt = None,
    config: ConfigOpt = None,
    full: Annotated[
        bool, typer.Option("--full", help="Relink every record (otherwise only records not linked yet).")
    ] = False,
    linkage_backend: BackendOpt = None,
) -> None:
    """Link the warehouse's records into persons without ingesting (the nightly run does both)."""
    from pipeline.nightly.steps import link_step

    night = parse_date(date, "--date")
    settings = load_settings(config, warehouse=warehouse, linkage_backend=linkage_backend)
    with progress_bar() as bar:
        summary = link_step(settings, night, full=full, progress=bar)
    print_linkage(summary)


@app.command("histories")
def histories_command(
    date: Annotated[str, typer.Option("--date", help="The data cut-off: the last day the records cover (YYYY-MM-DD).")],
    warehouse: WarehouseOpt = None,
    config: ConfigOpt = None,
    full: Annotated[
        bool, typer.Option("--full", help="Recompute every person (otherwise only those touched since the last run).")
    ] = False,
    complete_through: CompleteOpt = None,
) -> None:
    """Classify crossings with the 12/16-month rule and rebuild stays and statistics (the nightly run does this)."""
    from pipeline.nightly.steps import history_step

    night = parse_date(date, "--date")
    settings = load_settings(config, warehouse=warehouse)
    with progress_bar() as bar:
        summary = history_step(
            settings,
            night,
            full=full,
            progress=bar,
            complete_through=parse_optional_date(complete_through, "--complete-through"),
        )
    print_histories(summary)


def print_histories(step: HistoryStepSummary | None) -> None:
    """Two lines on tonight's histories and statistics."""
    if step is None:
        return
    if step.histories is None:
        out.print(f"histories: {step.reason}")
        return
    h = step.histories
    scope = "every person" if h.mode == "full" else f"{count(h.persons, 'person')} touched tonight"
    out.print(
        f"histories ({scope}): {count(h.crossings, 'crossing')}, {h.pending:,} pending, {h.became_final:,} became "
        f"final, {h.revised:,} revised, {count(h.anomalies, 'sequence anomaly', 'sequence anomalies')}; "
        f"{count(h.overstays, 'overstay')}, {count(h.entries_without_visa, 'entry', 'entries')} without a required "
        "visa"
    )
    out.print(f"statistics report: {step.report}")


def print_linkage(link: LinkStepSummary | None) -> None:
    """One or two lines on what the linkage step did."""
    if link is None:
        return
    if link.status != "linked":
        out.print(f"linkage: {link.reason}")
        return
    if link.trained:
        out.print(f"linkage: no model yet, trained model version {link.model_version} first")
    how = "relinked every record" if link.mode == "full" else f"linked {count(link.new_records, 'new record')}"
    out.print(
        f"linkage ({how}): {count(link.records, 'record')} -> {count(link.persons, 'person')} "
        f"({link.new_persons:,} new, {link.merged_keys:,} merged, {link.split_keys:,} split); "
        f"review: {count(link.review_pairs_queued, 'new pair')} queued tonight, "
        f"{count(link.review_pairs_pending, 'pair')} waiting in all"
        + (" (migralink review list)" if link.review_pairs_pending else "")
    )
    out.print(
        f"linkage coherence: {count(link.persons_incompatible_birth_dates, 'person')} with birth dates more than "
        f"one keying error apart, {link.persons_concurrent_documents:,} with two documents of one issuer at once, "
        f"{link.persons_repeated_direction:,} with repeated-direction crossings; largest person "
        f"{count(link.largest_person_records, 'record')}"
    )
    if link.report:
        out.print(f"linkage report: {link.report}")


@app.command()
def publish(
    date: Annotated[str, typer.Option("--date", help="The night whose statistics to release (YYYY-MM-DD).")],
    purpose: Annotated[
        list[str] | None, typer.Option("--purpose", help="A registered purpose (repeatable; default: every one).")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for a release off the calendar.")] = None,
    table: Annotated[
        str | None, typer.Option("--table", help="Release only this table (default: every table granted).")
    ] = None,
    detail: Annotated[
        list[str] | None,
        typer.Option("--detail", help="With --table: a dimension and its detail, e.g. age=broad (repeatable)."),
    ] = None,
    period: Annotated[str | None, typer.Option("--period", help="With --table: month or year.")] = None,
    warehouse: WarehouseOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Release statistics under the purpose register: protected, as SDMX-CSV with a manifest, in the ledger."""
    from pipeline.nightly.steps import publish_step
    from pipeline.publish.release import TableAsk

    night = parse_date(date, "--date")
    if (detail or period) and not table:
        raise typer.BadParameter("--detail and --period need --table")
    dimensions = None
    if detail:
        pairs = [d.split("=", 1) for d in detail]
        if any(len(p) != 2 or not p[0] or not p[1] for p in pairs):
            raise typer.BadParameter("--detail takes DIMENSION=DETAIL, e.g. age=broad")
        dimensions = {name: level for name, level in pairs}
    asks = [TableAsk(table, dimensions, period)] if table else None
    summary = publish_step(
        load_settings(config, warehouse=warehouse), night, purposes=purpose, asks=asks, reason=reason
    )
    assert summary is not None
    print_releases(summary)


def print_releases(summary: PublishSummary | None) -> None:
    """One line per purpose released."""
    for release in summary.released if summary is not None else ():
        cells = sum(t.cells for t in release.tables)
        withheld = sum(t.suppressed for t in release.tables)
        changed = sum(t.perturbed for t in release.tables)
        out.print(
            f"released {release.purpose} ({release.audience}): {count(len(release.tables), 'table')}, "
            f"{count(cells, 'cell')} ({withheld:,} withheld, {changed:,} changed by protection)"
            + (" off the calendar" if release.off_calendar else "")
            + f" -> {release.directory}"
        )


@app.command()
def status(warehouse: WarehouseOpt = None, config: ConfigOpt = None) -> None:
    """Show processed partitions, runs, quarantine counts and schema versions (read only: changes nothing)."""
    from pipeline.warehouse.reads import warehouse_status

    with open_warehouse(load_settings(config, warehouse=warehouse), read_only=True) as con:
        tables = warehouse_status(con)
    for shown in tables:
        table = Table(title=shown.title)
        for column in shown.columns:
            table.add_column(column)
        for row in shown.rows:
            table.add_row(*(str(v) for v in row))
        out.print(table)


@app.command()
def synth(
    out_dir: Annotated[Path, typer.Option("--out", help="Landing-zone directory to write.")],
    persons: Annotated[int, typer.Option("--persons", min=1, help="Number of persons.")] = 2000,
    start: Annotated[str, typer.Option("--start", help="First day (YYYY-MM-DD).")] = "2023-01-01",
    end: Annotated[str, typer.Option("--end", help="Last day (YYYY-MM-DD).")] = "2024-12-31",
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 1,
    names: Annotated[
        str, typer.Option("--names", help="Name mix: legacy (default) or realistic (published name frequencies).")
    ] = "legacy",
) -> None:
    """Write a synthetic landing zone with truth.csv and persons.csv beside it."""
    first, last = parse_date(start, "--start"), parse_date(end, "--end")
    if last < first:
        raise typer.BadParameter("--end must not be before --start")
    from pipeline.synth import generate
    from pipeline.synth.names import NAME_MIXES

    if names not in NAME_MIXES:
        raise typer.BadParameter(f"--names must be one of {', '.join(NAME_MIXES)}")

    with progress_bar() as bar:
        summary = generate(
            out_dir,
            persons=persons,
            start=first,
            end=last,
            seed=seed,
            name_mix=names,
            progress=(lambda d, t: bar("generating", d, t)) if bar else None,
        )
    out.print(
        f"wrote {sum(summary.records.values()):,} records of {summary.persons:,} persons to {out_dir} "
        f"({', '.join(f'{k} {v:,}' for k, v in summary.records.items())})"
    )
    c = summary.concentration
    out.print(
        f"names ({summary.name_mix}): {c.lookalike_persons:,} persons ({c.lookalike_share:.2%}) share family name, "
        f"given names, birth year, sex and nationality with someone else, in {c.groups:,} groups "
        f"(largest {c.largest_group})"
    )


@app.command()
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Where to put the demo data.")] = Path("demo"),
    persons: Annotated[int, typer.Option("--persons", min=1)] = 3000,
) -> None:
    """Generate a landing zone, create a key, run the nightly pipeline and print where the outputs are."""
    from pipeline.nightly.steps import run_nightly
    from pipeline.synth import generate
    from pipeline.synth.nationalities import visa_exempt_codes
    from privacy.keys import write_new_key_file

    landing, warehouse, key_file = directory / "landing", directory / "warehouse", directory / "demo.key"
    directory.mkdir(parents=True, exist_ok=True)
    start, end = dt.date(2023, 1, 1), dt.date(2024, 12, 31)
    if not (landing / "truth.csv").exists():
        with progress_bar() as bar:
            generate(
                landing,
                persons=persons,
                start=start,
                end=end,
                seed=42,
                progress=(lambda d, t: bar("generating", d, t)) if bar else None,
            )
    if not key_file.exists():
        write_new_key_file(key_file)
    settings = load_settings(
        None, landing=landing, warehouse=warehouse, key_file=key_file, visa_exempt=list(visa_exempt_codes())
    )
    with progress_bar() as bar:
        result = run_nightly(settings, end, progress=bar)
    s = result.ingest
    out.print(f"landing zone: {landing} (ground truth in {landing / 'truth.csv'})")
    out.print(f"key file:     {key_file}")
    out.print(f"warehouse:    {warehouse / 'migralink.duckdb'}")
    if result.nothing_to_do:
        out.print("nothing new to process (the demo already ran)")
    else:
        out.print(
            f"processed {len(s.partitions):,} partitions: {s.rows_read:,} rows read, "
            f"{s.rows_accepted:,} accepted, {s.rows_quarantined:,} quarantined"
        )
    print_linkage(result.linkage)
    print_histories(result.histories)
    print_releases(result.releases)
    print_gates(result.gates)
    out.print(f"inspect it with: migralink status --warehouse {warehouse}")
    out.print(f"person keys:     migralink export links --warehouse {warehouse} --out {directory / 'links.csv'}")
    out.print(
        f"crossings:       migralink export crossings --warehouse {warehouse} --out {directory / 'crossings.csv'}"
    )
    out.print(f"privacy log:     migralink audit verify --warehouse {warehouse} --key-file {key_file}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and turn every expected error into one line on stderr."""
    logging.basicConfig(level=logging.WARNING, format="migralink: %(levelname)s: %(message)s")
    for handler in logging.getLogger().handlers:  # Splink sets its loggers to INFO and warns per unseen level
        handler.setLevel(logging.WARNING)
        handler.addFilter(lambda r: not r.name.startswith("splink") or r.levelno >= logging.ERROR)
    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv)
    words = [a for a in args[:3] if not a.startswith("-")][:2]  # "run", "keys rotate": names the lease holder
    try:
        with lock.command_scope(" ".join(words) or "migralink"):
            code = command.main(args=args, prog_name="migralink", standalone_mode=False)
    except typer.Abort:
        err.print("migralink: aborted")
        return 130
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.TyperException as exc:  # usage errors and bad parameters (exit code 2)
        code = int(getattr(exc, "exit_code", 2))
        hint = " (see --help)" if code == 2 else ""
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        err.print(f"migralink: error: {message}{hint}", soft_wrap=True)
        return code
    except MigralinkError as exc:
        err.print(f"migralink: error: {exc}", soft_wrap=True)
        return 1
    except Exception as exc:
        if os.environ.get("MIGRALINK_DEBUG"):
            raise
        problem = environment_problem(exc)
        if problem is not None:
            err.print(f"migralink: error: {problem}", soft_wrap=True)
            return 1
        # Unexpected errors may quote data; show only their type unless debugging is asked for.
        err.print(
            f"migralink: error: unexpected {type(exc).__name__}; rerun with MIGRALINK_DEBUG=1 to see details",
            soft_wrap=True,
        )
        return 1
    return code if isinstance(code, int) else 0  # a command's typer.Exit(n) comes back as its return value


if __name__ == "__main__":
    sys.exit(main())
