"""Ingest: read every pending landing partition, check it against the contract, pseudonymize, store.

One run reads all pending partitions in bulk (one table per source, not one pass per partition) and
writes everything inside one transaction: if anything fails, the warehouse stays as it was. Every row
read is either accepted into a record table or quarantined with its reason (rows read = accepted +
quarantined, per partition, checked before commit). Identifier columns are never stored in clear:
accepted rows keep keyed tokens, quarantined rows are sealed with AES-GCM.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import itertools
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from pipeline.errors import LandingFileError, PipelineError
from pipeline.ingest.contract import SOURCES, SourceContract, load_contract
from pipeline.ingest.landing import Partition, discover_partitions, empty_table, read_landing_file
from pipeline.ingest.minimization import dropped, kept_columns, plan
from pipeline.ingest.minimization import record as record_minimization
from pipeline.ingest.validate import checked_rows_sql
from pipeline.warehouse.connection import check_key, registered, transaction
from pipeline.warehouse.tables import FEED_COLUMNS, RECORD_TABLES
from privacy.audit.log import append as audit
from privacy.keys import Keyring
from privacy.normalize import normalize_document
from privacy.register import Register, load_register
from privacy.sealing import Sealer
from privacy.tokens import (
    DOCUMENT_INPUTS,
    IDENTIFIER_INPUTS,
    NAME_INPUTS,
    SOURCE_TOKENS,
    Tokenizer,
    TokenSpec,
    forget_names,
    hmac_sql,
    name_lookup,
)

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
VAULT_PURPOSE = "identity-vault"
_ARROW_TYPES = {"token": pa.string(), "token_list": pa.list_(pa.string())}  # standardized values
SOURCE_NUMBER = {"visa": ("visa_number",), "permit": ("permit_number",)}
MAP_BATCH_ROWS = 8_192  # rows per Arrow batch of the token maps' inputs (the unit of DuckDB's parallel scan)
FileRow = tuple[str, dt.date, str, int, str, int]  # source, partition, file, bytes, sha256, rows


@dataclass
class PartitionCount:
    source: str
    partition_date: str
    files: int
    rows_read: int
    rows_accepted: int
    rows_quarantined: int


@dataclass
class IngestSummary:
    """What one ingest run did; holds only counts, names and dates."""

    run_id: str
    run_date: str
    partitions: list[PartitionCount] = field(default_factory=list)
    ignored_entries: list[str] = field(default_factory=list)
    skipped_empty: list[str] = field(default_factory=list)
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    redeliveries: list[str] = field(default_factory=list)  # one line each (file names and sizes only)
    dropped_columns: list[str] = field(default_factory=list)  # "source.column: why" (minimization)
    stored_again: list[str] = field(default_factory=list)  # columns a new purpose needs again, one line each

    @property
    def rows_read(self) -> int:
        return sum(p.rows_read for p in self.partitions)

    @property
    def rows_accepted(self) -> int:
        return sum(p.rows_accepted for p in self.partitions)

    @property
    def rows_quarantined(self) -> int:
        return sum(p.rows_quarantined for p in self.partitions)

    def warnings(self) -> list[str]:
        """What the operator must see, one line each (the CLI prints them on stderr, the DAG logs them)."""
        return [
            *(f"ignored landing entry {e} (not <source>/<YYYY-MM-DD>/*.csv|*.parquet)" for e in self.ignored_entries),
            *(f"partition {e} has no files yet; it will be processed when files arrive" for e in self.skipped_empty),
            *self.redeliveries,
        ]

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out.update(rows_read=self.rows_read, rows_accepted=self.rows_accepted, rows_quarantined=self.rows_quarantined)
        return out


def pending_partitions(
    con: duckdb.DuckDBPyConnection, landing: Path, run_date: dt.date
) -> tuple[list[Partition], list[str]]:
    """Partitions dated on or before ``run_date`` that the warehouse has not processed, in date order."""
    found = discover_partitions(landing, run_date)
    done = {(s, d) for s, d in con.execute("SELECT source, partition_date FROM meta_partitions").fetchall()}
    return [p for p in found.partitions if p.key not in done], found.ignored


def ingest(
    con: duckdb.DuckDBPyConnection,
    *,
    landing: Path,
    run_date: dt.date,
    ring: Keyring,
    progress: Progress | None = None,
    replace: tuple[str, dt.date] | None = None,
    register: Register | None = None,
) -> IngestSummary:
    """Ingest every pending partition up to ``run_date``; see the module docstring.

    With ``replace`` (source, date), only that partition is read, processed or not: in the same transaction its
    earlier rows (records, pseudonyms, sealed identities, quarantine, file and partition records) are removed
    first (:func:`forget_partition`), so a re-delivered partition replaces what was ingested of it.

    Contract columns no registered purpose needs are not stored (:mod:`pipeline.ingest.minimization`, under
    ``register``, by default the packaged purpose register); the summary and ``meta_minimization`` say which.

    Raises:
        LandingFileError: a file cannot be read at all (nothing is written).
        KeyMismatchError: ``ring`` is not the key the warehouse was built with (nothing is read).
    """
    token_version = check_key(con, ring)
    summary = IngestSummary(run_id=uuid.uuid4().hex, run_date=run_date.isoformat())
    if replace is None:
        pending, summary.ignored_entries = pending_partitions(con, landing, run_date)
    else:
        found = discover_partitions(landing, replace[1])
        pending = [p for p in found.partitions if p.key == replace]
        if not pending:
            raise LandingFileError(f"{replace[0]}/{replace[1]}", "the partition is not in the landing zone")
    for entry in summary.ignored_entries:
        log.info("ignored landing entry (not <source>/<YYYY-MM-DD>/*.csv|*.parquet): %s", entry)
    summary.skipped_empty = [f"{p.source}/{p.date}" for p in pending if not p.files]
    pending = [p for p in pending if p.files]
    if not pending:
        return summary
    contracts = load_contract()
    register = register or load_register()
    decisions = plan(register)
    with _no_cyclic_gc():
        raw, files = _read_all(pending, contracts, landing, progress)
    tokenizer = Tokenizer(ring, token_version)
    sealer = Sealer(ring, "quarantine")
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with transaction(con):
        con.execute(
            "INSERT INTO meta_runs VALUES (?, ?, ?, NULL, 'running', NULL, NULL, NULL, NULL)",
            [summary.run_id, run_date, started],
        )
        if replace is not None:
            forget_partition(con, *replace)
        with token_maps(con, tokenizer) as maps:  # later sources hash only what the earlier ones did not
            for i, source in enumerate(SOURCES):
                if progress:
                    progress("checking and storing", i, len(SOURCES))
                kept = kept_columns(decisions, source)
                store_rows(con, contracts[source], raw[source], tokenizer, sealer, summary.run_id, kept, maps)
        summary.partitions = _record_partitions(con, pending, files, summary.run_id)
        summary.stored_again = record_minimization(con, decisions, summary.run_id, run_date, register)
        summary.dropped_columns = [f"{d.source}.{d.column}: {d.why}" for d in dropped(decisions)]
        _audit_ingest(
            con, summary, ring, token_version, [f"{d.source}.{d.column}" for d in dropped(decisions)], register
        )
        summary.quarantine_reasons = dict(
            con.execute(
                "SELECT reason, count(*) FROM quarantine WHERE run_id = ? GROUP BY reason ORDER BY 2 DESC",
                [summary.run_id],
            ).fetchall()
        )
        con.execute(
            "UPDATE meta_runs SET finished_at = now(), status = 'success', partitions = ?, rows_read = ?, "
            "rows_accepted = ?, rows_quarantined = ? WHERE run_id = ?",
            [
                len(summary.partitions),
                summary.rows_read,
                summary.rows_accepted,
                summary.rows_quarantined,
                summary.run_id,
            ],
        )
        if progress:
            progress("checking and storing", len(SOURCES), len(SOURCES))
    return summary


def _audit_ingest(
    con: duckdb.DuckDBPyConnection,
    summary: IngestSummary,
    ring: Keyring,
    token_version: int,
    dropped_columns: list[str],
    register: Register,
) -> None:
    """The privacy log's entries of an ingest (in its transaction): partitions read, rows quarantined by reason,
    columns not stored, records pseudonymized with which key version. Counts and names only."""
    reasons: dict[str, dict[str, int]] = {}
    for source, reason, n in con.execute(
        "SELECT source, reason, count(*) FROM quarantine WHERE run_id = ? GROUP BY ALL", [summary.run_id]
    ).fetchall():
        reasons.setdefault(source, {})[reason] = int(n)
    for source in SOURCES:
        parts = [p for p in summary.partitions if p.source == source]
        if not parts:
            continue
        dates = sorted(p.partition_date for p in parts)
        audit(
            con,
            "partitions_read",
            source=source,
            partitions=len(parts),
            rows=sum(p.rows_read for p in parts),
            files=sum(p.files for p in parts),
            first=str(dates[0]),
            last=str(dates[-1]),
        )
        audit(
            con,
            "pseudonymized",
            source=source,
            key_id=ring.key_id,
            key_version=token_version,
            records=sum(p.rows_accepted for p in parts),
        )
        if source in reasons:
            audit(con, "quarantined", source=source, rows=sum(reasons[source].values()), reasons=reasons[source])
    if dropped_columns:
        audit(con, "columns_dropped", columns=dropped_columns, register_version=register.version)


def forget_partition(con: duckdb.DuckDBPyConnection, source: str, day: dt.date) -> int:
    """Remove what was ingested of one partition (inside the caller's transaction); returns its accepted records."""
    table = RECORD_TABLES[source]
    records = int(con.execute(f"SELECT count(*) FROM {table} WHERE partition_date = ?", [day]).fetchall()[0][0])
    con.execute(
        f"DELETE FROM identity_tokens WHERE source = ? AND record_id IN "
        f"(SELECT record_id FROM {table} WHERE partition_date = ?)",
        [source, day],
    )
    con.execute(f"DELETE FROM {table} WHERE partition_date = ?", [day])
    for meta in ("identity_vault", "quarantine", "meta_files", "meta_partitions", "meta_feed_volumes"):
        con.execute(f"DELETE FROM {meta} WHERE source = ? AND partition_date = ?", [source, day])
    return records


def _read_all(
    pending: list[Partition], contracts: dict[str, SourceContract], landing: Path, progress: Progress | None
) -> tuple[dict[str, pa.Table], list[FileRow]]:
    total = sum(len(p.files) for p in pending)
    tables: dict[str, list[pa.Table]] = {s: [] for s in SOURCES}
    files: list[FileRow] = []
    done = 0
    for part in pending:
        for path in part.files:
            landed = read_landing_file(path, contracts[part.source], landing, part.date)
            tables[part.source].append(landed.table)
            files.append((part.source, part.date, landed.rel_path, landed.size, landed.sha256, landed.table.num_rows))
            done += 1
            if progress:
                progress("reading landing files", done, total)
    raw = {s: pa.concat_tables(t) if t else empty_table(contracts[s]) for s, t in tables.items()}
    return raw, files


def store_rows(
    con: duckdb.DuckDBPyConnection,
    contract: SourceContract,
    raw: pa.Table,
    tokenizer: Tokenizer,
    sealer: Sealer,
    run_id: str,
    kept: tuple[str, ...],
    maps: TokenMaps | None = None,
) -> None:
    """Check ``raw`` (text columns plus ``_file``, ``_line``, ``_partition``, ``_problem``) against the contract,
    store valid rows with their tokens (and of the clear columns only the ``kept`` ones) and quarantine the others,
    sealed. Runs inside the caller's transaction. ``maps``: the run's token maps (:func:`store_tokens`).
    """
    if raw.num_rows == 0:
        return
    source = contract.source
    stored = RECORD_TABLES[source]
    with registered(con, "raw_rows", raw):
        con.execute(f"CREATE OR REPLACE TEMP TABLE checked_rows AS {checked_rows_sql(contract, 'raw_rows', stored)}")
    _store_accepted(con, source, tokenizer, Sealer(sealer.ring, VAULT_PURPOSE), run_id, kept, maps)
    _store_quarantined(con, contract, sealer, run_id)
    con.execute("DROP TABLE checked_rows")


def _store_accepted(
    con: duckdb.DuckDBPyConnection,
    source: str,
    tokenizer: Tokenizer,
    vault: Sealer,
    run_id: str,
    kept: tuple[str, ...],
    maps: TokenMaps | None,
) -> None:
    """Store the valid rows: the ``kept`` clear columns in the record table (:mod:`pipeline.ingest.minimization`),
    pseudonyms in ``identity_tokens`` and the identifiers themselves sealed in ``identity_vault``. Pseudonyms are
    computed once per distinct input."""
    clear = ", ".join(f'"t_{col}" AS "{col}"' for col in kept)
    extra = "t_crossing_time::DATE AS crossing_date, " if source == "border" else ""
    con.execute(
        f"""INSERT INTO {RECORD_TABLES[source]} BY NAME
        SELECT {clear}, {extra} year(t_date_of_birth) AS birth_year, t_sex AS sex, t_nationality AS nationality,
               t_doc_issuing_country AS doc_issuing_country, _partition AS partition_date, ? AS run_id
        FROM checked_rows WHERE _reason IS NULL ORDER BY _partition, _file, _line""",
        [run_id],
    )
    pseudonymize(con, source, "checked_rows", tokenizer, vault, run_id, where="_reason IS NULL", maps=maps)
    feed = FEED_COLUMNS[source]  # the daily volume of each port or category, counted before minimization
    con.execute(
        f"""INSERT INTO meta_feed_volumes SELECT '{source}', _partition::DATE, '{feed}', coalesce("t_{feed}", ''),
            count(*), ? FROM checked_rows WHERE _reason IS NULL GROUP BY ALL""",
        [run_id],
    )


def pseudonymize(
    con: duckdb.DuckDBPyConnection,
    source: str,
    table: str,
    tokenizer: Tokenizer,
    vault: Sealer,
    run_id: str,
    *,
    where: str = "true",
    maps: TokenMaps | None = None,
) -> None:
    """Pseudonymize the rows of ``table`` (``t_record_id``, ``t_<identifier>`` and ``_partition`` columns):
    their pseudonyms go to ``identity_tokens`` and their identifiers, sealed, to ``identity_vault``. ``maps``:
    see :func:`store_tokens`."""
    store_tokens(con, source, table, tokenizer, where=where, maps=maps)
    _seal_identities(con, source, table, vault, run_id, where=where)


def store_tokens(
    con: duckdb.DuckDBPyConnection,
    source: str,
    table: str,
    tokenizer: Tokenizer,
    *,
    where: str = "true",
    maps: TokenMaps | None = None,
) -> None:
    """Insert the pseudonyms of the rows of ``table`` (columns ``t_record_id`` and ``t_<identifier>``).

    Token kinds that share their input columns share one map (one row per distinct input) and one join. The
    tokens are standardized (:attr:`privacy.tokens.TokenSpec.sql`) and HMACed (:func:`privacy.tokens.hmac_sql`) in
    DuckDB SQL; Python standardizes only each distinct raw name and document number (lookup tables). The
    Bloom-filter encodings (mostly NumPy work) are computed in a second thread, and the maps that need no name
    lookup are built in a third while Python standardizes the names. Bit-identical to
    :meth:`privacy.tokens.Tokenizer.tokens_for` (``tests/privacy/test_pseudonymize_identical.py``).

    With ``maps`` (:func:`token_maps`, one run's maps), the maps and lookups of earlier calls are reused: only
    inputs not seen before in the run are standardized and hashed. Without it, the maps last for this call.
    The module-level caches of standardized names are emptied afterwards (:func:`privacy.tokens.forget_names`),
    so they keep no plaintext name past the call (the tokenizer's own memo lasts as long as the tokenizer: one run).
    """
    try:
        with contextlib.ExitStack() as stack:
            if maps is None:
                maps = stack.enter_context(token_maps(con, tokenizer))
            if maps.tokenizer is not tokenizer:
                raise ValueError("these token maps were made with another tokenizer")
            _store_tokens(con, source, table, tokenizer, maps, where=where)
    finally:
        forget_names()


class TokenMaps:
    """The token maps of one run, kept between its sources (temporary tables on its connection).

    One table per input group (keys ``k<j>`` and the group's pseudonyms) and two lookups (``value`` -> name
    parts and phonetic codes; ``value`` -> normalized document number). Most of a visa or permit holder's names
    and documents have already been seen at the border, so each later source standardizes and hashes only what
    is new to the run. The keys are plaintext identifiers, like the tokenizer's own memo: :func:`token_maps`
    drops the tables when its block (the run's ingest or rekey) ends, whatever happens.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self._con = con
        self._prefix = f"token_kept_{next(_MAPS_MADE)}"
        self.names = f"{self._prefix}_names"  # lookup: raw name -> parts, phonetic codes
        self.documents = f"{self._prefix}_documents"  # lookup: raw number -> normalized
        self._tables: dict[tuple[str, ...], str] = {}
        self._filled: set[str] = set()

    def table(self, inputs: tuple[str, ...], specs: list[TokenSpec]) -> str:
        """The name of the map of ``inputs`` with the columns of ``specs`` (made by the first call to fill it)."""
        key = (*inputs, "|", *(spec.column for spec in specs))
        if key not in self._tables:
            self._tables[key] = f"{self._prefix}_{len(self._tables)}"
        return self._tables[key]

    def unseen(self, name: str, select: str, keys: str) -> str:
        """``select`` (distinct inputs) without the rows already in ``name`` (columns ``keys``)."""
        return f"{select} EXCEPT SELECT {keys} FROM {name}" if name in self._filled else select

    def append(self, name: str, select: str, params: dict[str, bytes] | None = None) -> None:
        """Append the rows of ``select`` to the table ``name`` (created from them by the first call)."""
        verb = f"INSERT INTO {name}" if name in self._filled else f"CREATE TEMP TABLE {name} AS"
        self._con.execute(f"{verb} {select}", params)
        self._filled.add(name)

    def add(self, name: str, rows: pa.Table) -> None:
        """Append ``rows`` to the lookup ``name``."""
        with registered(self._con, "token_lookup_rows", rows):
            self.append(name, "SELECT * FROM token_lookup_rows")

    def drop(self) -> None:
        for name in self._filled:
            _drop_quietly(self._con, name)
        self._filled.clear()


@contextlib.contextmanager
def token_maps(con: duckdb.DuckDBPyConnection, tokenizer: Tokenizer) -> Iterator[TokenMaps]:
    """Token maps kept for the calls of :func:`store_tokens` inside the block (one run, one tokenizer)."""
    maps = TokenMaps(con, tokenizer)
    try:
        yield maps
    finally:
        maps.drop()


_MAPS_MADE = itertools.count()


def _store_tokens(
    con: duckdb.DuckDBPyConnection, source: str, table: str, tokenizer: Tokenizer, maps: TokenMaps, *, where: str
) -> None:
    groups: dict[tuple[str, ...], list[TokenSpec]] = {}
    for spec in SOURCE_TOKENS[source]:
        groups.setdefault(spec.inputs, []).append(spec)
    order = list(groups)
    map_of = {inputs: maps.table(inputs, groups[inputs]) for inputs in order}

    def unseen(inputs: tuple[str, ...]) -> str:
        typed = ", ".join(f"{_typed_text(c)} AS k{j}" for j, c in enumerate(inputs))
        keys = ", ".join(f"k{j}" for j in range(len(inputs)))
        return maps.unseen(map_of[inputs], f"SELECT DISTINCT {typed} FROM {table} WHERE {where}", keys)

    in_python = {inputs for inputs in order if any(spec.kind == "clk" or spec.sql is None for spec in groups[inputs])}
    distinct = {inputs: con.execute(unseen(inputs)).fetchall() for inputs in order if inputs in in_python}
    columns = sorted({c for inputs in groups for c in inputs})
    # Maps needing neither the names' lookup nor Python are built in SQL first, in a thread, while Python
    # standardizes the distinct names; the Bloom filters are encoded in another thread meanwhile.
    early = [i for i, inputs in enumerate(order) if inputs not in in_python and not NAME_INPUTS.intersection(inputs)]
    with (
        _no_cyclic_gc(),
        ThreadPoolExecutor(max_workers=1) as encoder,
        ThreadPoolExecutor(max_workers=1) as database,
    ):
        encodings = {
            spec.column: encoder.submit(tokenizer.clk_packed, spec, distinct[inputs])
            for inputs in order
            for spec in groups[inputs]
            if spec.kind == "clk"
        }
        names = _distinct_values(con, table, where, [c for c in columns if c in NAME_INPUTS], maps, maps.names)
        numbers = _distinct_values(
            con, table, where, [c for c in columns if c in DOCUMENT_INPUTS], maps, maps.documents
        )
        maps.add(maps.documents, _document_rows(numbers))

        def create(i: int) -> None:
            inputs = order[i]
            if inputs in in_python:
                raw = _standardized(inputs, groups[inputs], distinct[inputs], encodings)
            else:
                raw = con.sql(unseen(inputs)).to_arrow_table()
            # Small batches: DuckDB scans an Arrow table's batches in parallel (a table of fewer than 122,880
            # rows, one row group, would be hashed by one thread).
            batches = pa.Table.from_batches(raw.to_batches(max_chunksize=MAP_BATCH_ROWS), raw.schema)
            with registered(con, f"token_base_{i}", batches) as base:
                _create_map(maps, map_of[inputs], inputs, groups[inputs], base)

        def create_early() -> None:
            for i in early:
                create(i)

        built = database.submit(create_early)
        name_rows = _name_rows(names)  # Python, while the thread above waits on DuckDB
        built.result()
        maps.add(maps.names, name_rows)
        for i in sorted(range(len(order)), key=lambda i: any(spec.kind == "clk" for spec in groups[order[i]])):
            if i not in early:  # Bloom-filter groups last: their encodings may still be under way
                create(i)
        selects = [f"m{i}.{spec.column}" for i, inputs in enumerate(order) for spec in groups[inputs]]
        joins = [
            f"LEFT JOIN {map_of[inputs]} m{i} ON "
            + " AND ".join(f"m{i}.k{j} IS NOT DISTINCT FROM {_typed_text(c, 'c.')}" for j, c in enumerate(inputs))
            for i, inputs in enumerate(order)
        ]
        con.execute(
            f"""INSERT INTO identity_tokens BY NAME
            SELECT ? AS source, c.t_record_id AS record_id, ? AS key_version, {", ".join(selects)}
            FROM {table} c {" ".join(joins)}
            WHERE {where}""",
            [source, tokenizer.version],
        )


def _create_map(
    maps: TokenMaps,
    name: str,
    inputs: tuple[str, ...],
    specs: list[TokenSpec],
    base: str,
) -> None:
    """Append to the table ``name`` of ``maps`` (:meth:`TokenMaps.append`) the keys ``k<j>`` of ``base``
    (one row per distinct input) and every column of ``specs``, standardized (:attr:`privacy.tokens.TokenSpec.sql`)
    and hashed (:func:`privacy.tokens.hmac_sql`) in SQL; the subkeys go in as parameters. Bloom filters come from
    ``base``."""
    exprs = [f"k{j}" for j in range(len(inputs))]
    params: dict[str, bytes] = {}
    for spec in specs:
        if spec.kind == "clk":
            exprs.append(f"{spec.column}::BIT AS {spec.column}")
            continue
        label = re.sub(r"\W", "_", spec.purpose)
        inner, outer = f"inner_{label}", f"outer_{label}"
        params[inner], params[outer] = maps.tokenizer.pads(spec.purpose)
        text = f"({spec.sql})" if spec.sql is not None else f"s_{spec.column}"
        if spec.kind == "token":
            exprs.append(f"{hmac_sql(text, '$' + inner, '$' + outer)} AS {spec.column}")
        else:
            element = hmac_sql("x", "$" + inner, "$" + outer)
            exprs.append(f"list_transform({text}, lambda x: {element}) AS {spec.column}")
    looked_up, lookup_joins = ["g.*"], []
    for j, column in enumerate(inputs):
        if column in NAME_INPUTS:
            looked_up += [f"coalesce(l{j}.parts, []::VARCHAR[]) AS p{j}", f"l{j}.phonetic AS h{j}"]
            lookup_joins.append(f"LEFT JOIN {maps.names} l{j} ON l{j}.value = g.k{j}")
        elif column in DOCUMENT_INPUTS:
            looked_up.append(f"l{j}.normalized AS n{j}")
            lookup_joins.append(f"LEFT JOIN {maps.documents} l{j} ON l{j}.value = g.k{j}")
    maps.append(
        name,
        f"""SELECT {", ".join(exprs)}
        FROM (SELECT {", ".join(looked_up)} FROM {base} g {" ".join(lookup_joins)})""",
        params,
    )


def _distinct_values(
    con: duckdb.DuckDBPyConnection, table: str, where: str, columns: list[str], maps: TokenMaps, lookup: str
) -> list[str]:
    """The distinct non-null values of some identifier columns together, less those already in ``lookup``."""
    if not columns:
        return []
    union = " UNION ALL ".join(f'SELECT "t_{c}" AS v FROM {table} WHERE {where}' for c in columns)
    select = maps.unseen(lookup, f"SELECT DISTINCT v FROM ({union}) WHERE v IS NOT NULL", "value")
    return [v for (v,) in con.execute(select).fetchall()]


def _name_rows(names: list[str]) -> pa.Table:
    parts, phonetic = zip(*map(name_lookup, names), strict=True) if names else ((), ())
    text_list = pa.list_(pa.string())
    return pa.table(
        {
            "value": pa.array(names, pa.string()),
            "parts": pa.array(parts, text_list),
            "phonetic": pa.array(phonetic, text_list),
        }
    )


def _document_rows(numbers: list[str]) -> pa.Table:
    normalized = pa.array(map(normalize_document, numbers), pa.string(), size=len(numbers))
    return pa.table({"value": pa.array(numbers, pa.string()), "normalized": normalized})


def _standardized(
    inputs: tuple[str, ...], specs: list[TokenSpec], rows: list[tuple[str | None, ...]], encodings: dict[str, Future]
) -> pa.Table:
    """The map of one input group as standardized in Python: keys ``k<j>``, ``s_<column>`` (text or list) for the
    tokens without an SQL standardization, and the Bloom-filter encodings (waited for)."""
    mapping = {f"k{j}": pa.array([row[j] for row in rows], pa.string()) for j in range(len(inputs))}
    for spec in specs:
        if spec.kind == "clk":
            mapping[spec.column] = pa.array(encodings[spec.column].result(), pa.binary())
        elif spec.sql is None:
            values = [spec.standardize(row) for row in rows]
            mapping[f"s_{spec.column}"] = pa.array(values, _ARROW_TYPES[spec.kind])
    return pa.table(mapping)


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: millions of short-lived tuples make it scan again and again, and
    nothing allocated here forms reference cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _drop_quietly(con: duckdb.DuckDBPyConnection, table: str) -> None:
    with contextlib.suppress(duckdb.Error):  # an aborted transaction refuses it; the original error wins
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _seal_identities(
    con: duckdb.DuckDBPyConnection, source: str, table_name: str, vault: Sealer, run_id: str, *, where: str
) -> None:
    """One sealed Arrow IPC blob of the identifiers per partition: what a rekey re-derives pseudonyms from."""
    columns = ["record_id", *IDENTIFIER_INPUTS, *SOURCE_NUMBER.get(source, ())]
    select = ", ".join(f"{_typed_text(c)} AS {c}" for c in columns)
    table = con.sql(f"SELECT _partition, {select} FROM {table_name} WHERE {where} ORDER BY _partition").to_arrow_table()
    sizes = con.execute(
        f"SELECT _partition, count(*) FROM {table_name} WHERE {where} GROUP BY _partition ORDER BY _partition"
    ).fetchall()
    table = table.drop_columns(["_partition"])
    rows = []
    start = 0
    for day, size in sizes:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table.slice(start, size))
        aad = f"{source}|{day}|{run_id}".encode()
        rows.append((source, day, run_id, size, vault.version, vault.seal(sink.getvalue().to_pybytes(), aad=aad)))
        start += size
    frame = pd.DataFrame(
        rows, columns=["source", "partition_date", "run_id", "records", "key_version", "sealed_identities"]
    )
    with registered(con, "vault_rows", frame):
        con.execute("INSERT INTO identity_vault BY NAME SELECT * FROM vault_rows")


def _typed_text(column: str, prefix: str = "") -> str:
    """The checked value of ``column`` as text (dates in ISO form)."""
    if column == "date_of_birth":
        return f"strftime({prefix}t_date_of_birth, '%Y-%m-%d')"
    return f'{prefix}"t_{column}"'


def _store_quarantined(con: duckdb.DuckDBPyConnection, contract: SourceContract, sealer: Sealer, run_id: str) -> None:
    cols = ", ".join(f'"{c}"' for c in contract.names)
    bad = con.execute(
        f"SELECT _partition, _file, _line, t_record_id, _reason, {cols} FROM checked_rows WHERE _reason IS NOT NULL"
    ).fetchall()
    if not bad:
        return
    rows = []
    for part, file, line, record_id, reason, *values in bad:
        payload = json.dumps(dict(zip(contract.names, values, strict=True)), ensure_ascii=False).encode()
        aad = f"{contract.source}|{part}|{file}|{line}".encode()
        rows.append((contract.source, part, file, line, record_id, reason, sealer.seal(payload, aad=aad)))
    frame = pd.DataFrame(
        rows, columns=["source", "partition_date", "file", "line", "record_id", "reason", "sealed_row"]
    )
    frame["key_version"] = sealer.version
    with registered(con, "quarantine_rows", frame):
        con.execute(
            "INSERT INTO quarantine BY NAME SELECT *, uuid()::VARCHAR AS quarantine_id, ? AS run_id, "
            "now() AS quarantined_at FROM quarantine_rows",
            [run_id],
        )


def _record_partitions(
    con: duckdb.DuckDBPyConnection,
    pending: list[Partition],
    files: list[FileRow],
    run_id: str,
) -> list[PartitionCount]:
    file_rows = pd.DataFrame(files, columns=["source", "partition_date", "file", "bytes", "sha256", "rows_read"])
    with registered(con, "file_rows", file_rows):
        con.execute("INSERT INTO meta_files BY NAME SELECT *, ? AS run_id FROM file_rows", [run_id])
    read: dict[tuple[str, dt.date], int] = {}
    for source, day, _f, _b, _d, n in files:
        read[(source, day)] = read.get((source, day), 0) + n
    stored = " UNION ALL ".join(
        f"SELECT '{source}' AS source, partition_date FROM {table} WHERE run_id = $run"
        for source, table in RECORD_TABLES.items()
    )
    accepted_by = {
        (s, d): n
        for s, d, n in con.execute(
            f"SELECT source, partition_date, count(*) FROM ({stored}) GROUP BY ALL", {"run": run_id}
        ).fetchall()
    }
    quarantined_by = {
        (s, d): n
        for s, d, n in con.execute(
            "SELECT source, partition_date, count(*) FROM quarantine WHERE run_id = ? GROUP BY ALL", [run_id]
        ).fetchall()
    }
    counts = []
    for part in pending:
        accepted = accepted_by.get(part.key, 0)
        quarantined = quarantined_by.get(part.key, 0)
        n_read = read[part.key]
        if n_read != accepted + quarantined:
            raise PipelineError(
                f"rows do not reconcile for {part.source}/{part.date}: read {n_read}, accepted {accepted}, "
                f"quarantined {quarantined}; nothing was written"
            )
        counts.append(
            PartitionCount(part.source, part.date.isoformat(), len(part.files), n_read, accepted, quarantined)
        )
    part_rows = pd.DataFrame([asdict(c) for c in counts])
    with registered(con, "part_rows", part_rows):
        con.execute(
            "INSERT INTO meta_partitions BY NAME SELECT * REPLACE (partition_date::DATE AS partition_date), "
            "? AS run_id, now() AS processed_at FROM part_rows",
            [run_id],
        )
    return counts
