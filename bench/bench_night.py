"""Per-stage profile of a whole night: the ``migralink run`` code path on about 1,000,000 generated records.

Generates the realistic population (235,000 persons, 2023-01-01 to 2024-12-31, about 1,000,000 records; the
generation runs in a child process so its memory is not counted), then runs
:func:`pipeline.nightly.steps.run_nightly` (what ``migralink run`` calls) twice in this process:

* the first night, 2024-12-29: every record up to then is read, validated, pseudonymized and stored, a first
  model is trained, everything is linked, the histories, statistics, reports, quality gates, releases due and
  the privacy log's signed tree head are made;
* one nightly increment, 2024-12-31: the two days after it (about 3,000 records) against the warehouse.

Stage timing wraps the pipeline's own functions in this process only (monkeypatching; nothing in ``pipeline/``
changes): each stage's time is exclusive (a stage nested in another is subtracted from it), so the stages add
up to the night, and what no wrapper covers is printed as ``other``. Peak memory per stage is the highest
resident set size (VmRSS, sampled every 50 ms by a thread) while the stage was open, nested stages included;
the night's peak is the kernel's high-water mark (VmHWM, reset when the night begins).

``--threads N`` pins the process to N cores (``sched_setaffinity``: the encoders' threads, NumPy and Arrow) and
sets DuckDB's ``threads`` to N on every connection. ``--reference`` then runs, in the same process, the plaintext
Splink 5 reference of ``bench/reference_plaintext.py`` on the same landing zone (the linkage alone).

    python bench/bench_night.py --persons 20000                       # a quick look
    python bench/bench_night.py --threads 2 --reference --landing /tmp/night-landing --json night-2.json
    python bench/bench_night.py --threads 1 --landing /tmp/night-landing --json night-1.json
    python bench/bench_night.py --chart docs/images/night_stages.png night-1.json night-2.json
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FIRST = dt.date(2023, 1, 1)
NIGHT = dt.date(2024, 12, 29)  # the first night: everything up to here
INCREMENT = dt.date(2024, 12, 31)  # the next night: the two days after it
SAMPLE_SECONDS = 0.05

# Display order of the stages (those that took no time are left out of the table).
STAGES = (
    "key check",
    "read and validate",
    "pseudonymize",
    "seal identities",
    "store",
    "train",
    "linkage input",
    "block and score",
    "cluster",
    "person keys",
    "review queue, coherence",
    "histories",
    "statistics",
    "reports",
    "gates",
    "publishing",
    "audit",
    "snapshot and commit",
    "other",
)


# ------------------------------------------------------------------------------------------------- measuring


def _status_kib(field_name: str, process: str = "self") -> int:
    text = Path(f"/proc/{process}/status").read_text(encoding="ascii")
    found = re.search(rf"^{field_name}:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) if found else 0


def _children_rss_kib() -> int:
    """The resident memory of this process's suppression helper now, 0 without one (the chart renderer is another
    child: the helper is told by its command line)."""
    from pipeline.publish.presolve import MODULE

    helper = MODULE.encode()
    total = 0
    for listing in Path("/proc/self/task").glob("*/children"):
        with contextlib.suppress(OSError):
            for pid in listing.read_text(encoding="ascii").split():
                with contextlib.suppress(OSError):  # it ended meanwhile
                    if helper in Path(f"/proc/{pid}/cmdline").read_bytes():
                        total += _status_kib("VmRSS", pid)
    return total


class _Frame:
    __slots__ = ("began", "children", "name", "peak_kib")

    def __init__(self, name: str, rss: int) -> None:
        self.name = name
        self.began = time.perf_counter()
        self.children = 0.0
        self.peak_kib = rss


class Profiler:
    """Exclusive wall time and peak resident memory per named stage. Each thread has its own stack of stages (the
    night's Data Docs are built in a thread beside its checkpoint): a stage's time is exclusive within its thread,
    so stages that ran at the same time add up to more than the night's wall time (:func:`print_night` says by
    how much)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_kib: dict[str, int] = {}
        self.children_peak_kib = 0  # the suppression helper's resident memory, highest sample
        self.calls: dict[str, int] = {}
        self._stacks: dict[int, list[_Frame]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            rss = _status_kib("VmRSS")
            self.children_peak_kib = max(self.children_peak_kib, _children_rss_kib())
            with self._lock:
                for stack in self._stacks.values():
                    for frame in stack:
                        frame.peak_kib = max(frame.peak_kib, rss)

    def reset(self) -> None:
        self.children_peak_kib = 0
        self.seconds.clear()
        self.peak_kib.clear()
        self.calls.clear()

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        frame = _Frame(name, _status_kib("VmRSS"))
        with self._lock:
            stack = self._stacks.setdefault(threading.get_ident(), [])
            stack.append(frame)
        try:
            yield
        finally:
            rss = _status_kib("VmRSS")
            with self._lock:
                stack.pop()
                frame.peak_kib = max(frame.peak_kib, rss)
                elapsed = time.perf_counter() - frame.began
                if stack:
                    stack[-1].children += elapsed
                    stack[-1].peak_kib = max(stack[-1].peak_kib, frame.peak_kib)
                self.seconds[name] = self.seconds.get(name, 0.0) + elapsed - frame.children
                self.peak_kib[name] = max(self.peak_kib.get(name, 0), frame.peak_kib)
                self.calls[name] = self.calls.get(name, 0) + 1

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.stage(name):
                return fn(*args, **kwargs)

        return timed

    def wrap_cm(self, name: str, cm: Callable[..., Any], when: Callable[..., bool]) -> Callable[..., Any]:
        """A context-manager factory whose blocks are timed as ``name`` when ``when(*args)`` holds."""

        @contextlib.contextmanager
        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            if not when(*args, **kwargs):
                with cm(*args, **kwargs) as value:
                    yield value
                return
            with self.stage(name), cm(*args, **kwargs) as value:
                yield value

        return timed


def install_hooks(prof: Profiler) -> list[str]:
    """Wrap the pipeline's stage functions (this process only); returns the hooks that could not be installed."""
    import importlib

    import pipeline.nightly.steps  # noqa: F401 (imports the modules patched below)
    from privacy.audit.log import append as audit_append

    missing: list[str] = []

    def patch(module: str, attr: str, stage: str) -> None:
        mod = importlib.import_module(module)
        original = getattr(mod, attr, None)
        if original is None:
            missing.append(f"{module}.{attr}")
            return
        setattr(mod, attr, prof.wrap(stage, original))

    steps = "pipeline.nightly.steps"
    patch(steps, "key_check_step", "key check")
    patch(steps, "_check_run_cutoff", "key check")
    patch(steps, "signing_key", "key check")
    patch(steps, "ingest_step", "store")  # its exclusive time: the transaction, inserts, redeliveries
    patch("pipeline.ingest.load", "_read_all", "read and validate")
    patch("pipeline.ingest.load", "store_tokens", "pseudonymize")
    patch("pipeline.ingest.load", "_seal_identities", "seal identities")
    load = importlib.import_module("pipeline.ingest.load")
    if hasattr(load, "registered"):  # the contract checks: CREATE TEMP TABLE checked_rows FROM the raw rows
        load.registered = prof.wrap_cm(  # type: ignore[attr-defined]
            "read and validate", load.registered, lambda _con, name, _data: name == "raw_rows"
        )
    else:
        missing.append("pipeline.ingest.load.registered")
    patch(steps, "link_step", "review queue, coherence")  # exclusive: review queue, coherence, night figures
    patch("pipeline.nightly.linking", "train_and_save", "train")
    patch("pipeline.nightly.linking", "write_report", "reports")
    patch("linkage.link", "build_input", "linkage input")
    patch("pipeline.nightly.linking", "build_input", "linkage input")  # a first night builds it before training
    patch("linkage.link", "append_input", "linkage input")
    patch("linkage.link", "predict_pairs", "block and score")
    # the backend calls it by the name it imported (``linkage.link`` itself is a function of the package)
    sys.modules["linkage.backends"].predict_pairs = sys.modules["linkage.link"].predict_pairs  # type: ignore[attr-defined]
    patch("linkage.link", "cluster_entities", "cluster")
    patch("linkage.link", "write_clusters", "cluster")
    patch("linkage.link", "_touched_entities", "cluster")
    patch("linkage.link", "_finish", "person keys")
    patch(steps, "history_step", "histories")
    patch(steps, "build_histories", "histories")
    patch("pipeline.statistics.tables", "compute_statistics", "statistics")
    patch("pipeline.statistics.report", "write_statistics_report", "reports")
    patch("pipeline.publish.report", "write_release_report", "reports")
    # the wait, at the end of the night, for the charts rendered in the background meanwhile
    later = getattr(importlib.import_module("linkage.charts"), "_Later", None)
    if later is not None and hasattr(later, "finish"):
        later.finish = prof.wrap("reports", later.finish)
    else:
        missing.append("linkage.charts._Later.finish")
    patch(steps, "quality_step", "gates")
    patch(steps, "gate_due", "gates")
    patch(steps, "quality_docs_step", "gates")
    patch(steps, "publish_step", "publishing")
    patch(steps, "start_run_step", "audit")
    patch(steps, "finish_run_step", "audit")
    patch("pipeline.nightly.unit", "begin_night", "snapshot and commit")
    patch("pipeline.nightly.unit", "commit_night", "snapshot and commit")
    patch("pipeline.nightly.unit", "_hold_open", "snapshot and commit")  # the database held open over the night
    patch("pipeline.nightly.unit", "_let_go", "snapshot and commit")  # ... let go: the night's checkpoint
    # Every privacy-log append, wherever it was imported as a name.
    timed_audit = prof.wrap("audit", audit_append)
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] in ("pipeline", "linkage", "privacy") and getattr(module, "audit", None) is audit_append:
            module.audit = timed_audit  # type: ignore[attr-defined]
    return missing


def limit_threads(threads: int) -> str:
    """Pin this process to ``threads`` cores and make every DuckDB connection use ``threads`` threads."""
    import duckdb

    allowed = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, set(allowed[:threads]))
    original = duckdb.connect

    @functools.wraps(original)
    def connect(*args: Any, **kwargs: Any) -> duckdb.DuckDBPyConnection:
        con = original(*args, **kwargs)
        con.execute(f"SET threads = {int(threads)}")
        return con

    duckdb.connect = connect  # type: ignore[assignment]
    return f"cores {sorted(os.sched_getaffinity(0))}, DuckDB threads {threads}"


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


# --------------------------------------------------------------------------------------------------- the night


def generate_landing(landing: Path, persons: int) -> None:
    """The realistic population in a child process (its memory stays out of this one's figures)."""
    code = (
        "import datetime as dt, sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
        "from pipeline.synth import generate;"
        "s = generate(Path(sys.argv[2]), persons=int(sys.argv[3]), start=dt.date.fromisoformat(sys.argv[4]),"
        " end=dt.date.fromisoformat(sys.argv[5]), seed=1, name_mix='realistic'); print(s)"
    )
    root = str(Path(__file__).resolve().parents[1])
    subprocess.run(
        [sys.executable, "-c", code, root, str(landing), str(persons), FIRST.isoformat(), INCREMENT.isoformat()],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (landing / ".bench-persons").write_text(str(persons), encoding="ascii")


def profile_night(prof: Profiler, settings: Any, night: dt.date) -> dict[str, Any]:
    """Run one night (``run_nightly``) under the profiler; returns its figures."""
    from pipeline.nightly.steps import run_nightly

    prof.reset()
    with contextlib.suppress(OSError):  # reset the kernel's high-water mark of resident memory
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    start_rss = _status_kib("VmRSS")
    children = os.times()
    began = time.perf_counter()
    result = run_nightly(settings, night)
    wall = time.perf_counter() - began
    ended = os.times()
    stages = dict(prof.seconds)
    stages["other"] = max(wall - sum(stages.values()), 0.0)
    link = result.linkage
    return {
        "night": night.isoformat(),
        "wall": wall,
        "records": result.ingest.rows_accepted,
        "rows_read": result.ingest.rows_read,
        "linked_records": link.records if link else 0,
        "persons": link.persons if link else 0,
        "link_mode": link.mode if link else "",
        "trained": bool(link and link.trained),
        "gates": [f"{g.stage}:{'held' if g.held else 'ok'}" for g in result.gates],
        "released": len(result.releases.released) if result.releases else 0,
        "start_mib": start_rss / 1024,
        "peak_mib": _status_kib("VmHWM") / 1024,
        "stages": stages,
        "stage_peak_mib": {k: v / 1024 for k, v in prof.peak_kib.items()},
        # helper processes (the suppression helper of pipeline.publish.presolve): their CPU, and their resident
        # memory sampled with the night's (the kernel's figure for reaped children counts the parent's pages
        # shared at the fork)
        "helper_cpu_s": (ended.children_user + ended.children_system)
        - (children.children_user + children.children_system),
        "helper_peak_mib": prof.children_peak_kib / 1024,
    }


def print_night(title: str, fig: dict[str, Any]) -> None:
    wall, records = fig["wall"], fig["records"]
    print(f"\n{title}: {fig['night']}, {records:,} records ingested ({fig['rows_read']:,} rows read)")
    print(
        f"  linkage {fig['link_mode']}{' (model trained)' if fig['trained'] else ''}: {fig['linked_records']:,} "
        f"records, {fig['persons']:,} persons; gates {', '.join(fig['gates']) or 'none'}; "
        f"releases {fig['released']}"
    )
    print(f"  {'stage':<26}{'seconds':>9}{'share':>8}{'records/s':>12}{'peak MiB':>10}")
    for name in STAGES:
        seconds = fig["stages"].get(name, 0.0)
        if seconds < 0.0005 and name != "other":
            continue
        rate = f"{records / seconds:,.0f}" if seconds > 0 else "-"
        peak = fig["stage_peak_mib"].get(name)
        print(f"  {name:<26}{seconds:9.2f}{seconds / wall:8.1%}{rate:>12}{f'{peak:,.0f}' if peak else '-':>10}")
    print(
        f"  {'night':<26}{wall:9.2f}{1:8.0%}{records / wall:12,.0f}{fig['peak_mib']:10,.0f}"
        f"   (peak: VmHWM over the night; resident at start {fig['start_mib']:,.0f} MiB)"
    )
    if fig.get("helper_cpu_s", 0) > 0.005:
        print(
            f"  helper process beside the night: {fig['helper_cpu_s']:.2f} s of CPU, "
            f"peak {fig['helper_peak_mib']:,.0f} MiB resident (not in the night's peak)"
        )
    overlap = sum(v for k, v in fig["stages"].items() if k != "other") - wall
    if overlap > 0.005:
        print(f"  stages in threads ran beside others: the stages add up to {overlap:.2f} s more than the night")


def run(args: argparse.Namespace) -> dict[str, Any]:
    import logging

    from pipeline.nightly.settings import Settings
    from privacy.audit.heads import new_signing_key_file
    from privacy.keys import write_new_key_file

    logging.getLogger("splink").disabled = True  # its training chatter (Linker sets the level itself)
    out: dict[str, Any] = {"persons": args.persons, "threads": args.threads, "uptime_start": uptime()}
    out["limits"] = limit_threads(args.threads) if args.threads else "no limit (all cores, DuckDB default)"
    print(f"load at start: {out['uptime_start']}")
    print(f"threads: {out['limits']}")
    from pipeline.warehouse.memory import MEMORY_ENV, memory_limit

    out["memory_limit"] = memory_limit()  # DuckDB's budget on every warehouse connection
    print(f"DuckDB memory budget: {out['memory_limit']} ({MEMORY_ENV} to change it)")
    root = Path(tempfile.mkdtemp(prefix="migralink-bench-night-"))
    try:
        landing = args.landing or root / "landing"
        marker = landing / ".bench-persons"
        if not (marker.exists() and marker.read_text(encoding="ascii") == str(args.persons)):
            shutil.rmtree(landing, ignore_errors=True)
            began = time.perf_counter()
            generate_landing(landing, args.persons)
            print(f"generated {args.persons:,} persons in {time.perf_counter() - began:.0f} s (child process)")
        else:
            print(f"reusing the landing zone at {landing} ({args.persons:,} persons)")
        write_new_key_file(root / "migralink.key")
        new_signing_key_file(root / "migralink.key.audit.pem")
        settings = Settings(landing=landing, warehouse=root / "wh", key_file=root / "migralink.key")
        prof = Profiler()
        missing = install_hooks(prof)
        if missing:
            print(f"hooks not installed (their time is in 'other' or their caller): {', '.join(missing)}")
        out["night"] = profile_night(prof, settings, NIGHT)
        print_night("first night (everything)", out["night"])
        out["increment"] = profile_night(prof, settings, INCREMENT)
        print_night("nightly increment", out["increment"])
        inc = out["increment"]
        print(f"  increment end to end {inc['wall']:.1f} s for {inc['records']:,} records (target < 10 s)")
        if args.reference:
            from bench.reference_plaintext import run_reference

            ref = run_reference(landing, landing / "truth.csv", dataset="synthetic realistic")
            out["reference"] = {"seconds": ref.seconds, "peak_mib": ref.peak_mib, "records": ref.records}
            out["reference"]["stages"] = ref.stages
            ratio = out["night"]["wall"] / ref.seconds
            print(
                f"\nplaintext Splink 5 reference (linkage only, same process and threads): {ref.records:,} records "
                f"in {ref.seconds:.1f} s (" + ", ".join(f"{k} {v:.1f}" for k, v in ref.stages.items()) + "), "
                f"peak {ref.peak_mib:,.0f} MiB, F1 {ref.scores.f1:.4f}"
            )
            print(f"whole night / reference linkage: {ratio:.2f}x (target at most 0.6x)")
        print(f"peak memory of the first night {out['night']['peak_mib']:,.0f} MiB (target < 4,096 MiB)")
    finally:
        out["uptime_end"] = uptime()
        print(f"load at end: {out['uptime_end']}")
        shutil.rmtree(root, ignore_errors=True)
    return out


# ------------------------------------------------------------------------------------------------ comparison


def compare(runs: list[dict[str, Any]]) -> None:
    """Per-stage speed-up from the fewest to the most threads, and an Amdahl estimate for 16 cores."""
    runs = sorted(runs, key=lambda r: r["threads"] or 0)
    one, two = runs[0]["night"], runs[-1]["night"]
    t1, t2 = runs[0]["threads"], runs[-1]["threads"]
    if not (t1 == 1 and t2 == 2):
        print("the 16-core estimate needs a 1-thread and a 2-thread run")
        return
    print(f"\nscaling of the first night, {t1} -> {t2} threads (measured), and 16 cores (ESTIMATE, Amdahl per stage)")
    print(f"  {'stage':<26}{'1 thread':>9}{'2 threads':>10}{'speed-up':>9}{'parallel':>9}{'16 cores*':>10}")
    total16 = 0.0
    for name in STAGES:
        a, b = one["stages"].get(name, 0.0), two["stages"].get(name, 0.0)
        if a < 0.0005:
            continue
        # Amdahl: b = a * ((1 - p) + p / 2)  ->  p = 2 * (1 - b / a), clamped to [0, 1]
        p = min(max(2 * (1 - b / a), 0.0), 1.0)
        est = a * ((1 - p) + p / 16)
        total16 += est
        print(f"  {name:<26}{a:9.1f}{b:10.1f}{a / b if b else 0:9.2f}{p:9.0%}{est:10.1f}")
    print(f"  {'night':<26}{one['wall']:9.1f}{two['wall']:10.1f}{one['wall'] / two['wall']:9.2f}{'':>9}{total16:10.1f}")
    print("  * estimate from the measured 1 -> 2 scaling, not a measurement (no more memory bandwidth or disk)")


def chart(runs: list[dict[str, Any]], out: Path) -> None:
    """A stacked bar per run (first night per thread count, and the increment) of the stage seconds.

    A run's optional ``"label"`` (added to its JSON by hand: which code it measured) is appended to its bars'
    names, and then every run with the most threads shows its increment."""
    import altair as alt
    import pandas as pd

    rows = []
    for r in sorted(runs, key=lambda r: r["threads"] or 0):
        label = f"{r['threads']} thread{'s' if r['threads'] != 1 else ''}" if r["threads"] else "all cores"
        label += f", {r['label']}" if r.get("label") else ""
        bars = [(f"first night, {label}", r["night"])]
        most = max(runs, key=lambda r: r["threads"] or 0)
        if r is most or (r.get("label") and r["threads"] == most["threads"]):
            bars.append((f"increment, {label}", r["increment"]))
        for bar, fig in bars:
            for order, name in enumerate(STAGES):
                seconds = fig["stages"].get(name, 0.0)
                if seconds >= 0.0005:
                    rows.append({"run": bar, "stage": name, "seconds": round(seconds, 2), "order": order})
    frame = pd.DataFrame(rows)
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y("run:N", title=None, sort=None),
            x=alt.X("seconds:Q", title="wall time (s)"),
            color=alt.Color("stage:N", sort=list(STAGES), scale=alt.Scale(scheme="tableau20")),
            order=alt.Order("order:Q"),
            tooltip=["run", "stage", "seconds"],
        )
        .properties(
            width=620,
            height=40 * frame["run"].nunique(),
            title=f"Stages of a night ({max(r['night']['records'] for r in runs):,} records, 2 shared cores)",
        )
    )
    increment = frame[frame["run"].str.startswith("increment")]
    charts = [bars]
    if not increment.empty:
        charts.append(
            bars.transform_filter(
                alt.FieldOneOfPredicate(field="run", oneOf=list(increment["run"].unique()))
            ).properties(height=40 * increment["run"].nunique(), title="the increment alone")
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".png":
        alt.vconcat(*charts).save(str(out), scale_factor=2)
    else:
        alt.vconcat(*charts).save(str(out))
    print(f"chart written to {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--persons", type=int, default=235_000, help="235,000 persons: about 1,000,000 records")
    parser.add_argument("--threads", type=int, default=0, help="cores and DuckDB threads (default: no limit)")
    parser.add_argument("--landing", type=Path, default=None, help="generate into (or reuse) this landing zone")
    parser.add_argument("--reference", action="store_true", help="also run the plaintext Splink 5 reference")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--chart", type=Path, default=None, help="with JSON files: draw the stacked bars")
    parser.add_argument("runs", nargs="*", type=Path, help="JSON files of earlier runs (with --chart)")
    args = parser.parse_args(argv)
    if args.runs:
        runs = [json.loads(p.read_text(encoding="utf-8")) for p in args.runs]
        compare(runs)
        if args.chart:
            chart(runs, args.chart)
        return 0
    figures = run(args)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
