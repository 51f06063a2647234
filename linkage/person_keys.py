"""Stable, random, pseudonymous person keys across nights, with a history of merges and splits.

Each night's clustering (``source, record_id, cluster_id``) is mapped onto the keys records already had:

* a cluster inherits the old key most of its records carry, provided that key's records are mostly in this
  cluster (ties broken by key, then cluster id, so the result is deterministic);
* a cluster that inherits nothing gets a new random key (``P`` + 32 hex digits from a UUID4; keys say nothing
  about the person);
* a record whose key changes is recorded in ``person_key_history`` (old key, new key, night, reason): ``merge``
  when its old key no longer exists (two persons became one), ``split`` when the old key lives on elsewhere
  (one person became two). Downstream tables correct themselves from that history; nothing is rewritten
  silently.

Everything is SQL over the warehouse; nothing loops over records in Python.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from linkage.schema import RECORD_KEYS_TABLE, ensure_schema
from privacy.sql import quote_identifier


@dataclass(frozen=True)
class KeyAssignment:
    """What one night's key assignment changed (counts only)."""

    records: int
    new_persons: int
    merged_keys: int
    split_keys: int
    changed_records: int
    first_keyed: int = 0  # records that had no person key before tonight
    joined_existing: int = 0  # of those, records that joined a person who had a key already


def assign_person_keys(con: duckdb.DuckDBPyConnection, clusters: str, night: dt.date) -> KeyAssignment:
    """Give every record of ``clusters`` (source, record_id, cluster_id) a stable person key.

    Records absent from ``clusters`` keep their keys. Runs inside the caller's transaction.
    """
    ensure_schema(con)
    c = quote_identifier(clusters)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE pk_overlap AS
        SELECT c.cluster_id, p.person_key, count(*) AS n
        FROM {c} c JOIN person_keys p USING (source, record_id)
        GROUP BY ALL"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE pk_heir AS
        WITH key_home AS (  -- the cluster holding most of each old key's records
            SELECT * FROM pk_overlap
            QUALIFY row_number() OVER (PARTITION BY person_key ORDER BY n DESC, cluster_id) = 1
        )
        SELECT cluster_id, person_key FROM key_home
        QUALIFY row_number() OVER (PARTITION BY cluster_id ORDER BY n DESC, person_key) = 1"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE pk_new AS
        WITH clusters AS (SELECT DISTINCT cluster_id FROM {c})
        SELECT cl.cluster_id,
               coalesce(h.person_key, 'P' || replace(gen_random_uuid()::VARCHAR, '-', '')) AS person_key,
               h.person_key IS NULL AS is_new
        FROM clusters cl LEFT JOIN pk_heir h USING (cluster_id)"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE pk_assigned AS
        SELECT c.source, c.record_id, n.person_key, n.is_new, p.person_key AS old_key
        FROM {c} c JOIN pk_new n USING (cluster_id)
        LEFT JOIN person_keys p USING (source, record_id)"""
    )
    surviving = "SELECT DISTINCT person_key FROM pk_assigned UNION SELECT person_key FROM person_keys p " + (
        f"WHERE NOT EXISTS (SELECT 1 FROM {c} c WHERE c.source = p.source AND c.record_id = p.record_id)"
    )
    con.execute(
        f"""INSERT INTO person_key_history
        SELECT ? AS night, old_key, person_key AS new_key,
               CASE WHEN old_key IN ({surviving}) THEN 'split' ELSE 'merge' END AS reason, count(*) AS records
        FROM pk_assigned WHERE old_key IS NOT NULL AND old_key <> person_key
        GROUP BY ALL""",
        [night],
    )
    changes = con.execute(
        """SELECT count(*) FILTER (WHERE old_key IS NOT NULL AND old_key <> person_key),
                  count(DISTINCT person_key) FILTER (WHERE is_new), count(*),
                  count(*) FILTER (WHERE old_key IS NULL AND NOT is_new), count(*) FILTER (WHERE old_key IS NULL)
           FROM pk_assigned"""
    ).fetchall()[0]
    history = dict(
        con.execute(
            "SELECT reason, count(DISTINCT old_key) FROM person_key_history WHERE night = ? GROUP BY reason",
            [night],
        ).fetchall()
    )
    # The changed keys are deleted and inserted again, not updated in place: DuckDB's checkpoint rewrites every
    # row group a VARCHAR update touches, and a night's few hundred changed keys lie all over the table (0.23-0.27 s
    # of checkpoint for 300 keys of 987,778 updated, 0.03-0.04 s deleted and inserted).
    con.execute(
        """DELETE FROM person_keys p USING pk_assigned a
        WHERE p.source = a.source AND p.record_id = a.record_id AND a.old_key <> a.person_key"""
    )
    con.execute(
        """INSERT INTO person_keys
        SELECT source, record_id, person_key, ? AS assigned_on FROM pk_assigned
        WHERE old_key IS DISTINCT FROM person_key""",
        [night],
    )
    # Only the keys assigned tonight can be new: every key there was before tonight got its record key the night it
    # appeared (in the same transaction) or when the table was made (linkage.schema).
    draw_record_keys(con, night, among=f"SELECT person_key FROM person_keys WHERE assigned_on = DATE '{night}'")
    for table in ("pk_overlap", "pk_heir", "pk_new", "pk_assigned"):
        con.execute(f"DROP TABLE {table}")
    return KeyAssignment(
        records=int(changes[2]),
        new_persons=int(changes[1]),
        merged_keys=int(history.get("merge", 0)),
        split_keys=int(history.get("split", 0)),
        changed_records=int(changes[0]),
        first_keyed=int(changes[4]),
        joined_existing=int(changes[3]),
    )


def draw_record_keys(con: duckdb.DuckDBPyConnection, day: dt.date, *, among: str | None = None) -> int:
    """Give every person key without one a secret random record key; return how many were drawn. ``among``: SQL
    of the person keys (``person_key``) that may lack one, when the caller knows that the others have theirs (a
    night's new keys: looking through every person key took 0.13 s at 1M records); every person key by default.

    A record key (32 random bits from the operating system's generator) belongs to a person key and is never
    changed, so it follows the person keys' rule through merges and splits: a merged person keeps the key of the
    surviving person key (the one holding most of its records), the part that splits off under a new person key
    gets a new record key. The cell key method of disclosure control adds up the record keys of a cell's
    members: the same persons give the same cell key, and so the same noise, in every table and every night.
    Runs inside the caller's transaction.
    """
    import pyarrow as pa

    from privacy.disclosure.cellkey import new_record_keys

    keys_of = f"({among})" if among is not None else "person_keys"
    missing = con.execute(
        f"""SELECT DISTINCT p.person_key FROM {keys_of} p
            ANTI JOIN {RECORD_KEYS_TABLE} r USING (person_key) ORDER BY 1"""
    ).fetchall()
    if not missing:
        return 0
    keys = new_record_keys(len(missing))
    con.register("__drawn_record_keys", pa.table({"person_key": [k for (k,) in missing], "record_key": keys}))
    try:
        con.execute(f"INSERT INTO {RECORD_KEYS_TABLE} SELECT person_key, record_key, ? FROM __drawn_record_keys", [day])
    finally:
        con.unregister("__drawn_record_keys")
    return len(missing)
