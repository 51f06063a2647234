"""Secondary suppression of tonight's releases, solved from both ends: by the release and by a helper process.

A nightly increment against a national warehouse spends most of its publishing time in secondary suppression and
the intruder's audit of the current year's tables, which change every night (57 tables, 1.4 s of a 10 s night
against 1M records). That work is pure Python, one core's worth, and needs the tables' counts only. So the
nightly run (:func:`pipeline.nightly.steps.run_nightly`):

1. starts a helper process (``python -m pipeline.publish.presolve``) when the night begins, if the suppression
   purposes' last releases were large enough to be worth it (:data:`WORTH_CELLS`); the helper lowers its own
   priority and imports what it needs while the night ingests and links;
2. as soon as the statistics are committed, reads the cells each due suppression purpose will release and
   their differencing guard (:func:`hand_over`) and hands them to the helper, which solves them last table first
   while the night writes the statistics report and gates the statistics, and sends each pattern as soon as it
   has passed the intruder's audit;
3. at the release, lets the release's :class:`~pipeline.publish.suppress.SuppressionMemo` look in what has
   arrived (and keeps arriving); the release solves first table first whatever it does not find there, and the
   two meet half way. The helper is stopped when the releases are protected.

The helper runs :func:`~pipeline.publish.suppress.suppress_cells` exactly as the release would (the measures and
years share no cell, so their order changes nothing), and its memo only sends patterns that passed the intruder's
audit. The release looks each table up by the SHA-256 of everything its pattern depends on, so a pattern found
by the helper is used only for the very table it was found for: the release is the same with or without the
helper (tests/pipeline/test_publish.py), and anything the helper did not send in time, or found for cells that
changed since, the release solves itself. A helper that failed or died costs nothing but its time.

Only aggregate counts cross to the helper, through its pipes, as JSON and Arrow (data only, nothing unpickled); it
writes no file and no log.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import duckdb

    from privacy.register import Register

log = logging.getLogger(__name__)

WORTH_CELLS = 2_000  # suppression purposes whose last releases held fewer cells are solved in well under a second
NICENESS = 10  # the helper takes what CPU the night leaves
MODULE = "pipeline.publish.presolve"  # the helper runs ``python -m MODULE`` (this module)
_COLUMNS = ["measure", "period_type", "period", "dimension", "category", "value"]


@dataclass(frozen=True)
class Job:
    """One table of a release, as :func:`~pipeline.publish.suppress.suppress_cells` takes it."""

    cells: pd.DataFrame
    table_name: str
    period: str
    threshold: int
    protection_level: int
    guarded: np.ndarray


def worth_it(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the suppression purposes' last releases held at least :data:`WORTH_CELLS` cells in all."""
    cells = con.execute(
        """SELECT coalesce(sum(cells), 0) FROM release_ledger
           WHERE method = 'suppression' AND release_id IN (
               SELECT arg_max(release_id, released_at) FROM release_ledger WHERE method = 'suppression'
               GROUP BY purpose)"""
    ).fetchall()[0][0]
    return int(cells) >= WORTH_CELLS


def presolve_jobs(con: duckdb.DuckDBPyConnection, register: Register, night: dt.date, purposes: list[str]) -> list[Job]:
    """The tables the due suppression purposes among ``purposes`` will release for ``night``, with their cells and
    differencing guard read now (the statistics and earlier releases do not change before the release)."""
    from pipeline.publish.cells import read_cells
    from pipeline.publish.protect import differencing_guard
    from pipeline.publish.release import requests_of
    from privacy.register import Suppression

    groups = {name: group.members for name, group in register.citizenship_groups.items()}
    jobs = []
    for purpose_id in purposes:
        purpose = register.purpose(purpose_id)
        method = purpose.method
        if not isinstance(method, Suppression) or not purpose.calendar.releases_on(night):
            continue
        for request in requests_of(register, purpose):
            cells = read_cells(con, night, request, groups)
            guarded = differencing_guard(con, cells, purpose.id, request.table, method.threshold)
            jobs.append(
                Job(
                    cells[_COLUMNS].copy(),
                    request.table,
                    request.period,
                    method.threshold,
                    method.protection_level,
                    guarded,
                )
            )
    return jobs


def hand_over(presolver: Presolver, con: duckdb.DuckDBPyConnection, night: dt.date) -> int:
    """Give ``presolver`` the tables tonight's due suppression releases will protect, read through ``con`` (no
    transaction open); returns how many. Whatever goes wrong here is logged and leaves the release to solve its
    tables itself (and to report the error, if it is the release's own)."""
    from pipeline.publish.release import unreleased_purposes
    from pipeline.publish.suppress import SuppressionMemo
    from privacy.register import load_register

    try:
        register = load_register()
        jobs = presolve_jobs(con, register, night, unreleased_purposes(con, register, night))
        if jobs:
            presolver.submit(jobs, SuppressionMemo.load(con).known)
        return len(jobs)
    except Exception as exc:  # an optimization: it never fails the night
        log.warning("the suppression helper was given nothing (%s); the release solves its tables itself", exc)
        return 0


def solve(
    jobs: list[Job], known: dict[str, bytes], emit: Callable[[str, np.ndarray], None] | None = None
) -> dict[str, np.ndarray]:
    """The patterns ``jobs`` need that ``known`` (the warehouse's memo) does not hold, each solved and audited and
    passed to ``emit`` as soon as it is found. The jobs, and each job's measures and years, are taken last first:
    the release takes them first first, and the two meet half way.

    A table that cannot be solved (a protection no complement gives, an audit that fails) is left: the release
    solves it again and reports it."""
    from pipeline.publish.suppress import SuppressionMemo, suppress_cells

    class Emitting(SuppressionMemo):
        def put(self, key: str, mask: np.ndarray) -> None:
            super().put(key, mask)
            if emit is not None:
                emit(key, mask)

    memo = Emitting(dict(known))
    for job in reversed(jobs):
        with contextlib.suppress(Exception):
            suppress_cells(
                job.cells,
                job.table_name,
                job.period,
                job.threshold,
                job.protection_level,
                job.guarded,
                memo,
                backwards=True,
            )
    return memo.new


class Presolver:
    """The helper process: started at once, given its jobs once (:meth:`submit`); the patterns it finds arrive in
    :attr:`arrived` as it finds them (a reader thread puts them there). A helper that fails only stops sending."""

    def __init__(self) -> None:
        env = dict(os.environ)
        code = str(Path(__file__).resolve().parents[2])  # the directory holding this code's packages
        env["PYTHONPATH"] = os.pathsep.join([code, *filter(None, [env.get("PYTHONPATH")])])
        self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-m", MODULE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self.arrived: dict[str, np.ndarray] = {}  # key -> pattern, filled while the helper works
        self._threads: list[threading.Thread] = []

    def submit(self, jobs: list[Job], known: dict[str, bytes]) -> None:
        """Hand the helper its jobs (written from a thread: the helper reads them once its imports are done) and
        start reading what it finds."""
        process = self._process
        if process is None or self._threads:
            return
        payload = encode_jobs(jobs, known)

        def write() -> None:
            assert process.stdin is not None
            with contextlib.suppress(OSError, ValueError):  # a helper that died or was stopped
                process.stdin.write(payload)
                process.stdin.close()

        def read() -> None:
            assert process.stdout is not None
            with contextlib.suppress(OSError, ValueError):  # stopped while reading
                for line in process.stdout:
                    key, mask = decode_mask(line)
                    self.arrived[key] = mask

        self._threads = [
            threading.Thread(target=write, name="presolve-writer", daemon=True),
            threading.Thread(target=read, name="presolve-reader", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def found(self) -> dict[str, np.ndarray]:
        """Everything the helper found, once it has finished (or failed); empty when it was given nothing."""
        for thread in self._threads:
            thread.join()
        self.close()
        return self.arrived

    def close(self) -> None:
        """Stop the helper (whatever it is doing) and reap it; a helper that failed on its own is logged."""
        process, self._process = self._process, None
        if process is None:
            return
        failed = process.poll()
        if failed is None:
            process.kill()
        with contextlib.suppress(OSError):
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
        process.wait()
        for thread in self._threads:
            thread.join()
        if failed:  # it ended on its own, but not well
            log.warning("the suppression helper stopped (exit %s); the release solves what it left", failed)


@contextlib.contextmanager
def presolving(start: bool) -> Iterator[Presolver | None]:
    """A :class:`Presolver` for the block when ``start`` (else, or when it cannot be started, None), stopped when the
    block ends however it ends."""
    if not start:
        yield None
        return
    try:
        presolver = Presolver()
    except OSError as exc:  # the night goes on without it: the release solves every table itself
        log.warning("the suppression helper did not start (%s); the release solves its tables itself", exc)
        yield None
        return
    try:
        yield presolver
    finally:
        presolver.close()


def encode_jobs(jobs: list[Job], known: dict[str, bytes]) -> bytes:
    """The helper's input: one JSON line (the jobs' parameters, the known patterns in hex), then every job's cells
    and guard as one Arrow IPC stream (data only: nothing in it is executed or unpickled)."""
    import pyarrow as pa

    header = {
        "jobs": [[job.table_name, job.period, job.threshold, job.protection_level] for job in jobs],
        "known": {key: mask.hex() for key, mask in known.items()},
    }
    frames = [job.cells[_COLUMNS].assign(job=i, guarded=job.guarded) for i, job in enumerate(jobs)]
    table = pa.Table.from_pandas(
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(), preserve_index=False
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return json.dumps(header).encode() + b"\n" + sink.getvalue().to_pybytes()


def decode_jobs(data: bytes) -> tuple[list[Job], dict[str, bytes]]:
    """The inverse of :func:`encode_jobs`."""
    import pyarrow as pa

    line, _, stream = data.partition(b"\n")
    header = json.loads(line)
    frame = pa.ipc.open_stream(stream).read_all().to_pandas()
    jobs = []
    for i, (table_name, period, threshold, level) in enumerate(header["jobs"]):
        part = frame[frame["job"] == i].reset_index(drop=True)
        jobs.append(
            Job(
                part[_COLUMNS], str(table_name), str(period), int(threshold), int(level), part["guarded"].to_numpy(bool)
            )
        )
    return jobs, {key: bytes.fromhex(mask) for key, mask in header["known"].items()}


def encode_mask(key: str, mask: np.ndarray) -> bytes:
    """One line of the helper's answer: JSON of the pattern's key, size and packed bits in hex."""
    from pipeline.publish.suppress import pack_mask

    return json.dumps([key, int(mask.size), pack_mask(mask).hex()]).encode() + b"\n"


def decode_mask(line: bytes) -> tuple[str, np.ndarray]:
    """The inverse of :func:`encode_mask`."""
    from pipeline.publish.suppress import unpack_mask

    key, size, bits = json.loads(line)
    return str(key), unpack_mask(bytes.fromhex(bits), int(size))


def _main() -> None:  # pragma: no cover - the helper process (exercised through Presolver by the tests)
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    import pyarrow  # noqa: F401 - imported while waiting for the jobs

    import pipeline.publish.suppress  # noqa: F401
    import privacy.disclosure.suppression  # noqa: F401

    jobs, known = decode_jobs(sys.stdin.buffer.read())
    out = sys.stdout.buffer

    def emit(key: str, mask: np.ndarray) -> None:
        out.write(encode_mask(key, mask))
        out.flush()

    solve(jobs, known, emit)
    os._exit(0)  # everything is sent: no interpreter teardown to wait for


if __name__ == "__main__":
    _main()
