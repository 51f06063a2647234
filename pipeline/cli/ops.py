"""Operator commands: ``migralink quarantine ...`` and ``migralink retention ...``.

Thin wrappers over :mod:`pipeline.ingest.quarantine`, :mod:`pipeline.ingest.retention` and
:mod:`pipeline.retention_purge`. Settings come from
:func:`pipeline.nightly.settings.load_settings` (config file, then ``MIGRALINK_*``, then flags: flags win;
``--key-file`` selects the key file whatever ``key_source`` says). Output is counts, names and ids, never record values.
Errors are :class:`~pipeline.errors.PipelineError` or :class:`~privacy.errors.PrivacyError` subclasses with
one-line messages, which ``migralink``'s entry point prints as one line.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline.cli.common import (
    ConfigOpt,
    LandingOpt,
    WarehouseOpt,
    console,
    count,
    open_warehouse,
    parse_date,
    writing_warehouse,
)
from pipeline.nightly.settings import Settings, load_settings
from privacy.keys import Keyring

quarantine_app = typer.Typer(no_args_is_help=True, help="List, export, replay and discard quarantined rows.")
retention_app = typer.Typer(
    no_args_is_help=True, help="Purge what is past its retention period; archive and restore landing partitions."
)

out = console()
err = console(stderr=True)

KeyOpt = Annotated[
    Path | None, typer.Option("--key-file", help="Secret key file (or MIGRALINK_KEY_FILE / key_source).")
]
SourceOpt = Annotated[str | None, typer.Option("--source", help="Only this source (border, visa, permit).")]


def _settings(config: Path | None, **flags: object) -> Settings:
    if flags.get("key_file") is not None:
        flags["key_source"] = "file"  # an explicit --key-file wins over a configured key source
    return load_settings(config, **flags)


def _ring(settings: Settings) -> Keyring:
    from privacy.providers import key_provider_from_settings

    return key_provider_from_settings(settings).load()


@quarantine_app.command("list")
def quarantine_list(warehouse: WarehouseOpt = None, config: ConfigOpt = None, source: SourceOpt = None) -> None:
    """Count unresolved quarantined rows by source and reason."""
    from pipeline.ingest.quarantine import quarantine_counts

    with open_warehouse(_settings(config, warehouse=warehouse)) as con:
        counts = quarantine_counts(con, source=source)
    table = Table(title="unresolved quarantined rows")
    for col in ("source", "reason", "rows"):
        table.add_column(col, justify="right" if col == "rows" else "left")
    for s, reason, n in counts:
        table.add_row(s, reason, f"{n:,}")
    out.print(table)
    out.print(f"total: {sum(n for _s, _r, n in counts):,} unresolved")


@quarantine_app.command("export")
def quarantine_export(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory in the operator zone for the CSV files.")],
    warehouse: WarehouseOpt = None,
    key_file: KeyOpt = None,
    config: ConfigOpt = None,
    source: SourceOpt = None,
) -> None:
    """Write unresolved quarantined rows, opened, to one CSV per source (mode 0600) for fixing."""
    from pipeline.ingest.quarantine import export_quarantine

    settings = _settings(config, warehouse=warehouse, key_file=key_file)
    with open_warehouse(settings) as con:
        paths = export_quarantine(con, _ring(settings), out_dir, source=source)
    if not paths:
        out.print("no unresolved quarantined rows; nothing written")
        return
    err.print(
        "warning: these files hold identifiers in clear: keep them in the operator zone, never share them, "
        "and delete them after the replay"
    )
    for path in paths:
        with path.open(encoding="utf-8", newline="") as fh:
            rows = sum(1 for _ in csv.reader(fh)) - 1
        out.print(f"wrote {rows:,} rows to {path}")


@quarantine_app.command("replay")
def quarantine_replay(
    file: Annotated[Path, typer.Option("--file", help="An exported CSV file, with the rows fixed.")],
    warehouse: WarehouseOpt = None,
    key_file: KeyOpt = None,
    config: ConfigOpt = None,
    show_ids: Annotated[bool, typer.Option("--show-ids", help="List the ids of rows still invalid.")] = False,
) -> None:
    """Re-check the rows of a fixed export file; store those now valid and resolve their entries."""
    from pipeline.ingest.quarantine import replay_quarantine

    settings = _settings(config, warehouse=warehouse, key_file=key_file)
    with open_warehouse(settings) as con:
        summary = replay_quarantine(con, _ring(settings), file)
    still = sum(summary.still_invalid.values())
    out.print(
        f"replay {summary.run_id[:8]}: {summary.rows:,} rows, {summary.replayed:,} stored, {still:,} still invalid"
    )
    for reason, n in summary.still_invalid.items():
        out.print(f"  still invalid {n:,}: {reason}")
    if show_ids:
        for qid, reason in summary.still_invalid_ids:
            out.print(f"  {qid}: {reason}")
    if still:
        out.print("rows still invalid keep their quarantine entries: fix them and replay them again, or discard them")
    err.print(f"warning: {file} holds identifiers in clear; delete it when you are done")


@quarantine_app.command("discard")
def quarantine_discard(
    ids: Annotated[list[str], typer.Option("--id", help="Quarantine id to discard (repeat for several).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (one line; never quote record values).")],
    warehouse: WarehouseOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Close quarantine entries that will never be fixed."""
    from pipeline.ingest.quarantine import discard_quarantine

    with open_warehouse(_settings(config, warehouse=warehouse)) as con:
        n = discard_quarantine(con, ids, reason)
    out.print(f"discarded {n:,} quarantine entries")


@retention_app.command("purge")
def retention_purge(
    landing: LandingOpt = None,
    warehouse: WarehouseOpt = None,
    retention_days: Annotated[
        int | None,
        typer.Option(
            "--retention-days",
            min=1,
            help="Days to keep: at most the purpose register's landing_days, the default (or MIGRALINK_RETENTION_DAYS)",
        ),
    ] = None,
    archive: Annotated[
        Path | None,
        typer.Option("--archive", help="Archive partitions here, sealed, instead of deleting them."),
    ] = None,
    key_file: KeyOpt = None,
    config: ConfigOpt = None,
    today: Annotated[
        str | None, typer.Option("--today", help="Day to count from (YYYY-MM-DD); default today, UTC.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be removed; change nothing.")] = False,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            help="Only this kind of data (repeatable): landing, quarantine, sealed_identifiers, linkage, histories, "
            "releases; default every kind.",
        ),
    ] = None,
    keep: Annotated[
        list[str] | None,
        typer.Option(
            "--keep",
            help="A shorter period for a kind other than landing, e.g. quarantine=90 (repeatable; at most the "
            "register's).",
        ),
    ] = None,
) -> None:
    """Remove what is past its retention period: processed landing partitions (never unprocessed ones), quarantined
    rows, sealed identifiers and pseudonyms, history detail and old releases (see docs/operations.md).

    Each period is the purpose register's (``MIGRALINK_PURPOSES`` may name the register file); a setting may only
    shorten it.
    """
    from pipeline.retention_purge import retention_plan, retention_step
    from privacy.register import load_register

    day = parse_date(today, "--today") if today is not None else dt.datetime.now(dt.UTC).date()
    keep_days = _keep_days(keep or [])
    settings = _settings(
        config,
        landing=landing,
        warehouse=warehouse,
        key_file=key_file,
        retention_days=retention_days,
        landing_archive=archive,
    )
    if retention_days is not None:
        given_as = "--retention-days"
    elif os.environ.get("MIGRALINK_RETENTION_DAYS"):
        given_as = "MIGRALINK_RETENTION_DAYS"
    else:
        given_as = "retention_days in the config file"
    register = load_register()
    plan = retention_plan(  # every period is checked (and refused) before anything runs
        register, day, kind, landing_days=settings.retention_days, landing_given_as=given_as, keep=keep_days
    )
    summary = retention_step(
        settings,
        day,
        kinds=[p.kind for p in plan],
        keep=keep_days,
        dry_run=dry_run,
        landing_given_as=given_as,
        register=register,
    )
    for period, purged in zip(plan, summary.kinds, strict=True):
        what = "landing files" if period.kind == "landing" else period.kind
        out.print(f"retention: {count(period.days, 'day')} for {what}, from {period.source}")
        if purged.landing is None:
            for line in purged.leftovers:
                out.print(f"{purged.kind}: {line}")
            out.print(f"{purged.kind}: {purged.describe()}")
            continue
        landed = purged.landing
        verb = "would remove" if dry_run else ("archived and removed" if settings.landing_archive else "removed")
        out.print(
            f"{verb} {len(landed.actions):,} partitions dated before {landed.cutoff} "
            f"({landed.files:,} files, {landed.bytes:,} bytes)"
        )
        for line in landed.leftovers:
            out.print(line)
        out.print(f"kept {landed.kept_recent:,} partitions within retention")
        if landed.kept_unprocessed:
            out.print(f"kept {len(landed.kept_unprocessed):,} partitions past retention that are not processed yet")
        for name, why in landed.kept_unsafe.items():
            err.print(f"warning: kept {name} past retention: {why}")


def _keep_days(values: list[str]) -> dict[str, int]:
    """``--keep quarantine=90`` options as {kind: days}."""
    keep: dict[str, int] = {}
    for value in values:
        name, _, days = value.partition("=")
        if not name.strip() or not days.strip().isdigit():
            raise typer.BadParameter("--keep takes KIND=DAYS, e.g. quarantine=90")
        keep[name.strip()] = int(days)
    return keep


@retention_app.command("restore")
def retention_restore(
    file: Annotated[Path, typer.Option("--file", help="Archive file <archive>/<source>/<YYYY-MM-DD>.tar.mla.")],
    landing: LandingOpt = None,
    warehouse: WarehouseOpt = None,
    key_file: KeyOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Put an archived landing partition back, byte for byte (it stays processed: ingest will not re-read it)."""
    from pipeline.ingest.retention import restore_archive

    settings = _settings(config, landing=landing, warehouse=warehouse, key_file=key_file).require("landing")
    assert settings.landing is not None
    ring = _ring(settings)
    with writing_warehouse(settings) as con:
        action = restore_archive(file, settings.landing, ring=ring, con=con)
    out.print(
        f"restored {action.source}/{action.partition_date} ({action.files:,} files, {action.bytes:,} bytes) "
        f"to {settings.landing}"
    )
