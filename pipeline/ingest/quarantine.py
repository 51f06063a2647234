"""Quarantine replay: open rejected rows for an operator, store the rows they fixed, discard the rest.

Workflow (operators hold the key; analysts never see these files):

1. :func:`export_quarantine` opens every unresolved quarantined row and writes one CSV per source
   (``quarantine-<source>.csv``, mode 0600) with ``quarantine_id``, ``quarantine_reason`` and the contract
   columns (``reason`` alone would clash with the permit column of that name).
   The files hold identifiers in clear: they belong to the operator zone and must be deleted after use.
2. The operator corrects values in that file and deletes the rows they do not want to replay.
3. :func:`replay_quarantine` re-checks every row of the file with the ingest contract checks and stores it
   through :func:`pipeline.ingest.load.store_rows` at its original partition, file and line.
4. :func:`discard_quarantine` closes entries that will never be fixed, with the operator's reason.

Rules of a replay (one transaction: on any error the warehouse stays as it was):

* Each row names an unresolved entry of this warehouse; an unknown or already resolved id refuses the file.
* Before anything is stored, each entry's sealed row is opened with its position as associated data, so an
  entry whose source, partition, file or line was altered fails with :class:`InvalidCiphertext`.
* A row that now passes is stored in its record table (``run_id`` = the replay's id, listed in
  ``meta_replays``); its entry gets ``resolved_at`` and ``resolution = "replayed in run <id>"``.
* A row that still fails leaves its entry exactly as it was (same id, reason and sealed original row): the
  quarantine row ``store_rows`` made for it is dropped, and the new reason is reported in the summary.
  A value holding U+FFFD (how ingest keeps bytes that were not UTF-8) still counts as malformed encoding.
* ``meta_partitions`` moves each replayed row from ``rows_quarantined`` to ``rows_accepted``, so per partition
  ``rows_read = rows_accepted + rows_quarantined`` holds, where ``rows_quarantined`` counts the entries not
  replayed (unresolved or discarded). This is checked against the tables before the commit.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import os
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from pipeline.errors import PipelineError
from pipeline.ingest.contract import SOURCES, load_contract
from pipeline.ingest.load import store_rows
from pipeline.ingest.minimization import kept_columns, plan
from pipeline.warehouse.connection import check_key, transaction, verify_key
from pipeline.warehouse.tables import RECORD_TABLES
from privacy.keys import Keyring
from privacy.register import load_register
from privacy.sealing import Sealer
from privacy.tokens import Tokenizer

log = logging.getLogger(__name__)

REPLAYED = "replayed in run "
DISCARDED = "discarded: "
MALFORMED = "malformed encoding (bytes that are not UTF-8, or a NUL byte)"
MAX_REASON = 200


class QuarantineError(PipelineError):
    """A quarantine export, replay or discard was refused; nothing was changed."""


@dataclass(frozen=True)
class _Entry:
    quarantine_id: str
    source: str
    partition_date: dt.date
    file: str
    line: int
    sealed_row: bytes
    resolution: str | None

    @property
    def aad(self) -> bytes:
        return f"{self.source}|{self.partition_date}|{self.file}|{self.line}".encode()


@dataclass
class ReplaySummary:
    """What one replay did; holds counts, reasons and quarantine ids only."""

    run_id: str
    file: str
    rows: int = 0
    replayed: int = 0
    still_invalid: dict[str, int] = field(default_factory=dict)  # reason -> rows
    still_invalid_ids: list[tuple[str, str]] = field(default_factory=list)  # (quarantine_id, reason)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def quarantine_counts(con: duckdb.DuckDBPyConnection, *, source: str | None = None) -> list[tuple[str, str, int]]:
    """Unresolved quarantined rows as ``(source, reason, rows)``, largest first."""
    return con.execute(
        "SELECT source, reason, count(*) FROM quarantine WHERE resolved_at IS NULL AND (? IS NULL OR source = ?) "
        "GROUP BY ALL ORDER BY 3 DESC, 1, 2",
        [source, source],
    ).fetchall()


def export_quarantine(
    con: duckdb.DuckDBPyConnection, ring: Keyring, out_dir: Path, *, source: str | None = None
) -> list[Path]:
    """Open the unresolved quarantined rows and write them, per source, to ``out_dir/quarantine-<source>.csv``.

    Files are created with mode 0600 (the directory, if new, 0700) and never overwrite an existing file.
    Every sealed row is opened before the first file is written.

    Args:
        con: The warehouse.
        ring: The warehouse's key.
        out_dir: Directory in the operator zone.
        source: Export one source only.

    Returns:
        The files written, one per source that has unresolved rows.

    Raises:
        InvalidCiphertext: a sealed row or its position was altered.
        QuarantineError: a target file exists, or ``source`` is unknown.
    """
    if source is not None and source not in SOURCES:
        raise QuarantineError(f"unknown source {source!r}; use one of {', '.join(SOURCES)}")
    verify_key(con, ring)
    contracts = load_contract()
    sealer = Sealer(ring, "quarantine")
    opened: dict[str, list[list[str]]] = {}
    for entry, reason in _unresolved(con, source):
        payload = json.loads(sealer.open(entry.sealed_row, aad=entry.aad))
        values = ["" if payload.get(c) is None else str(payload[c]) for c in contracts[entry.source].names]
        opened.setdefault(entry.source, []).append([entry.quarantine_id, reason, *values])
    targets = {s: out_dir / f"quarantine-{s}.csv" for s in opened}
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing:
        raise QuarantineError(f"{existing[0]} already exists; replay or delete it first, or choose another --out")
    if targets:
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for s, path in targets.items():
        _write_private_csv(path, ["quarantine_id", "quarantine_reason", *contracts[s].names], opened[s])
        log.info("exported %d unresolved quarantined rows of %s to %s (identifiers in clear)", len(opened[s]), s, path)
    return list(targets.values())


def replay_quarantine(
    con: duckdb.DuckDBPyConnection,
    ring: Keyring,
    csv_path: Path,
    *,
    run_id: str | None = None,
    now: dt.datetime | None = None,
) -> ReplaySummary:
    """Re-check and store the rows of an edited export file; see the module docstring for the rules.

    Args:
        con: The warehouse.
        ring: The warehouse's key.
        csv_path: A file written by :func:`export_quarantine`, edited by the operator.
        run_id: Id of this replay (new uuid by default); must not have been used before.
        now: Resolution time (UTC), for tests.

    Raises:
        QuarantineError: the file is malformed, or names an unknown or resolved entry (nothing changes).
        InvalidCiphertext: an entry's sealed row or position was altered (nothing changes).
        KeyMismatchError: ``ring`` is not the warehouse's key.
    """
    rows = _read_replay_file(csv_path)
    token_version = check_key(con, ring)
    run_id = run_id or uuid.uuid4().hex
    _check_run_id_unused(con, run_id)
    entries = _entries_to_resolve(con, [qid for qid, _values in rows], csv_path)
    sealer = Sealer(ring, "quarantine")
    for entry in entries.values():
        sealer.open(entry.sealed_row, aad=entry.aad)  # authenticates the entry's position before it is used
    by_source: dict[str, list[tuple[_Entry, dict[str, str]]]] = {}
    for qid, values in rows:
        by_source.setdefault(entries[qid].source, []).append((entries[qid], values))
    tables = {s: _raw_table(s, group, csv_path) for s, group in by_source.items()}
    at = (now or dt.datetime.now(dt.UTC)).replace(tzinfo=None)
    summary = ReplaySummary(run_id=run_id, file=str(csv_path), rows=len(rows))
    contracts = load_contract()
    tokenizer = Tokenizer(ring, token_version)  # the version the warehouse's pseudonyms are made with
    decisions = plan(load_register())  # replayed rows are minimized as at ingest
    with transaction(con):
        for s, table in tables.items():
            store_rows(con, contracts[s], table, tokenizer, sealer, run_id, kept_columns(decisions, s))
        position = {(e.source, e.partition_date, e.file, e.line): e.quarantine_id for e in entries.values()}
        failed = {
            position[(s, d, f, n)]: reason
            for s, d, f, n, reason in con.execute(
                "SELECT source, partition_date, file, line, reason FROM quarantine WHERE run_id = ?", [run_id]
            ).fetchall()
        }
        con.execute("DELETE FROM quarantine WHERE run_id = ?", [run_id])
        replayed = [entries[qid] for qid, _values in rows if qid not in failed]
        _check_stored(con, run_id, Counter(e.source for e in replayed))
        if replayed:
            con.execute(
                "UPDATE quarantine SET resolved_at = ?, resolution = ? WHERE list_contains(?, quarantine_id)",
                [at, REPLAYED + run_id, [e.quarantine_id for e in replayed]],
            )
        moved = Counter((e.source, e.partition_date) for e in replayed)
        for (s, day), n in moved.items():
            con.execute(
                "UPDATE meta_partitions SET rows_accepted = rows_accepted + ?, rows_quarantined = rows_quarantined - ? "
                "WHERE source = ? AND partition_date = ?",
                [n, n, s, day],
            )
        bad = unreconciled_partitions(con, {(e.source, e.partition_date) for e in entries.values()})
        if bad:
            raise QuarantineError(f"counts do not reconcile for {bad[0]} after the replay; nothing was written")
        summary.replayed = len(replayed)
        summary.still_invalid_ids = sorted(failed.items())
        summary.still_invalid = dict(Counter(failed.values()).most_common())
        con.execute(
            "INSERT INTO meta_replays VALUES (?, ?, ?, ?, ?, ?)",
            [run_id, at, csv_path.name, summary.rows, summary.replayed, len(failed)],
        )
    log.info("replay %s: %d rows, %d stored, %d still invalid", run_id, summary.rows, summary.replayed, len(failed))
    return summary


def discard_quarantine(
    con: duckdb.DuckDBPyConnection, ids: Iterable[str], reason: str, *, now: dt.datetime | None = None
) -> int:
    """Close unresolved entries for good with the operator's ``reason`` (no record values, one line).

    Returns:
        The number of entries discarded.

    Raises:
        QuarantineError: the reason is empty or too long, or an id is unknown or already resolved.
    """
    reason = " ".join(reason.split())
    if not reason or len(reason) > MAX_REASON:
        raise QuarantineError(f"--reason must be 1 to {MAX_REASON} characters (say why, never quote values)")
    wanted = list(dict.fromkeys(i.strip() for i in ids if i.strip()))
    if not wanted:
        raise QuarantineError("give at least one quarantine id to discard (--id)")
    _entries_to_resolve(con, wanted, None)
    at = (now or dt.datetime.now(dt.UTC)).replace(tzinfo=None)
    with transaction(con):
        con.execute(
            "UPDATE quarantine SET resolved_at = ?, resolution = ? WHERE list_contains(?, quarantine_id)",
            [at, DISCARDED + reason, wanted],
        )
    log.info("discarded %d quarantine entries", len(wanted))
    return len(wanted)


def unreconciled_partitions(con: duckdb.DuckDBPyConnection, keys: set[tuple[str, dt.date]] | None = None) -> list[str]:
    """Partitions (``source/date``) whose counts disagree with the record and quarantine tables.

    Per partition: ``rows_read = rows_accepted + rows_quarantined``, ``rows_accepted`` = its records, and
    ``rows_quarantined`` = its quarantine entries that were not replayed.
    """
    records = " UNION ALL ".join(f"SELECT '{s}' AS source, partition_date FROM {t}" for s, t in RECORD_TABLES.items())
    rows = con.execute(
        f"""SELECT p.source, p.partition_date FROM meta_partitions p
        LEFT JOIN (SELECT source, partition_date, count(*) AS n FROM ({records}) GROUP BY ALL) r
          USING (source, partition_date)
        LEFT JOIN (SELECT source, partition_date, count(*) AS n FROM quarantine
                   WHERE resolution IS NULL OR NOT starts_with(resolution, ?) GROUP BY ALL) q
          USING (source, partition_date)
        WHERE p.rows_read <> p.rows_accepted + p.rows_quarantined
           OR p.rows_accepted <> coalesce(r.n, 0) OR p.rows_quarantined <> coalesce(q.n, 0)
        ORDER BY p.partition_date, p.source""",
        [REPLAYED],
    ).fetchall()
    return [f"{s}/{d}" for s, d in rows if keys is None or (s, d) in keys]


def _unresolved(con: duckdb.DuckDBPyConnection, source: str | None) -> list[tuple[_Entry, str]]:
    rows = con.execute(
        "SELECT quarantine_id, source, partition_date, file, line, sealed_row, resolution, reason FROM quarantine "
        "WHERE resolved_at IS NULL AND (? IS NULL OR source = ?) ORDER BY source, partition_date, file, line",
        [source, source],
    ).fetchall()
    return [(_Entry(*r[:7]), r[7]) for r in rows]


def _entries_to_resolve(con: duckdb.DuckDBPyConnection, ids: list[str], path: Path | None) -> dict[str, _Entry]:
    """The entries named by ``ids``; refuses unknown or resolved ones with one line."""
    found = {
        r[0]: _Entry(*r)
        for r in con.execute(
            "SELECT quarantine_id, source, partition_date, file, line, sealed_row, resolution FROM quarantine "
            "WHERE list_contains(?, quarantine_id)",
            [ids],
        ).fetchall()
    }
    where = f" in {path}" if path else ""
    unknown = [i for i in ids if i not in found]
    if unknown:
        more = f" and {len(unknown) - 1} more" if len(unknown) > 1 else ""
        raise QuarantineError(f"unknown quarantine id {unknown[0]}{more}{where} (not in this warehouse)")
    done = [i for i in ids if found[i].resolution is not None]
    if done:
        more = f" and {len(done) - 1} more" if len(done) > 1 else ""
        kind = (found[done[0]].resolution or "").split(":")[0]  # never the operator's discard reason
        raise QuarantineError(f"quarantine entry {done[0]}{more}{where} is already resolved ({kind})")
    return found


def _check_run_id_unused(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    used = con.execute(
        "SELECT (SELECT count(*) FROM meta_runs WHERE run_id = $id) + (SELECT count(*) FROM meta_replays "
        "WHERE run_id = $id) + (SELECT count(*) FROM quarantine WHERE run_id = $id)",
        {"id": run_id},
    ).fetchone()
    if used and used[0]:
        raise QuarantineError(f"run id {run_id} is already used in this warehouse")


def _check_stored(con: duckdb.DuckDBPyConnection, run_id: str, expected: Counter[str]) -> None:
    for source, table in RECORD_TABLES.items():
        row = con.execute(f"SELECT count(*) FROM {table} WHERE run_id = ?", [run_id]).fetchone()
        if (row[0] if row else 0) != expected.get(source, 0):
            raise QuarantineError(f"stored {source} rows do not match the replayed entries; nothing was written")


def _read_replay_file(path: Path) -> list[tuple[str, dict[str, str]]]:
    """``(quarantine_id, values by column)`` per row of an edited export file."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise QuarantineError(f"replay file {path} does not exist") from None
    except OSError as exc:
        raise QuarantineError(f"cannot read replay file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise QuarantineError(f"replay file {path} is not UTF-8 text; save it as UTF-8 CSV") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise QuarantineError(f"replay file {path} is empty") from None
    except csv.Error:
        raise QuarantineError(f"replay file {path}: the header row is not valid CSV") from None
    if "quarantine_id" not in header or len(set(header)) != len(header):
        raise QuarantineError(f"replay file {path} needs one quarantine_id column and unique column names")
    rows: list[tuple[str, dict[str, str]]] = []
    seen: set[str] = set()
    last = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error:
            raise QuarantineError(f"replay file {path}: invalid CSV near line {last + 1}") from None
        start, last = last + 1, reader.line_num
        if not row:
            continue
        if len(row) != len(header):
            raise QuarantineError(f"replay file {path} line {start}: expected {len(header)} fields, found {len(row)}")
        values = dict(zip(header, row, strict=True))
        qid = values.pop("quarantine_id").strip()
        if not qid or qid in seen:
            raise QuarantineError(f"replay file {path} line {start}: quarantine_id is empty or repeated")
        seen.add(qid)
        rows.append((qid, values))
    if not rows:
        raise QuarantineError(f"replay file {path} holds no rows to replay")
    return rows


def _raw_table(source: str, group: list[tuple[_Entry, dict[str, str]]], path: Path) -> pa.Table:
    """The raw Arrow table ``store_rows`` expects, each row at its entry's original partition, file and line."""
    names = load_contract()[source].names
    missing = [c for c in names if c not in group[0][1]]
    if missing:
        raise QuarantineError(f"replay file {path} lacks column(s) {', '.join(missing)} needed by {source} rows")
    group = sorted(group, key=lambda g: (g[0].partition_date, g[0].file, g[0].line))
    columns = {c: pa.array([values[c] for _e, values in group], pa.string()) for c in names}
    problems = [MALFORMED if any(_malformed(values[c]) for c in names) else None for _e, values in group]
    columns["_file"] = pa.array([e.file for e, _v in group], pa.string())
    columns["_line"] = pa.array([e.line for e, _v in group], pa.int64())
    columns["_partition"] = pa.array([e.partition_date for e, _v in group], pa.date32())
    columns["_problem"] = pa.array(problems, pa.string())
    return pa.table(columns)


def _malformed(value: str) -> bool:
    return "\ufffd" in value or "\x00" in value


def _write_private_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """Write a new CSV file readable by its owner only (never replaces an existing file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        os.fchmod(fh.fileno(), 0o600)
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
