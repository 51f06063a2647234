"""Run ``migralink`` and kill the process with SIGKILL at a named point of the nightly run (fault injection).

Usage::

    python tests/pipeline/fault_runner.py <point> -- <migralink arguments>

or :func:`forked` as the target of a process forked from a server that has imported migralink (what the tests do).

A test hook, not a production code path: in this process only, the functions the night calls are wrapped
(patched where they are looked up) so that at ``<point>`` the process writes the point's name to the file named by
``$MIGRALINK_FAULT_MARKER`` and then kills itself with ``SIGKILL``: no ``finally`` block, no ``except``, no
``atexit`` handler runs, open DuckDB transactions are left uncommitted, exactly as when the machine's OOM killer or
an operator's ``kill -9`` ends a night. The marker lets the test prove that the point was reached (a renamed
function would otherwise let the night finish and the test pass for the wrong reason); a point that is never
reached makes the runner exit with :data:`NOT_REACHED`.

Points (:data:`POINTS`):

* ``before:<step>`` / ``after:<step>``: the step boundaries of :func:`pipeline.nightly.steps.run_nightly` and of
  :func:`pipeline.nightly.unit.night_unit` (``commit_night``); the quality gates as ``quality_step:<stage>``.
* ``inside:<what>``: in the middle of a step, after it has written part of its work (see each point's note).

So that the killed night does exactly what the test's reference night does, three more patches: like the tests'
nights (``tests/conftest.py``), Great Expectations' validation is left out (every expectation recorded as met) and
the reports' charts are drawn as a placeholder (:mod:`tests.chart_placeholders`); and new person keys and record
keys, random by design, are derived from the records (:func:`deterministic_keys`, which the test applies to its own
runs too).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARKER_ENV = "MIGRALINK_FAULT_MARKER"
NOT_REACHED = 97  # exit code: the night ran to its end without reaching the point


@dataclass(frozen=True)
class Point:
    """Where to kill: ``when`` (before or after) the ``nth`` call of ``module.function`` whose arguments pass
    ``match``; ``partial`` kills halfway through a file copy instead (see :func:`_partial_sync`)."""

    module: str
    function: str
    when: str  # "before" or "after"
    note: str
    nth: int = 1
    match: Callable[[tuple[Any, ...], dict[str, Any]], bool] | None = None
    partial: bool = False


def _stage(stage: str) -> Callable[[tuple[Any, ...], dict[str, Any]], bool]:
    """Only the quality gate of ``stage`` (``quality_step(settings, night, stage, ...)``)."""
    return lambda args, kwargs: kwargs.get("stage", args[2] if len(args) > 2 else None) == stage


STEPS = "pipeline.nightly.steps"  # run_nightly looks its steps up in its own module
UNIT = "pipeline.nightly.unit"  # night_unit looks begin_night and commit_night up in its own module

# Each boundary once: after one step is before the next (run_nightly calls them back to back), so "after:ingest_step"
# is also "before:quality_step:raw", and "after:quality_step:releases" is before finish_run_step (the Data Docs,
# files only, are built after it, beside the night's checkpoint, before commit_night).
POINTS: dict[str, Point] = {
    "inside:begin_night": Point(
        "pipeline.warehouse.mirror", "sync_file", "before", "the warehouse's mirror half synced", partial=True
    ),
    "before:start_run_step": Point(STEPS, "start_run_step", "before", "snapshot taken, nothing written"),
    "after:start_run_step": Point(STEPS, "start_run_step", "after", "run_started logged"),
    "inside:ingest_step": Point(
        "pipeline.ingest.load",
        "store_rows",
        "after",
        "the border partitions stored in the ingest's transaction, the visa and permit ones not",
    ),
    "after:ingest_step": Point(STEPS, "ingest_step", "after", "tonight's partitions committed"),
    "after:quality_step:raw": Point(STEPS, "quality_step", "after", "raw gate recorded", match=_stage("raw")),
    "inside:link_step": Point(
        "linkage.link",
        "write_clusters",
        "before",
        "Splink's predictions written in the linkage's transaction, the clusters and person keys not",
    ),
    "inside:link_step:trained": Point(
        "pipeline.nightly.linking",
        "train_and_save",
        "after",
        "a first linkage model trained and saved (committed), no record linked (only in a night that trains)",
    ),
    "after:link_step": Point(STEPS, "link_step", "after", "linkage committed, its report staged"),
    "after:quality_step:linkage": Point(
        STEPS, "quality_step", "after", "linkage gate recorded", match=_stage("linkage")
    ),
    "inside:history_step": Point(
        "pipeline.statistics.tables",
        "compute_statistics",
        "before",
        "the histories written in the step's transaction, the statistics not",
    ),
    "after:history_step": Point(STEPS, "history_step", "after", "histories and statistics committed"),
    "after:quality_step:statistics": Point(
        STEPS, "quality_step", "after", "statistics gate recorded", match=_stage("statistics")
    ),
    "inside:publish_step": Point(
        "pipeline.publish.release",
        "write_file",
        "after",
        "the first release file written (in its hidden directory), no manifest, nothing in the ledger",
    ),
    "inside:publish_step:released": Point(
        "pipeline.publish.release",
        "_release",
        "after",
        "the first purpose released (files in place, ledger committed), the second purpose not",
    ),
    "after:publish_step": Point(STEPS, "publish_step", "after", "every due purpose released, reports staged"),
    "after:quality_step:releases": Point(
        STEPS, "quality_step", "after", "releases gate recorded", match=_stage("releases")
    ),
    "before:commit_night": Point(
        UNIT,
        "commit_night",
        "before",
        "every step committed, run_finished logged and the log signed, the Data Docs built, the snapshot not "
        "dropped yet",
    ),
}


def _die(point: str) -> None:
    """Write the marker (so the test knows the point was reached), then SIGKILL this process."""
    marker = os.environ.get(MARKER_ENV)
    if marker:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, point.encode())
        os.fsync(fd)
        os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


def _partial_sync(point: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """A :func:`pipeline.warehouse.mirror.sync_file` that writes the first half of the warehouse file over the mirror
    and is killed there: what a kill in the middle of levelling (or first copying) a large warehouse leaves."""

    def sync_file(source: Path, target: Path) -> int:
        data = Path(source).read_bytes()
        fd = os.open(target, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.write(fd, data[: len(data) // 2])
            os.fsync(fd)
        finally:
            os.close(fd)
        _die(point)
        return original(source, target)  # not reached

    return sync_file


def install(point: str) -> None:
    """Wrap the function of ``point`` (in this process only) so that the process is killed there."""
    spec = POINTS[point]
    module = importlib.import_module(spec.module)
    original = getattr(module, spec.function)
    if spec.partial:
        setattr(module, spec.function, _partial_sync(point, original))
        return
    calls = 0

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        chosen = spec.match is None or spec.match(args, kwargs)
        if chosen:
            calls += 1
        if chosen and calls == spec.nth and spec.when == "before":
            _die(point)
        result = original(*args, **kwargs)
        if chosen and calls == spec.nth and spec.when == "after":
            _die(point)
        return result

    setattr(module, spec.function, wrapper)


def _drawn_from_records(original: Callable[..., int]) -> Callable[..., int]:
    """``linkage.person_keys.draw_record_keys`` with tonight's new person keys and their record keys derived from
    the persons' records instead of drawn at random (see :func:`deterministic_keys`)."""

    def draw_record_keys(con: Any, day: Any, **among: Any) -> int:
        from privacy.disclosure import cellkey

        new = con.execute(
            """SELECT p.person_key, 'P' || md5(CAST(? AS VARCHAR) || '/' || min(p.source || '/' || p.record_id))
               FROM person_keys p ANTI JOIN person_record_keys r USING (person_key) GROUP BY p.person_key""",
            [day],
        ).fetchall()
        for old, derived in new:
            con.execute("UPDATE person_keys SET person_key = ? WHERE person_key = ?", [derived, old])
            con.execute("UPDATE person_key_history SET new_key = ? WHERE new_key = ?", [derived, old])
        keys = sorted(derived for _old, derived in new)  # the order draw_record_keys asks for them in

        def new_record_keys(n: int) -> Any:
            import numpy as np

            assert n == len(keys), "draw_record_keys asked for keys of other persons than the new ones"
            return np.array([int(hashlib.sha256(k.encode()).hexdigest()[:8], 16) for k in keys], dtype=np.uint32)

        drawn = cellkey.new_record_keys
        cellkey.new_record_keys = new_record_keys  # type: ignore[assignment]
        try:
            return original(con, day, **among)
        finally:
            cellkey.new_record_keys = drawn  # type: ignore[assignment]

    return draw_record_keys


def deterministic_keys() -> list[tuple[Any, str, Any]]:
    """The patches (module, name, replacement) that make two runs of the same nights comparable.

    Person keys (a UUID4 each) and their secret record keys (32 bits from the operating system's generator) are
    random by design, so two uninterrupted runs of the same nights already differ in every person key and, through
    the cell keys, in the published perturbed counts. Under these patches a new person key is ``P`` + the MD5 of
    the night and the person's first record, and its record key the first 32 bits of the SHA-256 of the person
    key: everything else (clustering, merges and splits, key inheritance, the INSERT of the record keys) runs as
    in production. Applied alike to the reference runs, the killed runs and the runs after them.
    """
    import linkage.person_keys

    return [(linkage.person_keys, "draw_record_keys", _drawn_from_records(linkage.person_keys.draw_record_keys))]


def main(argv: list[str]) -> int:
    """Install the patches and the kill point, run ``migralink``; only returns (:data:`NOT_REACHED`, or 2 for a
    usage error) when the process was not killed."""
    if len(argv) < 2 or argv[1] != "--" or argv[0] not in POINTS:
        print(f"usage: fault_runner.py <point> -- <migralink arguments>; points: {', '.join(POINTS)}", file=sys.stderr)
        return 2
    from pipeline.cli.main import main as migralink
    from tests.plain_night import switch_as_test_nights

    switch_as_test_nights()
    for module, name, value in deterministic_keys():
        setattr(module, name, value)
    install(argv[0])
    code = migralink(argv[2:])
    print(f"fault_runner: the night ended (exit {code}) without reaching {argv[0]}", file=sys.stderr)
    return NOT_REACHED


def forked(argv: list[str], marker: str, log: str, cwd: str) -> None:
    """:func:`main` in a process forked from a server that imported migralink already (the tests'
    ``multiprocessing`` forkserver: a fresh interpreter would spend 3 to 5 s on the imports of each killed night);
    ``$MIGRALINK_FAULT_MARKER`` is ``marker`` and everything the night writes to stdout and stderr goes to
    ``log``."""
    os.environ[MARKER_ENV] = marker
    os.chdir(cwd)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.exit(main(argv))


# What the fork server imports once, before it forks the killed nights.
PRELOAD = ["tests.pipeline.fault_runner", "pipeline.cli.main", "pipeline.nightly.steps", "pipeline.quality.gates"]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
