"""Quality-gate benchmark: the raw suites on about 1,000,000 rows, and every gate inside a real night.

1. Generates 235,000 persons over 2023-2024 (realistic name mix) and ingests every partition up to 2024-12-29
   in one run, so the raw stage's batches ("tonight's rows") hold about 1,000,000 records. Then times
   :func:`pipeline.quality.gates.run_gate` for the raw stage, split into the batches DuckDB builds, the Great
   Expectations validation (per suite), the recording of the results and the Data Docs build; the one-time
   Great Expectations import is timed on its own first. Target: under 30 s.
2. Links the history, builds its histories and statistics, runs the night of 2024-12-30 (warm-up: every suite
   stores a result), fills the Data Docs store to its steady state (the last ``KEEP_RESULTS`` results of each
   suite, as after a week of nights), then runs the night of 2024-12-31 with
   :func:`pipeline.nightly.steps.run_nightly` exactly as ``migralink run`` does, with every gate and the
   night's one Data Docs build timed (per stage: time, expectations, batches, validation). Target: the gates
   add at most 15 % to the night, i.e. gate time / (night time - gate time) <= 0.15. Great Expectations is
   already imported by then (a fresh ``migralink run`` process pays the import once; it is reported beside the
   ratio).

Generation, ingest, linkage and the histories run in a child process, so that the peak memory reported for
the gates is this process's (Great Expectations, the DuckDB connection, the batches), not the generator's.

    python bench/bench_quality.py [--persons 235000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import multiprocessing
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd

import pipeline.nightly.steps as steps
import pipeline.quality.gates as gates
from pipeline.nightly.settings import Settings
from pipeline.nightly.steps import history_step, ingest_step, link_step, run_nightly
from pipeline.quality.batches import BatchContext
from pipeline.synth import generate
from pipeline.warehouse.connection import connect
from privacy.audit.heads import new_signing_key_file
from privacy.keys import write_new_key_file

START = dt.date(2023, 1, 1)
HISTORY_END = dt.date(2024, 12, 29)
WARM_UP = dt.date(2024, 12, 30)
NIGHT = dt.date(2024, 12, 31)
RAW_TARGET_SECONDS = 30.0
NIGHT_TARGET_SHARE = 0.15


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def quiet_splink() -> None:
    """Splink's training and blocking chatter (INFO) would bury the progress lines; warnings still show.

    Each Splink linker sets the ``splink`` logger's level to INFO again and adds a handler of its own unless
    the logger has one: a handler that passes only warnings keeps it quiet."""
    splink = logging.getLogger("splink")
    if not splink.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.WARNING)
        splink.addHandler(handler)
        splink.propagate = False


def verdict(met: bool) -> str:
    return "MET" if met else "NOT MET"


# --- child process: the data the gates judge ---------------------------------------------------------------


def _step_printer(what: str) -> Callable[[str, int, int], None]:
    """A ``progress(stage, done, total)`` that prints each stage once and then at most every 20 s."""
    last: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if stage not in last or now - last[stage] >= 20 or done == total:
            last[stage] = now
            say(f"  {what}: {stage} {done:,}/{total:,}")

    return progress


def prepare_raw(settings: Settings, persons: int) -> dict[str, Any]:
    """Generate the landing zone, make the keys and ingest everything up to HISTORY_END in one run."""
    assert settings.landing is not None and settings.key_file is not None
    tenth = [-1]

    def synth_progress(done: int, total: int) -> None:
        step = done * 10 // max(total, 1)
        if step > tenth[0]:
            tenth[0] = step
            say(f"  generating: {step * 10}%")

    say(f"generating {persons:,} persons, {START} to {NIGHT} (realistic names) ...")
    began = time.perf_counter()
    synth = generate(
        settings.landing, persons=persons, start=START, end=NIGHT, seed=1, name_mix="realistic", progress=synth_progress
    )
    generated = time.perf_counter() - began
    write_new_key_file(settings.key_file)
    new_signing_key_file(Path(f"{settings.key_file}.audit.pem"))  # as `migralink keys init` does
    say(f"generated {sum(synth.records.values()):,} records in {generated:.1f} s; ingesting up to {HISTORY_END} ...")
    began = time.perf_counter()
    ingested = ingest_step(settings, HISTORY_END, progress=_step_printer("ingest"))
    return {
        "generate_s": generated,
        "records": dict(synth.records),
        "ingest_s": time.perf_counter() - began,
        "rows_read": ingested.rows_read,
        "rows_accepted": ingested.rows_accepted,
        "rows_quarantined": ingested.rows_quarantined,
        "partitions": len(ingested.partitions),
        "peak_mib": peak_mib(),
    }


def prepare_history(settings: Settings) -> dict[str, Any]:
    """Link the history and build its histories and statistics (what the nights before NIGHT left)."""
    quiet_splink()
    say(f"linking the history up to {HISTORY_END} ...")
    began = time.perf_counter()
    linked = link_step(settings, HISTORY_END, progress=_step_printer("link"))
    link_s = time.perf_counter() - began
    say(f"linked {linked.records:,} records into {linked.persons:,} persons in {link_s:.1f} s; building histories ...")
    began = time.perf_counter()
    built = history_step(settings, HISTORY_END, progress=_step_printer("histories"))
    return {
        "link_s": link_s,
        "records": linked.records,
        "persons": linked.persons,
        "history_s": time.perf_counter() - began,
        "history_status": built.status,
        "crossings": built.histories.crossings if built.histories else 0,
        "peak_mib": peak_mib(),
    }


def fill_docs_store(warehouse: Path, copies: int) -> int:
    """Copy each suite's newest stored validation result ``copies`` times (as further nights), so that the Data
    Docs build renders as many results as it keeps in steady state."""
    store = warehouse / gates.QUALITY_DIR / "gx" / "uncommitted" / "validations"
    added = 0
    for suite_dir in sorted(p for p in store.iterdir() if p.is_dir()):
        results = sorted(suite_dir.rglob("*.json"), key=lambda p: p.stat().st_mtime)
        if not results:
            continue
        run_dir = results[-1].parent.parent  # <suite>/<run name>/<run time>/<batch>.json
        for i in range(copies):
            shutil.copytree(run_dir, suite_dir / f"{run_dir.name} copy {i}")
            added += 1
    return added


def in_child(function: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


# --- timing probes inside the gates -------------------------------------------------------------------------


@dataclass
class GateTiming:
    """Where one gate's time went."""

    stage: str
    seconds: float = 0.0
    batches: list[tuple[str, float, int]] = field(default_factory=list)  # batch, seconds, rows
    validate_s: float = 0.0  # validate_frames as a whole (contexts, suites, stores)
    suite_runs: list[tuple[str, float]] = field(default_factory=list)  # suite, ValidationDefinition.run seconds
    record_s: float = 0.0
    docs_s: float = 0.0
    result: gates.GateResult | None = None

    @property
    def batch_s(self) -> float:
        return sum(s for _, s, _ in self.batches)

    @property
    def rows(self) -> int:
        return sum(n for _, _, n in self.batches)

    @property
    def expectations(self) -> int:
        return len(self.result.outcomes) if self.result else 0

    @property
    def other_s(self) -> float:
        return self.seconds - self.batch_s - self.validate_s - self.record_s - self.docs_s


class Probe:
    """Timing wrappers around the batch functions, the validation, the recording and the Data Docs build
    (module attributes of :mod:`pipeline.quality.gates`, looked up by :func:`run_gate` when it runs), and
    around Great Expectations' ``ValidationDefinition.run`` (one call per suite)."""

    def __init__(self) -> None:
        self.current: GateTiming | None = None
        self.gates: list[GateTiming] = []

    @contextlib.contextmanager
    def gate(self, stage: str) -> Iterator[GateTiming]:
        timing = GateTiming(stage)
        self.current = timing
        began = time.perf_counter()
        try:
            yield timing
        finally:
            timing.seconds = time.perf_counter() - began
            self.current = None
            self.gates.append(timing)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        from great_expectations.core.validation_definition import ValidationDefinition

        saved_batches = dict(gates.BATCHES)
        saved = {name: getattr(gates, name) for name in ("validate_frames", "build_docs", "_record")}
        saved_run = ValidationDefinition.run
        probe = self

        def timed_batch(name: str, build: Any) -> Any:
            def batch(con: Any, ctx: BatchContext) -> pd.DataFrame:
                began = time.perf_counter()
                frame = build(con, ctx)
                if probe.current is not None:
                    probe.current.batches.append((name, time.perf_counter() - began, len(frame)))
                return frame

            return batch

        def timed(name: str, attribute: str) -> Any:
            original = saved[name]

            def call(*args: Any, **kwargs: Any) -> Any:
                began = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    if probe.current is not None:
                        setattr(probe.current, attribute, time.perf_counter() - began)

            return call

        def timed_run(definition: Any, *args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return saved_run(definition, *args, **kwargs)
            finally:
                if probe.current is not None:
                    probe.current.suite_runs.append((str(definition.name), time.perf_counter() - began))

        for name, build in saved_batches.items():
            gates.BATCHES[name] = timed_batch(name, build)
        gates.validate_frames = timed("validate_frames", "validate_s")  # type: ignore[assignment]
        gates.build_docs = timed("build_docs", "docs_s")  # type: ignore[assignment]
        gates._record = timed("_record", "record_s")  # type: ignore[assignment]
        ValidationDefinition.run = timed_run  # type: ignore[method-assign, assignment]
        try:
            yield
        finally:
            gates.BATCHES.update(saved_batches)
            for name, original in saved.items():
                setattr(gates, name, original)
            ValidationDefinition.run = saved_run  # type: ignore[method-assign]


def print_gate(timing: GateTiming, indent: str = "  ") -> None:
    if timing.stage == "Data Docs":
        print(f"{indent}Data Docs build, once a night over the stored results: {timing.seconds:.2f} s")
        return
    result = timing.result
    state = result.message() if result else "no result (the gate raised)"
    print(f"{indent}{timing.stage} gate: {timing.seconds:.2f} s, {timing.expectations} expectations; {state}")
    for name, seconds, rows in timing.batches:
        print(f"{indent}  batch {name:18} {seconds:7.2f} s  {rows:>10,} rows")
    runs = dict(timing.suite_runs)
    print(
        f"{indent}  validation        {timing.validate_s:7.2f} s  (suite runs: "
        + ", ".join(f"{suite} {seconds:.2f} s" for suite, seconds in runs.items())
        + f"; contexts and stores {timing.validate_s - sum(runs.values()):.2f} s)"
    )
    print(f"{indent}  record results    {timing.record_s:7.2f} s")
    print(f"{indent}  Data Docs build   {timing.docs_s:7.2f} s")
    print(f"{indent}  other             {timing.other_s:7.2f} s  (suite files, connection, acceptances)")


# --- the benchmark ------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--persons", type=int, default=235_000)
    parser.add_argument("--keep", type=Path, default=None, help="work in this directory and keep it")
    args = parser.parse_args()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=False)
        root = args.keep
    else:
        root = Path(tempfile.mkdtemp(prefix="migralink-bench-quality-"))
    quiet_splink()
    settings = Settings(landing=root / "landing", warehouse=root / "wh", key_file=root / "k.key")
    assert settings.warehouse is not None
    say(f"working in {root}")
    try:
        # 1. The raw suites on the whole history as one night's rows.
        prep = in_child(prepare_raw, settings, args.persons)
        say(
            f"ingested {prep['rows_read']:,} rows ({prep['rows_accepted']:,} accepted, {prep['rows_quarantined']:,} "
            f"quarantined, {prep['partitions']:,} partitions) in {prep['ingest_s']:.1f} s under run date "
            f"{HISTORY_END}"
        )
        say("importing Great Expectations ...")
        began = time.perf_counter()
        gates._gx()
        import_s = time.perf_counter() - began
        after_import_mib = peak_mib()
        probe = Probe()
        say(f"running the raw gate on the night of {HISTORY_END} ...")
        with probe.installed():
            con = connect(settings.warehouse)
            try:
                with probe.gate("raw") as raw:
                    raw.result = gates.run_gate(con, settings.warehouse, HISTORY_END, "raw")
            finally:
                con.close()
        raw_peak = peak_mib()
        records = sum(n for name, _, n in raw.batches if name.startswith("raw_") and name != "raw_volume")
        print()
        print(f"1. raw suites on {records:,} rows (tonight's rows of the three sources, quarantined included)")
        print(f"  Great Expectations import (once per process): {import_s:.2f} s")
        print_gate(raw)
        print(
            f"  rows validated: {records:,} record rows ({raw.rows:,} batch rows in all suites); "
            f"{records / raw.seconds:,.0f} record rows/s over the gate"
        )
        print(
            f"  peak RSS of this process: {raw_peak:,.0f} MiB ({after_import_mib:,.0f} MiB after the import; "
            f"generation and ingest ran in a child process: {prep['peak_mib']:,.0f} MiB)"
        )
        print(
            f"  target < {RAW_TARGET_SECONDS:.0f} s: {raw.seconds:.2f} s, {verdict(raw.seconds < RAW_TARGET_SECONDS)}"
        )
        print()

        # 2. Every gate inside a real night.
        history = in_child(prepare_history, settings)
        say(
            f"histories {history['history_status']} ({history['crossings']:,} crossings) in "
            f"{history['history_s']:.1f} s; running the night of {NIGHT} ..."
        )
        began = time.perf_counter()
        run_nightly(settings, WARM_UP)
        say(f"warm-up night {WARM_UP} in {time.perf_counter() - began:.1f} s")
        filled = fill_docs_store(settings.warehouse, gates.KEEP_RESULTS - 1)
        say(f"Data Docs store filled to {gates.KEEP_RESULTS} results per suite ({filled} copies of the warm-up's)")
        original_quality_step = steps.quality_step
        original_docs_step = steps.quality_docs_step
        night_gates: list[GateTiming] = []

        def timed_quality_step(s: Settings, night: dt.date, stage: str, **kwargs: Any) -> gates.GateResult:
            say(f"  quality gate: {stage}")
            with probe.gate(stage) as timing:
                timing.result = original_quality_step(s, night, stage, **kwargs)
            night_gates.append(timing)
            return timing.result

        def timed_docs_step(s: Settings, night: dt.date | None = None) -> Path | None:
            say("  quality Data Docs")
            with probe.gate("Data Docs") as timing:
                index = original_docs_step(s, night)
            night_gates.append(timing)
            return index

        steps.quality_step = timed_quality_step  # type: ignore[assignment]
        steps.quality_docs_step = timed_docs_step  # type: ignore[assignment]
        try:
            with probe.installed():
                began = time.perf_counter()
                result = run_nightly(settings, NIGHT)
                night_s = time.perf_counter() - began
        finally:
            steps.quality_step = original_quality_step  # type: ignore[assignment]
            steps.quality_docs_step = original_docs_step  # type: ignore[assignment]
        docs = next(g for g in night_gates if g.stage == "Data Docs")
        docs.docs_s = docs.seconds
        gate_s = sum(g.seconds for g in night_gates)
        rest_s = night_s - gate_s
        share = gate_s / rest_s if rest_s > 0 else float("inf")
        share_with_import = (gate_s + import_s) / rest_s if rest_s > 0 else float("inf")
        held = result.held
        stages_run = [g.stage for g in night_gates]
        print()
        print(
            f"2. the night of {NIGHT}: {result.ingest.rows_read:,} rows read, "
            f"{result.linkage.new_records if result.linkage else 0:,} new records linked "
            f"({result.linkage.mode if result.linkage else 'no linkage'}), histories "
            f"{result.histories.status if result.histories else 'not run'}, releases "
            f"{len(result.releases.released) if result.releases else 0}"
        )
        print(f"  Great Expectations was already imported in (1) ({import_s:.2f} s): not in the night's time below")
        for timing in night_gates:
            print_gate(timing)
        if "releases" not in stages_run and held is None:
            print("  (no release was due tonight, so the releases gate did not run)")
        print(
            f"  night {night_s:.2f} s wall, of which gates {gate_s:.2f} s, the rest {rest_s:.2f} s: "
            f"gates / rest = {share:.1%}"
        )
        print(f"  with the import a fresh `migralink run` process pays: {share_with_import:.1%}")
        if held is not None:
            print(f"  the night was HELD at the {held.stage} gate: the later steps did not run")
        print(f"  peak RSS of this process: {peak_mib():,.0f} MiB")

        # 3. Summary.
        night_met = held is None and share <= NIGHT_TARGET_SHARE
        print()
        print("summary")
        print(
            f"  raw suites, {records:,} rows: {raw.seconds:.2f} s (batches {raw.batch_s:.2f}, validation "
            f"{raw.validate_s:.2f}, results {raw.record_s:.2f}, Data Docs {raw.docs_s:.2f}, other "
            f"{raw.other_s:.2f}); target < {RAW_TARGET_SECONDS:.0f} s: {verdict(raw.seconds < RAW_TARGET_SECONDS)}"
        )
        print(
            f"    + Great Expectations import {import_s:.2f} s once per process = {raw.seconds + import_s:.2f} s "
            f"({verdict(raw.seconds + import_s < RAW_TARGET_SECONDS)} with the import counted)"
        )
        print(f"    {records / raw.seconds:,.0f} rows/s; peak RSS {raw_peak:,.0f} MiB")
        per_stage = ", ".join(f"{g.stage} {g.seconds:.2f} s/{g.expectations}" for g in night_gates)
        print(
            f"  night {NIGHT}: {night_s:.2f} s, gates {gate_s:.2f} s ({per_stage}); gates / rest {share:.1%}; "
            f"target <= {NIGHT_TARGET_SHARE:.0%}: "
            + (verdict(night_met) if held is None else "NOT ASSESSED (the night was held)")
        )
        print(f"    counting the import a fresh process pays: {share_with_import:.1%}")
        print(f"  peak RSS of this process {peak_mib():,.0f} MiB (GX, DuckDB, batches, the night's steps)")
        print("  (a shared 2-core machine: other processes may have slowed these figures)")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
        else:
            say(f"kept {root}")


if __name__ == "__main__":
    main()
