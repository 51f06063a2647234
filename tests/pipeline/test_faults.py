"""Fault injection: a night killed with SIGKILL at any step boundary, or in the middle of ingest, linkage,
histories or publishing, and then run again ends exactly as the same night run without interruption.

The property (the night as a unit, :mod:`pipeline.nightly.unit`): whatever a killed night committed is put back
by the next night, which records the interruption once in ``meta_runs`` and in the privacy log, and then does the
night's work as if nothing had happened. Compared with an uninterrupted run of the same nights:

* every table of the warehouse holds the same rows (sorted, row counts included: nothing lost, nothing
  duplicated), leaving out only the run-specific columns listed in :data:`RUN_SPECIFIC`;
* the release files under ``published/`` and the reports under ``reports/`` are the same files with the same
  bytes (the manifests' random release ids and the warehouse's own path aside);
* the privacy log holds the same entries in the same order (kind and fields; not the time or the run id), plus
  exactly one ``run_failed`` entry per interruption, where the killed night began; and it verifies;
* no snapshot, staging directory or half-written release is left.

The kill is real (``tests/pipeline/fault_runner.py`` in a child process forked from a server that has imported
migralink: SIGKILL, no ``finally``, no ``atexit``, uncommitted DuckDB transactions left in the write-ahead log),
and each kill point proves it was reached by a marker file.

Two things are random by design and would make even two uninterrupted runs differ: new person keys (UUID4) and
their secret record keys (which drive the cell-key perturbation of the public release). Every run here, the
reference's, the killed ones and the ones after them, derives them from the records instead
(:func:`tests.pipeline.fault_runner.deterministic_keys`). Great Expectations' validation is left out as in the
other tests' nights (``tests/conftest.py``): the gates still run, record their results and log them.

Three small nights of a generated landing zone (400 persons): 2024-02-05 creates the warehouse (too few records to
link), 2024-02-14 trains the linkage model, links and releases the nightly purpose, 2024-02-15 links
incrementally and releases both purposes (the public one is due on the 15th). Most kill points are in the last
night, started from a copy of the reference warehouse before it; one is in the night that creates the warehouse,
one in the training night (followed by the remaining night).
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from pipeline.cli.main import main
from pipeline.ingest.load import VAULT_PURPOSE
from pipeline.nightly.unit import SNAPSHOT, STAGING
from pipeline.warehouse.connection import DB_FILE
from privacy.audit.heads import load_signing_key
from privacy.audit.log import entries, heads, verify
from privacy.keys import FileKeyProvider
from privacy.sealing import Sealer
from tests.pipeline.fault_runner import POINTS, PRELOAD, deterministic_keys, forked

pytestmark = pytest.mark.slow  # twenty killed nights and the nights run after them

ROOT = Path(__file__).resolve().parents[2]
NIGHTS = ("2024-02-05", "2024-02-14", "2024-02-15")
FIRST, TRAINING, LAST = NIGHTS
INTERRUPTED = "interrupted, rolled back by the next night"  # recover_interrupted's reason

# Columns whose values belong to one process's run rather than to the data, left out of the comparison (every
# other column, and the number of rows, is compared).
RUN_ID = "a random id (UUID4) drawn by the run of the step that wrote the row: a re-run draws another"
CLOCK = "the wall-clock time the row was written"
RUN_SPECIFIC: dict[str, dict[str, str]] = {
    "border_crossings": {"run_id": RUN_ID},
    "visa_decisions": {"run_id": RUN_ID},
    "residence_permits": {"run_id": RUN_ID},
    "identity_vault": {"run_id": RUN_ID},  # sealed_identities is compared opened: see SEALED
    "quarantine": {"run_id": RUN_ID, "quarantine_id": RUN_ID, "quarantined_at": CLOCK},
    "meta_feed_volumes": {"run_id": RUN_ID},
    "meta_files": {"run_id": RUN_ID},
    "meta_minimization": {"run_id": RUN_ID, "recorded_at": CLOCK},
    "meta_partitions": {"run_id": RUN_ID, "processed_at": CLOCK},
    "meta_runs": {"run_id": RUN_ID, "started_at": CLOCK, "finished_at": CLOCK},
    "meta_keys": {"registered_at": CLOCK},
    "meta_schema": {"applied_at": CLOCK},
    "meta_token_version": {"since": CLOCK},
    "history_runs": {"finished_at": CLOCK},
    "linkage_models": {"model_id": RUN_ID, "created_at": CLOCK, "promoted_at": CLOCK},
    "linkage_nights": {"finished_at": CLOCK},
    "linkage_coherence_state": {"linked_at": CLOCK},
    "linkage_runs": {"finished_at": CLOCK},
    "linkage_state": {"model_id": RUN_ID, "finished_at": CLOCK},
    "linkage_term_frequencies": {"model_id": RUN_ID},
    "quality_results": {"gate_run": RUN_ID, "checked_at": CLOCK},
    "release_ledger": {"release_id": RUN_ID, "released_at": CLOCK},
    "release_cells": {"release_id": RUN_ID},
}
# Keys of JSON columns that are run-specific in the same way.
RUN_SPECIFIC_JSON: dict[tuple[str, str], dict[str, str]] = {
    ("linkage_models", "settings"): {"linker_uid": "Splink's random id of the linker object that trained the model"},
    ("linkage_models", "summary"): {"seconds": "how long the training took"},
}
# Sealed columns (AES-GCM with a random nonce: each seal differs) are compared opened: (purpose, its AAD). The
# identity vault holds one Arrow stream of a partition's identifiers, in no particular row order (the query that
# writes it orders by partition only): it is compared as the sorted list of its rows.
SEALED: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("identity_vault", "sealed_identities"): (VAULT_PURPOSE, ("source", "partition_date", "run_id")),
    ("quarantine", "sealed_row"): ("quarantine", ("source", "partition_date", "file", "line")),
}
# The privacy log is compared entry by entry (below), not row by row: each entry carries its time and run id, and
# so do the leaf hashes, the signed heads and the Merkle frontier built from them.
AUDIT_TABLES = ("audit_log", "audit_heads", "audit_state")
AUDIT_RUN_SPECIFIC = {
    "at": CLOCK,
    "run": RUN_ID,
    "config_sha256": "the hash of the settings, which hold the warehouse's path (each test has its own directory)",
}


@dataclass(frozen=True)
class Reference:
    """The uninterrupted run: its inputs and a copy of the warehouse directory after each night."""

    landing: Path
    key_file: Path
    ran_in: Path  # the warehouse directory the nights ran in (its reports name it)
    after: dict[str, Path]

    def argv(self, warehouse: Path, night: str) -> list[str]:
        where = ["--landing", str(self.landing), "--warehouse", str(warehouse), "--key-file", str(self.key_file)]
        return ["run", "--date", night, *where, "--quiet"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """A landing zone, a key, and the three nights run without interruption (copies kept after each night)."""
    root = tmp_path_factory.mktemp("faults")
    landing, key_file = root / "landing", root / "secret.key"
    window = ["--start", "2024-01-01", "--end", "2024-02-16", "--seed", "5"]
    assert main(["synth", "--out", str(landing), "--persons", "400", *window]) == 0
    assert main(["keys", "init", "--key-file", str(key_file)]) == 0
    warehouse = root / "reference"
    ref = Reference(landing, key_file, warehouse, {})
    for night in NIGHTS:
        run_night(ref, warehouse, night)
        ref.after[night] = copy_warehouse(warehouse, root / f"after-{night}")
    return ref


@contextlib.contextmanager
def deterministic() -> Iterator[None]:
    """Tonight's new person keys and record keys derived from the records, as in the killed runs
    (:func:`tests.pipeline.fault_runner.deterministic_keys`: they are random by design)."""
    with pytest.MonkeyPatch.context() as patch:
        for module, name, value in deterministic_keys():
            patch.setattr(module, name, value)
        yield


def run_night(ref: Reference, warehouse: Path, night: str) -> None:
    """Run ``night`` normally (in this process), as the reference did."""
    with deterministic():
        assert main(ref.argv(warehouse, night)) == 0


def copy_warehouse(source: Path, target: Path) -> Path:
    """A copy of a warehouse directory (not its writer lease, which names the process that wrote it)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".writer.lock"))
    return target


_FORKS = multiprocessing.get_context("forkserver")
_FORKS.set_forkserver_preload(PRELOAD)


def kill(ref: Reference, warehouse: Path, night: str, point: str, tmp_path: Path) -> None:
    """Run ``night`` in a child process killed with SIGKILL at ``point``; fail unless it was killed there. The
    child is forked from a server process that imported migralink once (not this test process, whose patches
    and threads it must not inherit)."""
    marker, log = tmp_path / "reached", tmp_path / "killed-night.log"
    argv = [point, "--", *ref.argv(warehouse, night)]
    child = _FORKS.Process(target=forked, args=(argv, str(marker), str(log), str(ROOT)))
    child.start()
    child.join(600)
    if child.exitcode is None:
        child.kill()
        child.join()
    said = log.read_text(encoding="utf-8", errors="replace")[-3000:] if log.exists() else ""
    assert child.exitcode == -signal.SIGKILL, f"exit {child.exitcode}, not killed:\n{said}"
    assert marker.read_text() == point  # the kill point was reached (not merely some kill)


def _value(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return repr(value)


def _opened(table: str, plain: bytes) -> object:
    """A sealed value, opened: the identity vault's Arrow stream as its sorted rows, anything else as it is."""
    if table == "identity_vault":
        return sorted(map(repr, pa.ipc.open_stream(plain).read_all().to_pylist()))
    return plain


@functools.cache
def warehouse_rows(warehouse: Path, key_file: Path) -> tuple[dict[str, list[tuple[str, ...]]], int]:
    """Every table's rows (sorted; run-specific columns left out, sealed columns opened) but the privacy log's, and
    the number of ``meta_runs`` rows of interrupted nights (left out of its rows)."""
    ring = FileKeyProvider(key_file).load()
    con = duckdb.connect(str(warehouse / DB_FILE), read_only=True)
    tables: dict[str, list[tuple[str, ...]]] = {}
    interrupted = 0
    try:
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall():
            if table in AUDIT_TABLES:
                continue
            columns = [
                c
                for (c,) in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index", [table]
                ).fetchall()
            ]
            rows = []
            for row in con.execute(f'SELECT * FROM "{table}"').fetchall():
                record = dict(zip(columns, row, strict=True))
                if table == "meta_runs" and record["status"] == f"failed: {INTERRUPTED}":
                    interrupted += 1
                    continue
                for (where, column), (purpose, aad) in SEALED.items():
                    if where == table:
                        context = "|".join(str(record[c]) for c in aad).encode()
                        record[column] = _opened(table, Sealer(ring, purpose).open(bytes(record[column]), aad=context))
                for (where, column), keys in RUN_SPECIFIC_JSON.items():
                    if where == table and record[column] is not None:
                        record[column] = {k: v for k, v in json.loads(record[column]).items() if k not in keys}
                skip = RUN_SPECIFIC.get(table, {})
                assert set(skip) <= set(columns), f"RUN_SPECIFIC names columns {table} does not have"
                rows.append(tuple(f"{c}={_value(record[c])}" for c in columns if c not in skip))
            tables[table] = sorted(rows)
    finally:
        con.close()
    return tables, interrupted


def audit_log(warehouse: Path, key_file: Path) -> tuple[list[dict[str, Any]], str, int]:
    """The privacy log's entries (run-specific fields left out), its verification (as ``migralink audit verify``
    does it, with the log's public key) and its number of signed tree heads."""
    public = load_signing_key(Path(f"{key_file}.audit.pem")).public_key()
    con = duckdb.connect(str(warehouse / DB_FILE), read_only=True)
    try:
        found = [{k: v for k, v in e.items() if k not in AUDIT_RUN_SPECIFIC} for _i, e, _h in entries(con)]
        checked = verify(con, public)
        assert checked.ok, checked.summary
        return found, checked.summary, len(heads(con))
    finally:
        con.close()


def files(warehouse: Path, folder: str, *ran_in: Path) -> dict[str, object]:
    """Every file and directory under ``warehouse/folder`` (hidden ones included): a manifest as JSON without its
    release id (a random UUID4), any other file's bytes with the paths of the warehouses the nights ran in and the
    linkage model's random id (reports name both) replaced by placeholders."""
    con = duckdb.connect(str(warehouse / DB_FILE), read_only=True)
    try:
        models = [m for (m,) in con.execute("SELECT model_id FROM linkage_models").fetchall()]
    finally:
        con.close()
    out: dict[str, object] = {}
    for path in sorted((warehouse / folder).rglob("*")):
        name = path.relative_to(warehouse).as_posix()
        if path.is_dir():
            out[name] = "directory"
        elif path.name == "manifest.json":
            manifest = json.loads(path.read_text(encoding="utf-8"))
            manifest.pop("release_id")
            out[name] = manifest
        else:
            data = path.read_bytes()
            for directory in ran_in:
                data = data.replace(str(directory).encode(), b"<warehouse>")
            for model in models:
                data = data.replace(model[:8].encode(), b"<model>")
            out[name] = data
    return out


def _first_difference(want: list[tuple[str, ...]], got: list[tuple[str, ...]]) -> str:
    """Where two tables' sorted rows first differ: the column (its name only; values may be long)."""
    for a, b in zip(want, got, strict=False):
        for x, y in zip(a, b, strict=False):
            if x != y:
                return f", first in column {x.split('=', 1)[0]}"
    return ""


def assert_as_uninterrupted(expected: Path, actual: Path, ref: Reference, night: str, interruptions: int) -> None:
    """``actual`` (a warehouse whose ``night`` was killed ``interruptions`` times and then run) is ``expected``
    (the uninterrupted run's), and its privacy log shows each interruption once, just before ``night`` began."""
    assert not (actual / SNAPSHOT).exists() and not (actual / STAGING).exists()
    listing = {p.name for p in expected.iterdir()} - {".writer.lock"}
    assert {p.name for p in actual.iterdir()} - {".writer.lock"} == listing  # no snapshot, staging, half copy

    want, none = warehouse_rows(expected, ref.key_file)
    got, interrupted = warehouse_rows(actual, ref.key_file)
    assert none == 0
    assert interrupted == interruptions, "meta_runs: one failed row per interrupted night"
    differing = {
        table: f"{len(want.get(table, []))} rows expected, {len(got.get(table, []))} found"
        + _first_difference(want.get(table, []), got.get(table, []))
        for table in sorted(want.keys() | got.keys())
        if want.get(table) != got.get(table)
    }
    assert not differing, f"tables differ from the uninterrupted run's: {differing}"

    for folder in ("published", "reports"):
        want_files, got_files = files(expected, folder, ref.ran_in), files(actual, folder, ref.ran_in, actual)
        assert sorted(got_files) == sorted(want_files), f"{folder}: other files than the uninterrupted run's"
        assert [n for n in want_files if got_files[n] != want_files[n]] == [], f"{folder}: files differ"

    want_log, _summary, want_heads = audit_log(expected, ref.key_file)
    got_log, summary, got_heads = audit_log(actual, ref.key_file)
    marks = [i for i, e in enumerate(got_log) if e["kind"] == "run_failed" and e["reason"] == INTERRUPTED]
    assert len(marks) == interruptions, f"privacy log: {len(marks)} interruptions logged, {interruptions} expected"
    for i in marks:  # each where the killed night began: just before the night's run_started
        assert got_log[i + 1]["kind"] == "run_started" and got_log[i + 1]["run_date"] == night
    assert [e for i, e in enumerate(got_log) if i not in marks] == want_log
    assert got_heads == want_heads, summary


# The points of the last night: every step boundary of run_nightly and night_unit, and the middle of ingest,
# linkage, histories and publishing (tests/pipeline/fault_runner.py says what each has written when killed).
LAST_NIGHT_POINTS = [p for p in POINTS if p != "inside:link_step:trained"]
NOTHING_WRITTEN = {"inside:begin_night"}  # killed before the night wrote anything: no interruption to log


@pytest.mark.parametrize("point", LAST_NIGHT_POINTS)
def test_a_night_killed_and_run_again_ends_as_if_never_interrupted(
    point: str, reference: Reference, tmp_path: Path
) -> None:
    """The night of 2024-02-15 (incremental linkage, histories, both purposes released) killed at ``point``, then
    run again: warehouse, releases, reports and privacy log as after the uninterrupted night, the interruption
    logged once."""
    warehouse = copy_warehouse(reference.after[TRAINING], tmp_path / "wh")
    kill(reference, warehouse, LAST, point, tmp_path)
    run_night(reference, warehouse, LAST)
    interruptions = 0 if point in NOTHING_WRITTEN else 1
    assert_as_uninterrupted(reference.after[LAST], warehouse, reference, LAST, interruptions)


def test_a_killed_first_night_leaves_no_warehouse_and_runs_again_as_if_never_started(
    reference: Reference, tmp_path: Path
) -> None:
    """The night that creates the warehouse, killed when every step has committed (before the night commits): the
    next night removes what it created (there was no warehouse before it, so there is none to log the interruption
    in) and runs as the first night. Compared with the reference after that night: the nights after it start from
    the same warehouse and the same files."""
    warehouse = tmp_path / "wh"
    kill(reference, warehouse, FIRST, "before:commit_night", tmp_path)
    assert (warehouse / DB_FILE).exists()  # the killed night had created and filled it
    run_night(reference, warehouse, FIRST)
    assert_as_uninterrupted(reference.after[FIRST], warehouse, reference, FIRST, 0)


def test_a_training_night_killed_after_saving_its_model_ends_as_if_never_interrupted(
    reference: Reference, tmp_path: Path
) -> None:
    """The night that trains the first linkage model, killed once the model is saved (committed) and before any
    record is linked; then the same night again and the night after it, compared with the uninterrupted nights."""
    warehouse = copy_warehouse(reference.after[FIRST], tmp_path / "wh")
    kill(reference, warehouse, TRAINING, "inside:link_step:trained", tmp_path)
    run_night(reference, warehouse, TRAINING)
    run_night(reference, warehouse, LAST)
    assert_as_uninterrupted(reference.after[LAST], warehouse, reference, TRAINING, 1)


def test_the_release_files_of_a_rolled_back_night_go_with_its_ledger_rows(reference: Reference, tmp_path: Path) -> None:
    """A night killed after its first purpose's release was placed and recorded: once the next night has put the
    warehouse back (its first act, :func:`~pipeline.nightly.unit.recover_interrupted`), no release of the killed
    night is left under ``published/``. Otherwise a next night for another date (which would not replace it) leaves
    released files that the ledger, the release cells and the differencing guard know nothing of."""
    from pipeline.nightly.unit import recover_interrupted

    warehouse = copy_warehouse(reference.after[TRAINING], tmp_path / "wh")
    kill(reference, warehouse, LAST, "inside:publish_step:released", tmp_path)
    assert list((warehouse / "published" / LAST).iterdir())  # the killed night had placed a release
    assert recover_interrupted(warehouse)
    con = duckdb.connect(str(warehouse / DB_FILE), read_only=True)
    try:
        recorded = {r for (r,) in con.execute("SELECT release_id FROM release_ledger").fetchall()}
    finally:
        con.close()
    on_disk = {json.loads(m.read_text())["release_id"] for m in (warehouse / "published").glob("*/*/manifest.json")}
    assert on_disk == recorded
    assert files(warehouse, "published", reference.ran_in) == files(
        reference.after[TRAINING], "published", reference.ran_in
    )
