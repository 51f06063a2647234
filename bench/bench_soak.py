"""Soak benchmark: generated nights back to back through the ``migration_nightly`` DAG in one process.

Generates a landing zone with the synthetic generator (realistic name mix; one partition per source and day
from 2026-01-01, the DAG's start date, over at least 60 days and one day more than the nights, so that the last
night must leave tomorrow's partitions alone), a key, the privacy log's signing key and a fresh Airflow home
(``airflow db migrate``; SQLite and the environment of ``tests/dags``). Then runs the DAG ``migration_nightly``
with ``dag.test()`` for ``--nights`` consecutive logical dates in this one process: the night of logical date
D+1 02:00 UTC processes the partitions of day D, through every task (check_key, the three deferrable sensors,
begin_night, ingest, the four gates, linkage, classification, releases, commit_night). Generation and the
Airflow migration run in child processes, so the memory figures are the nights' own.

Per night: wall time of ``dag.test()``, the run's and every task's state (all success; a sensor may be skipped
only when its source has no partition that day), rows read / accepted / quarantined from the warehouse
(``meta_runs`` of the night and ``meta_partitions`` of day D, which must agree, with read == accepted +
quarantined, and no partition after D processed), this process's RSS after the night (VmRSS after
``gc.collect()``) and its peak RSS during the night (VmHWM, reset before each night through
``/proc/self/clear_refs``). Every task's own wall time and the RSS change across it are kept too, to tell which
step grows when memory does.

At the end: the privacy log verified as ``migralink audit verify`` does it, and two memory checks. A line fitted
to the RSS after nights 11 to N (after the warm-up) must rise by at most ``--max-slope`` MiB a night. Then night
N+1 runs twice on the same data: first in a fresh process (a child, on a copy of the landing zone, the warehouse
and the Airflow home), then in this long-lived process; this process's peak RSS during that night and its RSS
after it may exceed the fresh process's by at most ``--fresh-tolerance``. Memory that the grown warehouse
explains (linkage reads all of it) shows in both; memory a long-lived process keeps from night to night shows
only here. Prints PASS/FAIL per property, exits 1 on any FAIL, and draws ``docs/images/soak.png`` (seconds per
night; RSS after and peak RSS during each night, and the fresh process's night) with Altair and vl-convert
(project dependencies). Airflow's own log output goes to ``<work dir>/airflow.log``, the per-night figures to
``<work dir>/soak.json``; the work directory (``--out``, else a temporary one) is removed at the end unless
``--keep``.

    python bench/bench_soak.py [--nights 60] [--persons 30000] [--out DIR] [--keep] [--chart PATH] [--no-fresh]

The default (60 nights of 30,000 persons, about 700 records a night) took 13 minutes on 2 shared cores at a load
of about 1, and 24 minutes at a load of 4 to 5 (the fresh process's night included). Linux only (``/proc``).
It is not part of the test run. Other processes on a shared machine slow it: the load average is printed at the
start and the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "dags"))

from dag_test_support import (  # the Airflow environment of the DAG tests (imports no airflow)
    AIRFLOW_ENV,
    NIGHTLY_TASKS,
    REPO,
    output_to,
)

FIRST_DAY = dt.date(2026, 1, 1)  # the DAG's start_date: no task instances before it
DAG_ID = "migration_nightly"
SOURCES = ("border", "visa", "permit")
TASKS = NIGHTLY_TASKS
WARM_UP = 10  # nights before the memory checks start
LANDING_DAYS = 60  # the landing zone's window is at least this long, whatever --nights is


def say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def rss_mib() -> float:
    """This process's resident set size now (VmRSS), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def peak_mib() -> float:
    """This process's peak RSS since it started or since the last :func:`reset_peak` (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    """Start measuring the peak RSS afresh (Linux: writing 5 to clear_refs sets VmHWM to the current RSS)."""
    Path("/proc/self/clear_refs").write_text("5")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min, {os.cpu_count()} cores)"


def verdict(ok: bool | None) -> str:
    return "SKIPPED" if ok is None else ("PASS" if ok else "FAIL")


# --- child process: the landing zone and the keys ---------------------------------------------------------


def prepare(root: Path, persons: int, last_day: dt.date) -> dict[str, Any]:
    """Generate the landing zone (FIRST_DAY to ``last_day``), the key and the privacy log's signing key."""
    from pipeline.synth import generate
    from privacy.audit.heads import new_signing_key_file
    from privacy.keys import write_new_key_file

    began = time.perf_counter()
    synth = generate(root / "landing", persons=persons, start=FIRST_DAY, end=last_day, seed=1, name_mix="realistic")
    write_new_key_file(root / "migralink.key")
    new_signing_key_file(root / "migralink.key.audit.pem")  # as `migralink keys init` does
    return {"records": dict(synth.records), "seconds": time.perf_counter() - began, "peak_mib": peak_mib()}


def in_child(function: Any, *args: Any) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


# --- the nights ---------------------------------------------------------------------------------------------


@dataclass
class Night:
    number: int
    day: dt.date  # the partitions' day; the logical date is the next day at 02:00 UTC
    seconds: float = 0.0
    state: str = ""
    tasks: dict[str, str] = field(default_factory=dict)
    task_seconds: dict[str, float] = field(default_factory=dict)
    task_rss: dict[str, float] = field(default_factory=dict)  # RSS change over each task, MiB
    missing: tuple[str, ...] = ()  # sources without a partition of ``day``
    read: int = 0
    accepted: int = 0
    quarantined: int = 0
    partitions: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # source: read, accepted, quar.
    beyond: int = 0  # partitions processed dated after ``day`` (must be 0)
    rss: float = 0.0  # RSS after the night and the checks (after gc.collect())
    peak: float = 0.0  # peak RSS during the night's dag.test() (VmHWM, reset before it)
    state_problems: list[str] = field(default_factory=list)  # run and task states
    count_problems: list[str] = field(default_factory=list)  # rows and partitions

    @property
    def problems(self) -> list[str]:
        return self.state_problems + self.count_problems


class TaskProbe:
    """Wraps ``dag.test()``'s ``_run_task`` to time each task and read the RSS after it."""

    def __init__(self) -> None:
        import airflow.sdk.definitions.dag as dag_module

        self.module = dag_module
        self.original = dag_module._run_task
        self.night: Night | None = None

        def run_task(**kwargs: Any) -> Any:
            began, before = time.perf_counter(), rss_mib()
            try:
                return self.original(**kwargs)
            finally:
                if self.night is not None:
                    task_id = kwargs["ti"].task_id
                    self.night.task_seconds[task_id] = (
                        self.night.task_seconds.get(task_id, 0.0) + time.perf_counter() - began
                    )
                    self.night.task_rss[task_id] = self.night.task_rss.get(task_id, 0.0) + rss_mib() - before

        dag_module._run_task = run_task


def warehouse_counts(warehouse: Path, night: Night) -> None:
    """Rows read / accepted / quarantined of the night from meta_runs and meta_partitions; checks them."""
    from pipeline.warehouse.connection import connect

    con = connect(warehouse, read_only=True)
    try:
        runs = con.execute(
            "SELECT count(*), coalesce(sum(rows_read), 0), coalesce(sum(rows_accepted), 0), "
            "coalesce(sum(rows_quarantined), 0) FROM meta_runs WHERE run_date = ?",
            [night.day],
        ).fetchall()[0]
        parts = con.execute(
            "SELECT source, rows_read, rows_accepted, rows_quarantined FROM meta_partitions "
            "WHERE partition_date = ? ORDER BY source",
            [night.day],
        ).fetchall()
        night.beyond = con.execute(
            "SELECT count(*) FROM meta_partitions WHERE partition_date > ?", [night.day]
        ).fetchall()[0][0]
    finally:
        con.close()
    count, night.read, night.accepted, night.quarantined = (int(v) for v in runs)
    night.partitions = {source: (int(r), int(a), int(q)) for source, r, a, q in parts}
    if count != 1:
        night.count_problems.append(f"{count} meta_runs rows for run date {night.day} (expected 1)")
    if night.read != night.accepted + night.quarantined:
        night.count_problems.append(
            f"meta_runs: read {night.read:,} != accepted {night.accepted:,} + quarantined {night.quarantined:,}"
        )
    for source, (r, a, q) in night.partitions.items():
        if r != a + q:
            night.count_problems.append(f"meta_partitions {source}: read {r:,} != accepted {a:,} + quarantined {q:,}")
    totals = [sum(p[i] for p in night.partitions.values()) for i in range(3)]
    if totals != [night.read, night.accepted, night.quarantined]:
        night.count_problems.append(f"meta_partitions of {night.day} {totals} disagree with meta_runs")
    expected = sorted(set(SOURCES) - set(night.missing))
    if sorted(night.partitions) != expected:
        night.count_problems.append(
            f"partitions of {night.day} processed: {sorted(night.partitions)}, expected {expected}"
        )
    if night.beyond:
        night.count_problems.append(f"{night.beyond} partitions dated after {night.day} were processed")


def check_states(night: Night) -> None:
    if night.state != "success":
        night.state_problems.append(f"DAG run {night.state}")
    for task_id in TASKS:
        state = night.tasks.get(task_id, "missing")
        source = task_id.removeprefix("wait_")
        expected = "skipped" if task_id.startswith("wait_") and source in night.missing else "success"
        if state != expected:
            night.state_problems.append(f"{task_id} {state} (expected {expected})")


def load_dag(log: Path) -> tuple[Any, TaskProbe]:
    """Import Airflow (the environment is set by now) and load the DAG from the DAG folder."""
    from airflow.dag_processing.dagbag import BundleDagBag

    dags = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    with output_to(log):
        bag = BundleDagBag(dag_folder=dags, bundle_path=dags, bundle_name="dags-folder")
    assert not bag.import_errors, bag.import_errors
    return bag.dags[DAG_ID], TaskProbe()


def run_night(dag: Any, probe: TaskProbe, root: Path, number: int, log: Path) -> Night:
    """Night ``number`` (the partitions of day FIRST_DAY + number - 1) through ``dag.test()``, checked."""
    from airflow.utils.session import create_session

    day = FIRST_DAY + dt.timedelta(days=number - 1)
    night = Night(number, day)
    landing = root / "landing"
    night.missing = tuple(
        s
        for s in SOURCES
        if not (landing / s / day.isoformat()).is_dir() or not any((landing / s / day.isoformat()).iterdir())
    )
    logical = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(2), tzinfo=dt.UTC)
    probe.night = night
    gc.collect()
    reset_peak()  # the peak of this night alone
    began = time.perf_counter()
    with output_to(log):
        run = dag.test(logical_date=logical)
    night.seconds = time.perf_counter() - began
    night.peak = peak_mib()
    probe.night = None
    with create_session() as session:
        night.tasks = {ti.task_id: str(ti.state) for ti in run.get_task_instances(session=session)}
    night.state = str(run.state)
    check_states(night)
    warehouse_counts(root / "warehouse", night)
    gc.collect()
    night.rss = rss_mib()
    return night


def print_night(night: Night, label: str = "") -> None:
    state = "ok" if not night.problems else "; ".join(night.problems)
    if night.missing:
        state += f" (no {', '.join(night.missing)} partition that day: sensor skipped)"
    print(
        f"{night.number:>5}  {night.day}  {night.seconds:7.1f}  {night.read:>6,}  {night.accepted:>8,}  "
        f"{night.quarantined:>5,}  {night.rss:7,.0f}  {night.peak:8,.0f}  {state}{label}",
        flush=True,
    )


def run_nights(args: argparse.Namespace, root: Path, log: Path) -> tuple[list[Night], float, Any, TaskProbe]:
    """Load the DAG and run the nights; returns them, the RSS before the first, the DAG and the task probe."""
    dag, probe = load_dag(log)
    gc.collect()
    baseline = rss_mib()
    say(f"Airflow imported and the DAG loaded: RSS {baseline:,.0f} MiB, peak {peak_mib():,.0f} MiB")
    print()
    print(
        f"{'night':>5}  {'date':10}  {'seconds':>7}  {'read':>6}  {'accepted':>8}  {'quar.':>5}  "
        f"{'RSS MiB':>7}  {'peak MiB':>8}  state  (RSS after the night, peak RSS during it)",
        flush=True,
    )
    nights: list[Night] = []
    for number in range(1, args.nights + 1):
        nights.append(run_night(dag, probe, root, number, log))
        print_night(nights[-1])
    return nights, baseline, dag, probe


# --- the same night in a fresh process ----------------------------------------------------------------------


def fresh_night(root: Path, number: int) -> tuple[Night, float]:
    """Night ``number`` in a fresh process on a copy of the landing zone, the warehouse and the Airflow home.

    Returns the night and the fresh process's RSS before it (Airflow imported, the DAG loaded)."""
    copy = root / "fresh"
    copy.mkdir()
    for name in ("landing", "warehouse", "airflow-home"):
        shutil.copytree(root / name, copy / name, symlinks=True)
    config = copy / "airflow-home" / "airflow.cfg"
    if config.exists():  # `airflow db migrate` wrote the home's absolute paths into it
        config.write_text(config.read_text().replace(str(root / "airflow-home"), str(copy / "airflow-home")))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(copy / "airflow-home"),
        "MIGRALINK_LANDING": str(copy / "landing"),
        "MIGRALINK_WAREHOUSE": str(copy / "warehouse"),
    }
    subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--fresh-night", str(number), "--out", str(copy)],
        cwd=REPO,
        env=env,
        check=True,
        timeout=3600,
    )
    result = json.loads((copy / "fresh.json").read_text())
    fields = {k: v for k, v in result["night"].items() if k not in ("day", "missing")}
    night = Night(
        day=dt.date.fromisoformat(result["night"]["day"]), missing=tuple(result["night"]["missing"]), **fields
    )
    return night, result["baseline"]


def fresh_main(number: int, root: Path) -> None:
    """The child of :func:`fresh_night`: load the DAG, run the one night, write ``<root>/fresh.json``."""
    log = root / "airflow.log"
    dag, probe = load_dag(log)
    gc.collect()
    baseline = rss_mib()
    night = run_night(dag, probe, root, number, log)
    (root / "fresh.json").write_text(json.dumps({"night": asdict(night), "baseline": baseline}, default=str))


# --- the verdicts -------------------------------------------------------------------------------------------


def verify_log(root: Path) -> tuple[bool, str]:
    """The privacy log checked as ``migralink audit verify`` does (pipeline/cli/audit.py)."""
    from pipeline.warehouse.connection import connect
    from privacy.audit.heads import load_signing_key
    from privacy.audit.log import verify

    key = load_signing_key(root / "migralink.key.audit.pem").public_key()
    con = connect(root / "warehouse", read_only=True)
    try:
        result = verify(con, key)
    finally:
        con.close()
    return result.ok, result.summary


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    rank = share * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def slope(xs: list[float], ys: list[float]) -> float:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def draw(nights: list[Night], path: Path, title: str, fresh: Night | None = None) -> None:
    """Two panels: seconds per night; RSS after and peak RSS during each night (Altair rendered by vl-convert).

    ``fresh``: the last night run again in a fresh process, drawn as two points of its own."""
    import altair as alt
    import pandas as pd
    import vl_convert as vlc

    times = pd.DataFrame({"night": [n.number for n in nights], "seconds": [n.seconds for n in nights]})
    rows = [{"night": n.number, "MiB": n.rss, "series": "RSS after the night"} for n in nights]
    rows += [{"night": n.number, "MiB": n.peak, "series": "peak RSS during the night"} for n in nights]
    if fresh is not None:
        rows += [
            {"night": fresh.number, "MiB": fresh.rss, "series": "fresh process: RSS after"},
            {"night": fresh.number, "MiB": fresh.peak, "series": "fresh process: peak"},
        ]
    memory = pd.DataFrame(rows)
    x = alt.X(
        "night:Q",
        title="night",
        scale=alt.Scale(domain=[1, max(max(n.number for n in nights), 2)]),
        axis=alt.Axis(format="d", tickMinStep=1),
    )
    top = (
        alt.Chart(times, title="seconds per night (dag.test)")
        .mark_line(point=True)
        .encode(x=x, y=alt.Y("seconds:Q", title="seconds", scale=alt.Scale(zero=True)))
        .properties(width=640, height=200)
    )
    series = ["RSS after the night", "peak RSS during the night", "fresh process: RSS after", "fresh process: peak"]
    color = alt.Color(
        "series:N",
        title=None,
        scale=alt.Scale(domain=series, range=["#4c78a8", "#f58518", "#4c78a8", "#f58518"]),
        legend=alt.Legend(orient="bottom", columns=2),
    )
    y = alt.Y("MiB:Q", title="MiB", scale=alt.Scale(zero=False))
    lines = (
        alt.Chart(memory[~memory.series.str.startswith("fresh")], title="memory of the process")
        .mark_line(point=True)
        .encode(x=x, y=y, color=color)
    )
    points = (
        alt.Chart(memory[memory.series.str.startswith("fresh")])
        .mark_point(shape="diamond", size=160, filled=True, stroke="black", strokeWidth=1)
        .encode(x=x, y=y, color=color)
    )
    bottom = (lines + points).properties(width=640, height=200)
    chart = alt.vconcat(top, bottom, title=title).configure(background="white")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(vlc.vegalite_to_png(chart.to_json(), scale=2))


def report(
    args: argparse.Namespace,
    nights: list[Night],
    baseline: float,
    wall: float,
    comparison: tuple[Night, Night, float] | None,
) -> bool:
    """Summary, PASS/FAIL lines; returns whether everything passed.

    ``comparison``: the night after the last one, run by this process and by a fresh process on a copy of the
    warehouse (and the fresh process's RSS before it)."""
    seconds = [n.seconds for n in nights]
    records = sum(n.read for n in nights)
    print()
    print("summary")
    print(
        f"  {len(nights)} nights in {wall:.1f} s ({wall / 60:.1f} min) of dag.test(); night median "
        f"{statistics.median(seconds):.1f} s, 95th percentile {percentile(seconds, 0.95):.1f} s, "
        f"min {min(seconds):.1f} s, max {max(seconds):.1f} s"
    )
    print(
        f"  {records:,} records read ({sum(n.accepted for n in nights):,} accepted, "
        f"{sum(n.quarantined for n in nights):,} quarantined): {records / wall:,.0f} records/s over the nights"
    )
    overhead = [n.seconds - sum(n.task_seconds.values()) for n in nights]
    print(
        f"  dag.test() around the tasks (DAG bundle sync, scheduling loop): median {statistics.median(overhead):.1f} s "
        "a night"
    )
    print("  per task, median seconds a night (first night, last night):")
    for task_id in TASKS:
        values = [n.task_seconds.get(task_id, 0.0) for n in nights]
        print(f"    {task_id:20} {statistics.median(values):6.2f}  ({values[0]:.2f}, {values[-1]:.2f})")
    print(
        f"  memory: RSS {baseline:,.0f} MiB before night 1, {nights[0].rss:,.0f} after night 1, "
        f"{nights[-1].rss:,.0f} after night {len(nights)}; peak during a night {nights[0].peak:,.0f} MiB (night 1), "
        f"{nights[-1].peak:,.0f} (night {len(nights)}), at most {max(n.peak for n in nights):,.0f}"
    )
    if len(nights) > WARM_UP:
        tail = nights[WARM_UP:]
        print(f"  RSS change over nights {tail[0].number}-{tail[-1].number}, by where it happened (MiB):")
        for task_id in TASKS:
            print(f"    {task_id:20} {sum(n.task_rss.get(task_id, 0.0) for n in tail):+8,.1f}")
        between = (tail[-1].rss - nights[WARM_UP - 1].rss) - sum(sum(n.task_rss.values()) for n in tail)
        print(f"    {'between the tasks':20} {between:+8,.1f}  (dag.test()'s loop, gc.collect(), the checks)")
        at, end = nights[WARM_UP - 1].peak, max(n.peak for n in tail)
        print(
            f"  peak RSS during a night: {at:,.0f} MiB in night {WARM_UP}, at most {end:,.0f} in nights "
            f"{tail[0].number}-{tail[-1].number} ({(end - at) / at:+.1%}; the warehouse grows, linkage reads all of it)"
        )
    checked = nights + ([comparison[0], comparison[1]] if comparison else [])
    print()
    problems = [(n, p) for n in checked for p in n.problems]
    skipped = [(n.number, n.day, s) for n in checked for s in n.missing]
    states_ok = not any(n.state_problems for n in checked)
    counts_ok = not any(n.count_problems for n in checked)
    for n, p in problems:
        print(f"  night {n.number} ({n.day}): {p}")
    print(
        f"{verdict(states_ok)}  every DAG run and task succeeded"
        + (
            f" (sensors skipped for a source without a partition that day: {len(skipped)})"
            if skipped
            else " (no sensor skipped: every source had a partition every day)"
        )
    )
    print(f"{verdict(counts_ok)}  rows read == accepted + quarantined every night (meta_runs and meta_partitions)")
    intact, summary = verify_log(args.root)
    print(f"{verdict(intact)}  privacy log intact: {summary}")
    slope_ok: bool | None = None
    if len(nights) >= WARM_UP + 3:
        tail = nights[WARM_UP:]
        per_night = slope([n.number for n in tail], [n.rss for n in tail])
        slope_ok = per_night <= args.max_slope
        print(
            f"{verdict(slope_ok)}  RSS slope over nights {WARM_UP + 1}-{len(nights)}: {per_night:+.2f} MiB/night "
            f"(tolerance {args.max_slope:.2f}; {per_night * len(tail):+,.0f} MiB over those {len(tail)} nights)"
        )
    else:
        print(f"SKIPPED  RSS slope (needs at least {WARM_UP + 3} nights)")
    fresh_ok: bool | None = None
    if comparison is not None:
        long, fresh, fresh_baseline = comparison
        tolerance = args.fresh_tolerance
        peak_excess, rss_excess = (long.peak - fresh.peak) / fresh.peak, (long.rss - fresh.rss) / fresh.rss
        fresh_ok = peak_excess <= tolerance and rss_excess <= tolerance
        print(
            f"{verdict(fresh_ok)}  night {long.number} on the same warehouse, this process vs a fresh one: peak "
            f"{long.peak:,.0f} vs {fresh.peak:,.0f} MiB ({peak_excess:+.1%}), RSS after {long.rss:,.0f} vs "
            f"{fresh.rss:,.0f} MiB ({rss_excess:+.1%}); tolerance {tolerance:.0%} (fresh process: "
            f"{fresh_baseline:,.0f} MiB before the night, {fresh.seconds:.1f} s; this process {long.seconds:.1f} s)"
        )
    else:
        print("SKIPPED  the same night in a fresh process (--no-fresh)")
    return all(ok is not False for ok in (states_ok, counts_ok, intact, slope_ok, fresh_ok))


# --- the benchmark ------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--nights", type=int, default=60, help="consecutive nights (default 60)")
    parser.add_argument("--persons", type=int, default=30_000, help="synthetic persons (default 30,000)")
    parser.add_argument("--out", type=Path, default=None, help="working directory, new or empty (default: a temp one)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (else removed at the end)")
    parser.add_argument("--chart", type=Path, default=REPO / "docs" / "images" / "soak.png")
    parser.add_argument("--max-slope", type=float, default=1.0, help="RSS slope tolerance, MiB/night (1.0)")
    parser.add_argument(
        "--fresh-tolerance",
        type=float,
        default=0.05,
        help="how much more peak RSS and RSS this process may have than a fresh one in the same night (5 %%)",
    )
    parser.add_argument("--no-fresh", action="store_true", help="skip the night in a fresh process")
    parser.add_argument("--fresh-night", type=int, default=None, help=argparse.SUPPRESS)  # the fresh child
    args = parser.parse_args()
    assert "airflow" not in sys.modules, "Airflow reads its configuration on import: set the environment first"
    if args.fresh_night is not None:  # the child of fresh_night(): its environment is set
        fresh_main(args.fresh_night, args.out.resolve())
        return
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        if any(args.out.iterdir()):
            parser.error(f"--out {args.out} is not empty")
        root = args.out.resolve()
    else:
        root = Path(tempfile.mkdtemp(prefix="migralink-bench-soak-"))
    args.root = root
    # At least LANDING_DAYS days (the generator spreads the population's events over its window: a shorter
    # window would make denser nights), and one day more than the nights: tomorrow's partitions must wait.
    last_day = FIRST_DAY + dt.timedelta(days=max(args.nights, LANDING_DAYS))
    began_all = time.perf_counter()
    say(f"working in {root}; load average {load()}")
    ok = False
    try:
        say(f"generating {args.persons:,} persons, {FIRST_DAY} to {last_day} (realistic names) ...")
        prep = in_child(prepare, root, args.persons, last_day)
        per_source = ", ".join(f"{source} {n:,}" for source, n in prep["records"].items())
        say(f"generated {sum(prep['records'].values()):,} records ({per_source}) in {prep['seconds']:.1f} s")
        home = root / "airflow-home"
        home.mkdir()
        for name in [k for k in os.environ if k.startswith(("AIRFLOW", "MIGRALINK_"))]:
            del os.environ[name]
        os.environ.update(AIRFLOW_ENV)
        os.environ.update(
            {
                "AIRFLOW_HOME": str(home),
                "MIGRALINK_LANDING": str(root / "landing"),
                "MIGRALINK_WAREHOUSE": str(root / "warehouse"),
                "MIGRALINK_KEY_FILE": str(root / "migralink.key"),
            }
        )
        say("airflow db migrate ...")
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        say(f"migrated the Airflow database in {time.perf_counter() - t0:.1f} s; running {args.nights} nights ...")
        log = root / "airflow.log"
        t0 = time.perf_counter()
        nights, baseline, dag, probe = run_nights(args, root, log)
        wall = time.perf_counter() - t0
        comparison = None
        if not args.no_fresh:
            number = args.nights + 1
            say(f"night {number} in a fresh process on a copy of the warehouse, then in this process ...")
            fresh, fresh_baseline = fresh_night(root, number)
            print_night(fresh, "  (fresh process)")
            long = run_night(dag, probe, root, number, log)
            print_night(long, "  (this process)")
            comparison = (long, fresh, fresh_baseline)
        ok = report(args, nights, baseline, wall, comparison)
        extra = {"comparison": [asdict(comparison[0]), asdict(comparison[1])] if comparison else None}
        (root / "soak.json").write_text(
            json.dumps({"nights": [asdict(n) for n in nights], **extra}, default=str, indent=1)
        )
        title = f"{len(nights)} nights through {DAG_ID}, {args.persons:,} persons"
        if comparison:
            title += f"; night {comparison[0].number} also in a fresh process"
        draw(nights + ([comparison[0]] if comparison else []), args.chart, title, comparison[1] if comparison else None)
        print()
        say(f"chart: {args.chart}")
        say(f"whole benchmark {time.perf_counter() - began_all:.1f} s; load average {load()}")
        if not ok:
            say(f"Airflow's log: {log}" + ("" if args.keep else " (removed: rerun with --keep)"))
    finally:
        if args.keep:
            say(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
