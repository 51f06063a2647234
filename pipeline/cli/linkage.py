"""Command-line front doors for linkage: the clerical review queue, the models (train, compare, promote) and the
links export."""

from __future__ import annotations

import datetime as dt
import getpass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from pipeline.cli.common import (
    ConfigOpt,
    WarehouseOpt,
    connect_warehouse,
    console,
    count,
    open_warehouse,
    writing_warehouse,
)
from pipeline.errors import PipelineError
from pipeline.nightly.settings import load_settings

review_app = typer.Typer(no_args_is_help=True, help="Review uncertain pairs (pseudonymous: no names are shown).")
model_app = typer.Typer(no_args_is_help=True, help="Train, compare, promote and inspect linkage models.")
export_app = typer.Typer(no_args_is_help=True, help="Export linkage results.")
out = console()


@review_app.command("list")
def review_list(
    warehouse: WarehouseOpt = None,
    config: ConfigOpt = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 20,
    output: Annotated[
        str, typer.Option("--format", help="table (default), csv or json: whole pair ids whatever the terminal width.")
    ] = "table",
) -> None:
    """Show pending pairs, most uncertain first, with their match weight and agreement pattern."""
    from linkage import pending_pairs

    if output not in ("table", "csv", "json"):
        raise typer.BadParameter("--format must be table, csv or json")
    con = connect_warehouse(load_settings(config, warehouse=warehouse))
    try:
        pairs = pending_pairs(con, limit)
    finally:
        con.close()
    if output != "table":
        _print_pairs(pairs, output)
        return
    if not pairs:
        out.print("no pairs waiting for review")
        return
    table = Table(title="pairs waiting for review")
    table.add_column("pair id", no_wrap=True, min_width=20)
    for col in ("record", "record", "match weight", "agreement (comparison levels)"):
        table.add_column(col)
    for p in pairs:
        table.add_row(p.pair_id, p.unique_id_l, p.unique_id_r, f"{p.match_weight:.2f}", p.agreement)
    out.print(table)


def _print_pairs(pairs: list[Any], output: str) -> None:
    """Pending pairs as CSV or JSON lines on stdout (pseudonymous: ids, weights and agreement patterns only)."""
    import csv
    import json
    import sys

    fields = ("pair_id", "unique_id_l", "unique_id_r", "match_weight", "agreement")
    rows = [{f: getattr(p, f) for f in fields} for p in pairs]
    if output == "json":
        sys.stdout.write(json.dumps(rows, indent=1) + "\n")
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def _decide(
    pair_ids: list[str], decision: str, reviewer: str | None, warehouse: Path | None, config: Path | None
) -> None:
    from linkage import ReviewError, decide
    from pipeline.warehouse.connection import transaction

    try:
        with writing_warehouse(load_settings(config, warehouse=warehouse)) as con, transaction(con):
            n = decide(con, pair_ids, decision, reviewer=reviewer or getpass.getuser(), at=dt.datetime.now(dt.UTC))
    except ReviewError as exc:
        raise PipelineError(str(exc)) from None
    out.print(f"{decision} {count(n, 'pair')}; the next night's linkage applies the decision")


ReviewerOpt = Annotated[str | None, typer.Option("--reviewer", help="Who decides (default: the OS user).")]
PairIds = Annotated[list[str], typer.Argument(help="Pair ids from `migralink review list`.")]


@review_app.command("accept")
def review_accept(
    pair_ids: PairIds, reviewer: ReviewerOpt = None, warehouse: WarehouseOpt = None, config: ConfigOpt = None
) -> None:
    """Declare pairs to be the same person."""
    _decide(pair_ids, "accepted", reviewer, warehouse, config)


@review_app.command("reject")
def review_reject(
    pair_ids: PairIds, reviewer: ReviewerOpt = None, warehouse: WarehouseOpt = None, config: ConfigOpt = None
) -> None:
    """Declare pairs to be different persons."""
    _decide(pair_ids, "rejected", reviewer, warehouse, config)


@review_app.command("undo")
def review_undo(
    pair_ids: PairIds,
    reason: Annotated[str, typer.Option("--reason", help="Why the decision is revised (recorded).")],
    reviewer: ReviewerOpt = None,
    warehouse: WarehouseOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Revise decisions: return decided pairs to the queue; the next night reclusters their persons."""
    from linkage import ReviewError, undo_decisions
    from pipeline.warehouse.connection import transaction

    try:
        with writing_warehouse(load_settings(config, warehouse=warehouse)) as con, transaction(con):
            undone = undo_decisions(
                con, pair_ids, reviewer=reviewer or getpass.getuser(), reason=reason, at=dt.datetime.now(dt.UTC)
            )
    except ReviewError as exc:
        raise PipelineError(str(exc)) from None
    was = ", ".join(f"{pair} (was {decision})" for pair, decision in undone.items())
    out.print(f"undid {count(len(undone), 'decision')}: {was}; the pairs wait for review again")


@review_app.command("log")
def review_log(
    pair_id: Annotated[str | None, typer.Argument(help="One pair id (default: every decision).")] = None,
    warehouse: WarehouseOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Every review decision and revision, newest first: who, when, why."""
    from linkage import decision_log

    con = connect_warehouse(load_settings(config, warehouse=warehouse))
    try:
        rows = decision_log(con, pair_id)
    finally:
        con.close()
    if not rows:
        out.print("no review decisions yet" if pair_id is None else f"no decisions on pair {pair_id}")
        return
    table = Table(title="review decisions")
    table.add_column("pair id", no_wrap=True, min_width=20)
    for col in ("decision", "reviewer", "at (UTC)", "reason"):
        table.add_column(col)
    for pair, decision, reviewer, at, reason in rows:
        table.add_row(str(pair), str(decision), str(reviewer), f"{at:%Y-%m-%d %H:%M}", str(reason or ""))
    out.print(table)


@export_app.command("links")
def export_links(
    out_file: Annotated[Path, typer.Option("--out", help="CSV file to write (source, record_id, person_key).")],
    warehouse: WarehouseOpt = None,
    config: ConfigOpt = None,
) -> None:
    """One row per ingested record: source, record_id, person_key."""
    from pipeline.warehouse.reads import export_links as write_links

    with open_warehouse(load_settings(config, warehouse=warehouse), read_only=True) as con:
        done = write_links(con, out_file)
    note = f" ({done.not_ready:,} records not linked yet)" if done.not_ready else ""
    out.print(f"wrote {done.rows:,} links to {out_file}{note}")


@model_app.command("train")
def model_train(
    warehouse: WarehouseOpt = None,
    config: ConfigOpt = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the u sampling (same data and seed, same model).")
    ] = 20240101,
    candidate: Annotated[
        bool,
        typer.Option(
            "--candidate", help="Save it as a candidate: not used until `model promote` (after `model compare`)."
        ),
    ] = False,
) -> None:
    """Train a new model version on the whole warehouse (u by random sampling, m by EM); nightly runs use it at
    once, unless it is saved as a candidate (--candidate)."""
    if candidate:
        from pipeline.nightly.maintenance import train_candidate_step

        trained = train_candidate_step(load_settings(config, warehouse=warehouse), seed=seed)
        out.print(
            f"trained candidate linkage model version {trained['candidate_version']} "
            f"({str(trained['candidate_id'])[:8]}) on {count(int(trained['records']), 'record')} in "
            f"{trained['seconds']:.1f} s; nightly runs keep the current model until it is promoted: "
            f"`migralink model compare v{trained['candidate_version']}`, then `migralink model promote "
            f"v{trained['candidate_version']}`"
        )
        return
    from pipeline.nightly.linking import check_training_data, train_and_save

    con = connect_warehouse(load_settings(config, warehouse=warehouse))
    try:
        check_training_data(con)
        model = train_and_save(con, seed=seed)
    finally:
        con.close()
    s = model.summary
    out.print(
        f"trained linkage model version {model.version} ({model.model_id[:8]}) on {count(s.records, 'record')} "
        f"({count(s.entities, 'distinct identity', 'distinct identities')}: records with identical pseudonyms are "
        f"compared once) in {s.seconds:.1f} s; prior match probability {s.prior:.2e}"
    )


@model_app.command("list")
def model_list(warehouse: WarehouseOpt = None, config: ConfigOpt = None) -> None:
    """Show the saved model versions: status (candidate or promoted), which one is current (nightly runs use it) and
    the last promotion decision on each."""
    from linkage import list_models

    con = connect_warehouse(load_settings(config, warehouse=warehouse), read_only=True)
    try:
        rows = list_models(con)
    finally:
        con.close()
    if not rows:
        out.print("no linkage model yet")
        return
    table = Table(title="linkage models (the current one is used by nightly runs)")
    for col in ("version", "model", "status", "created", "promoted", "link threshold", "review threshold", "decision"):
        table.add_column(col)
    for row in rows:
        status = "current" if row.current else row.status
        decision = row.last_decision or ""
        if row.last_failed:
            decision += f" ({', '.join(row.last_failed)})"
        table.add_row(
            str(row.version),
            row.model_id[:8],
            status,
            f"{row.created_at:%Y-%m-%d %H:%M}",
            f"{row.promoted_at:%Y-%m-%d %H:%M}" if row.promoted_at else "",
            f"{row.link_threshold:g}",
            f"{row.review_threshold:g}",
            decision,
        )
    out.print(table)


CandidateArg = Annotated[
    str, typer.Argument(help="The candidate: its id (or the first 8 characters `model list` shows), or vN.")
]


def _print_comparison(found: dict[str, Any]) -> None:
    """The comparison of a candidate with the current model as a table and a verdict (counts only)."""
    from linkage import Comparison

    c = Comparison.from_dict(found)
    current = f"v{c.current_version}" if c.current_version is not None else "none"
    table = Table(
        title=f"candidate v{c.candidate_version} against the current model ({current}) on {c.records:,} records"
    )
    for col in ("measure", f"current ({current})", f"candidate v{c.candidate_version}"):
        table.add_column(col)
    d = c.decisions
    table.add_row(
        f"wrong review decisions (of {d.decided}: {d.accepted} same, {d.rejected} different)",
        "" if d.current_wrong is None else str(d.current_wrong),
        str(d.candidate_wrong),
    )
    for label, name in (
        ("persons", "persons"),
        ("largest person (records)", "largest_person_records"),
        ("persons with incompatible birth dates", "persons_incompatible_birth_dates"),
        ("persons with birth years more than one apart", "persons_birth_years_apart"),
        ("persons with concurrent documents", "persons_concurrent_documents"),
        ("persons with repeated-direction crossings", "persons_repeated_direction"),
        ("links (pairs at or above the link threshold)", "links"),
    ):
        table.add_row(
            label, "" if c.current is None else f"{getattr(c.current, name):,}", f"{getattr(c.candidate, name):,}"
        )
    if c.current is not None:
        table.add_row("records that would change person", "", f"{c.records_changing_person:,}")
        table.add_row("current persons merged / split", "", f"{c.persons_merged:,} / {c.persons_split:,}")
    out.print(table)
    for note in c.notes:
        out.print(f"note: {note}")
    if c.not_worse:
        out.print(f"verdict: candidate v{c.candidate_version} is not worse than the current model ({c.seconds:.1f} s)")
    else:
        out.print(f"verdict: candidate v{c.candidate_version} is worse: {'; '.join(c.explain())} ({c.seconds:.1f} s)")


@model_app.command("compare")
def model_compare(candidate: CandidateArg, warehouse: WarehouseOpt = None, config: ConfigOpt = None) -> None:
    """Compare a candidate with the current model: wrong review decisions, and what a full relink with it would do
    to the persons (the linkage gate's measures). Reads only; changes nothing."""
    from pipeline.nightly.maintenance import compare_models_step

    _print_comparison(compare_models_step(load_settings(config, warehouse=warehouse), candidate))


@model_app.command("promote")
def model_promote(
    candidate: CandidateArg,
    warehouse: WarehouseOpt = None,
    config: ConfigOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Promote it even when it is worse than the current model (needs --reason).")
    ] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (recorded); required with --force.")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who decides (default: the OS user).")] = None,
) -> None:
    """Compare a candidate with the current model and promote it when it is not worse (the next night relinks every
    record with it); a worse candidate is refused unless --force --reason TEXT. The decision is recorded."""
    from pipeline.nightly.maintenance import compare_models_step, promote_step, refused
    from pipeline.warehouse.lock import write_lock

    if force and not (reason or "").strip():
        raise PipelineError("--force needs --reason TEXT: why the candidate is promoted anyway (it is recorded)")
    settings = load_settings(config, warehouse=warehouse)
    settings.require("warehouse")
    assert settings.warehouse is not None
    connect_warehouse(settings, read_only=True).close()  # the warehouse must exist and be readable
    with write_lock(settings.warehouse, "model promote"):  # nothing is written between comparing and promoting
        found = compare_models_step(settings, candidate)
        _print_comparison(found)
        result = promote_step(
            settings, candidate, found, decided_by=by or getpass.getuser(), force=force, reason=reason
        )
    error = refused(result)
    if error is not None:
        raise error
    if result["decision"] == "current":
        out.print(f"model v{result['model_version']} is the current model already; nothing to do")
        return
    forced = " (forced)" if result["forced"] else ""
    out.print(
        f"promoted model v{result['model_version']}{forced}: {result['reason']}; the next night that links "
        "relinks every record with it (or now: `migralink link --date D --full`)"
    )


@export_app.command("crossings")
def export_crossings(
    out_file: Annotated[Path, typer.Option("--out", help="CSV file to write (one row per border record).")],
    warehouse: WarehouseOpt = None,
    config: ConfigOpt = None,
) -> None:
    """One row per border record: record_id, person_key, direction, crossing_date, residence_before,
    residence_after, long_term_migration (true, false or pending), resolved_date."""
    from pipeline.warehouse.reads import export_crossings as write_crossings

    with open_warehouse(load_settings(config, warehouse=warehouse), read_only=True) as con:
        done = write_crossings(con, out_file)
    out.print(f"wrote {done.rows:,} crossings to {out_file} ({done.not_ready:,} pending: provisional until resolved)")
