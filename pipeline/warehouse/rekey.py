"""Re-pseudonymization after a key rotation: move every pseudonym and sealed blob to the active key version.

``migralink keys rotate`` adds a key version; until ``migralink keys rekey`` has run, nightly runs keep making
pseudonyms with the version the warehouse already uses, so old and new records always link. The rekey opens
the sealed identifiers (``identity_vault``), derives every pseudonym again with the active version, re-seals
the vault and the quarantine with it and records the new token version, all in one transaction. Equal
identifiers stay equal (the same records share tokens as before) and the rekey leaves every person key as it is.
The next night relinks every record under the new key: the Bloom-filter encodings' similarities move a little
with the key, so a borderline pair may go the other way and a few records change person (at most 1 % in the
key-rotation test).
Afterwards ``migralink keys retire`` can remove the old version from the key file.

The same re-derivation fills pseudonym columns that a schema migration added to an existing warehouse
(``meta_pending_tokens``, see :func:`pipeline.warehouse.tables.add_token_columns`): when such columns are pending,
the rekey runs even without a new key version, keeps the version, and marks the linkage for a full relink (its
tables hold the new columns empty and incremental nights would never fill them).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from linkage import require_full_relink
from pipeline.errors import PipelineError
from pipeline.ingest.load import VAULT_PURPOSE, Progress, store_tokens, token_maps
from pipeline.warehouse.connection import check_key, registered, transaction
from privacy.audit.log import append as audit
from privacy.keys import Keyring
from privacy.sealing import Sealer
from privacy.tokens import Tokenizer

log = logging.getLogger(__name__)


@dataclass
class RekeySummary:
    """Counts of one rekey (no values)."""

    from_version: int
    to_version: int
    records: int = 0
    vault_blobs: int = 0
    quarantine_rows: int = 0
    filled_columns: tuple[str, ...] = ()  # pseudonym columns added by a migration, filled by this rekey

    @property
    def nothing_to_do(self) -> bool:
        return self.from_version == self.to_version and not self.filled_columns


def rekey_warehouse(con: duckdb.DuckDBPyConnection, ring: Keyring, progress: Progress | None = None) -> RekeySummary:
    """Move every pseudonym and sealed blob of the warehouse to ``ring``'s active version.

    Raises:
        KeyMismatchError: ``ring`` is not the warehouse's key, or lacks a version still in use.
        InvalidCiphertext: a sealed blob was altered (nothing is changed).
    """
    current = check_key(con, ring)
    pending = con.execute("SELECT column_name FROM meta_pending_tokens ORDER BY column_name").fetchall()
    summary = RekeySummary(
        from_version=current, to_version=ring.active_version, filled_columns=tuple(c for (c,) in pending)
    )
    if summary.nothing_to_do:
        return summary
    vault = Sealer(ring, VAULT_PURPOSE)
    tokenizer = Tokenizer(ring, ring.active_version)
    with transaction(con):
        blobs = con.execute(
            "SELECT source, partition_date, run_id, sealed_identities FROM identity_vault ORDER BY ALL"
        ).fetchall()
        opened: dict[str, list[pa.Table]] = {}
        for i, (source, day, run_id, blob) in enumerate(blobs):
            aad = f"{source}|{day}|{run_id}".encode()
            plain = vault.open(blob, aad=aad)
            opened.setdefault(source, []).append(pa.ipc.open_stream(plain).read_all())
            con.execute(
                "UPDATE identity_vault SET sealed_identities = ?, key_version = ? "
                "WHERE source = ? AND partition_date = ? AND run_id = ?",
                [vault.seal(plain, aad=aad), vault.version, source, day, run_id],
            )
            if progress:
                progress("opening sealed identities", i + 1, len(blobs))
        summary.vault_blobs = len(blobs)
        with token_maps(con, tokenizer) as maps:  # each source hashes only what the ones before it did not
            for source, tables in opened.items():
                rows = pa.concat_tables(tables)
                before = con.execute("SELECT count(*) FROM identity_tokens WHERE source = ?", [source]).fetchall()[0][0]
                if before != rows.num_rows:
                    raise PipelineError(
                        f"rekey stopped: {source} has {before:,} pseudonymized records but {rows.num_rows:,} sealed "
                        "identities; nothing was changed"
                    )
                con.execute("DELETE FROM identity_tokens WHERE source = ?", [source])
                with registered(con, "vault_rows", rows):
                    con.execute(_typed_vault_sql(rows.column_names))
                store_tokens(con, source, "rekey_rows", tokenizer, maps=maps)
                con.execute("DROP TABLE rekey_rows")
                summary.records += rows.num_rows
        summary.quarantine_rows = _reseal_quarantine(con, ring)
        con.execute("UPDATE meta_token_version SET version = ?, since = now()", [ring.active_version])
        audit(con, "rekeyed", from_version=current, to_version=ring.active_version, records=summary.records)
        con.execute("DELETE FROM meta_pending_tokens")
        if current == ring.active_version:
            require_full_relink(con)
    log.info(
        "rekeyed %d records from key version %d to %d (%d added pseudonym columns filled)",
        summary.records,
        current,
        ring.active_version,
        len(summary.filled_columns),
    )
    return summary


def _typed_vault_sql(columns: list[str]) -> str:
    cols = ", ".join(
        f"try_cast({c} AS DATE) AS t_{c}" if c == "date_of_birth" else f'"{c}" AS "t_{c}"' for c in columns
    )
    return f"CREATE OR REPLACE TEMP TABLE rekey_rows AS SELECT {cols} FROM vault_rows"


def _reseal_quarantine(con: duckdb.DuckDBPyConnection, ring: Keyring) -> int:
    sealer = Sealer(ring, "quarantine")
    rows = con.execute(
        "SELECT quarantine_id, source, partition_date, file, line, sealed_row FROM quarantine WHERE key_version <> ?",
        [sealer.version],
    ).fetchall()
    for qid, source, day, file, line, blob in rows:
        aad = f"{source}|{day}|{file}|{line}".encode()
        con.execute(
            "UPDATE quarantine SET sealed_row = ?, key_version = ? WHERE quarantine_id = ?",
            [sealer.seal(sealer.open(blob, aad=aad), aad=aad), sealer.version, qid],
        )
    return len(rows)


def retire_check(con: duckdb.DuckDBPyConnection, version: int) -> None:
    """Refuse to retire ``version`` while any pseudonym or sealed blob of the warehouse still uses it."""
    (token_version,) = con.execute("SELECT version FROM meta_token_version").fetchall()[0]
    in_use = con.execute(
        "SELECT (SELECT count(*) FROM identity_vault WHERE key_version = $v) "
        "+ (SELECT count(*) FROM quarantine WHERE key_version = $v)",
        {"v": version},
    ).fetchall()[0][0]
    if token_version == version or in_use:
        raise PipelineError(f"key version {version} is still in use by the warehouse; run `migralink keys rekey` first")
    con.execute("UPDATE meta_keys SET retired_at = now(), active = false WHERE version = ?", [version])
    audit(con, "key_retired", key_version=version)
