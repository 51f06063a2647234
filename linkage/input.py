"""The linkage input: one row per distinct identity signature, built in SQL from the warehouse tables.

Linkage compares pseudonyms (``identity_tokens``) and a few clear coarse attributes of the record tables
(sex, nationality, document issuing country, birth year). Records are read from the three sources into one
relation with a ``source`` column and ``unique_id = source || ':' || record_id``.

Many records are exact repeats of one identity (a frequent traveller's crossings carry the same name, date of
birth, sex, nationality and passport every time). Records that agree on all of these are collapsed into one
*entity* before scoring: the model would give such pairs its highest weight anyway, and scoring distinct
identities only makes prediction several times cheaper and term frequencies count identities, not journeys.

* ``linkage_records``: one row per record: ``unique_id``, ``source``, ``record_id``, ``entity_id`` and the
  compared columns (the model is trained on records, so that its m and u describe record pairs);
* ``linkage_input``: one row per entity: ``unique_id`` (the smallest ``unique_id`` of its records),
  ``entity_id``, ``records`` and the compared columns (see :data:`COMPARED_COLUMNS`).

Both are tables of the linkage zone. :func:`build_input` rebuilds them from every record (a full relink, or
training, which builds its own scratch copies); :func:`append_input` adds only the records that are not in
them yet (a night's increment): a new record whose signature is already known joins that entity, the others
become new entities numbered after the existing ones, so entity ids never change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from privacy.sql import quote_identifier

if TYPE_CHECKING:
    import duckdb

RECORD_TABLES = {"border": "border_crossings", "visa": "visa_decisions", "permit": "residence_permits"}
TOKEN_COLUMNS = (
    "tok_family_name",
    "tok_given_names",
    "tok_family_parts",
    "tok_given_parts",
    "tok_name_set",
    "tok_family_phonetic",
    "tok_given_phonetic",
    "tok_given_initials",
    "clk_name",
    "clk_family",
    "clk_given",
    "tok_dob",
    "tok_dob_year",
    "tok_dob_month",
    "tok_dob_day",
    "tok_dob_swapped",
    "tok_slk581",
    "tok_document",
    "tok_document_edits",
)
CLEAR_COLUMNS = ("sex", "nationality", "doc_issuing_country", "birth_year")
# Key of the name-and-nationality frequency (see :mod:`linkage.term_frequencies`): SQL over the aliases ``t``
# (tokens) and ``r`` (the record table), NULL unless both names and the nationality are known.
TF_KEY_COLUMNS: dict[str, str] = {
    "tfk_name_nationality": "CASE WHEN t.tok_family_name IS NOT NULL AND t.tok_given_names IS NOT NULL "
    "AND r.nationality IS NOT NULL THEN hash(t.tok_family_name, t.tok_given_names, r.nationality) END",
}
COMPARED_COLUMNS = TOKEN_COLUMNS + CLEAR_COLUMNS + tuple(TF_KEY_COLUMNS)
# Records equal on all of these are one entity (the other compared columns are functions of them).
SIGNATURE_COLUMNS = ("tok_family_name", "tok_given_names", "tok_dob", "tok_document", "sex", "nationality")

RECORDS_TABLE = "linkage_records"
INPUT_TABLE = "linkage_input"


def unioned_records_sql(tokens: str = "identity_tokens") -> str:
    """SQL selecting every record of ``tokens`` (default: all) with its clear coarse attributes, one row each."""
    clear = ", ".join(f"r.{quote_identifier(c)}" for c in CLEAR_COLUMNS)
    columns = ", ".join(f"t.{quote_identifier(c)}" for c in TOKEN_COLUMNS)
    keys = ", ".join(f"{sql} AS {quote_identifier(c)}" for c, sql in TF_KEY_COLUMNS.items())
    parts = [
        f"SELECT t.source || ':' || t.record_id AS unique_id, t.source, t.record_id, {columns}, {clear}, {keys} "
        f"FROM {quote_identifier(tokens)} t JOIN {quote_identifier(table)} r "
        f"ON r.record_id = t.record_id AND t.source = '{source}'"
        for source, table in RECORD_TABLES.items()
    ]
    return "\nUNION ALL\n".join(parts)


def signature_sql(prefix: str = "") -> str:
    """SQL hash of the identity signature (NULLs included as themselves)."""
    cols = ", ".join(f"{prefix}{quote_identifier(c)}" for c in SIGNATURE_COLUMNS)
    return f"hash(struct_pack({cols}))"


def records_table_sql(tokens: str = "identity_tokens") -> str:
    """CREATE statement of the scratch table ``__linkage_all``: every record of ``tokens`` with its signature
    (in no particular order: what is built from it groups, or sorts by ``unique_id`` itself)."""
    return (
        f"CREATE OR REPLACE TEMP TABLE __linkage_all AS SELECT *, {signature_sql()} AS signature "
        f"FROM ({unioned_records_sql(tokens)})"
    )


def _kept_columns() -> str:
    return ", ".join(f"arg_min({quote_identifier(c)}, unique_id) AS {quote_identifier(c)}" for c in COMPARED_COLUMNS)


def entities_table_sql(input_table: str = INPUT_TABLE) -> str:
    """CREATE statement of the entity table: one row per signature, numbered in ``unique_id`` order.

    Each compared column is that of the signature's first record (smallest ``unique_id``) where it is not NULL:
    ``arg_min(column, unique_id)``, which skips NULLs. Most columns are functions of the signature, so the first
    record has them all; the aggregate runs only over the signatures whose first record lacks one and that have
    more records (24 aggregates over every one of 1M wide records took 5-7.6 s and 3.0 GiB; this way 1.9 s and
    2.0 GiB, the same table). ``signature`` is kept (a later increment matches new records to entities by it)
    and ``cluster_id`` starts empty (clustering fills it in).
    """
    columns = [quote_identifier(c) for c in COMPARED_COLUMNS]
    first = ", ".join(f"a.{c}" for c in columns)
    gap = " OR ".join(f"{c} IS NULL" for c in columns)
    filled = ", ".join(f"coalesce(g.{c}, r.{c}) AS {c}" for c in columns)
    return f"""
CREATE OR REPLACE TABLE {quote_identifier(input_table)} AS
WITH firsts AS (
  SELECT min(unique_id) AS unique_id, signature, count(*)::INTEGER AS records FROM __linkage_all GROUP BY signature
), first_rows AS (
  SELECT f.unique_id, f.signature, f.records, {first} FROM firsts f JOIN __linkage_all a USING (unique_id)
), gaps AS (
  SELECT signature FROM first_rows WHERE records > 1 AND ({gap})
), later AS (
  SELECT signature, {_kept_columns()} FROM __linkage_all SEMI JOIN gaps USING (signature) GROUP BY signature
)
SELECT (row_number() OVER (ORDER BY r.unique_id) - 1)::INTEGER AS entity_id, r.unique_id, r.signature, r.records,
       {filled}, NULL::BIGINT AS cluster_id
FROM first_rows r LEFT JOIN later g USING (signature) ORDER BY r.unique_id"""


def record_map_sql(records_table: str = RECORDS_TABLE, input_table: str = INPUT_TABLE) -> str:
    """CREATE statement of the record table (every record with its entity)."""
    return f"""
CREATE OR REPLACE TABLE {quote_identifier(records_table)} AS
SELECT a.* EXCLUDE (signature), e.entity_id
FROM __linkage_all a JOIN {quote_identifier(input_table)} e USING (signature) ORDER BY a.unique_id"""


def build_input(
    con: duckdb.DuckDBPyConnection, *, records_table: str = RECORDS_TABLE, input_table: str = INPUT_TABLE
) -> tuple[int, int]:
    """Build the record and entity tables from every record of the warehouse.

    Args:
        con: Connection to the warehouse (or any database with ``identity_tokens`` and the record tables).
        records_table: Name of the record table to (re)create (default :data:`RECORDS_TABLE`).
        input_table: Name of the entity table to (re)create (default :data:`INPUT_TABLE`).

    Returns:
        The number of records and of entities.
    """
    con.execute(records_table_sql())
    con.execute(entities_table_sql(input_table))
    con.execute(record_map_sql(records_table, input_table))
    con.execute("DROP TABLE IF EXISTS __linkage_all")
    records = con.execute(f"SELECT count(*) FROM {quote_identifier(records_table)}").fetchall()[0][0]
    entities = con.execute(f"SELECT count(*) FROM {quote_identifier(input_table)}").fetchall()[0][0]
    return int(records), int(entities)


def input_counts(con: duckdb.DuckDBPyConnection, input_table: str = INPUT_TABLE) -> tuple[int, int]:
    """The records and entities of the entity table as it is (what :func:`build_input` returned when it built it)."""
    row = con.execute(f"SELECT sum(records)::BIGINT, count(*) FROM {quote_identifier(input_table)}").fetchall()[0]
    return int(row[0] or 0), int(row[1])


@dataclass(frozen=True)
class Increment:
    """What :func:`append_input` added."""

    records: int  # new records
    new_entities: int  # of which started a new entity
    first_new_entity: int  # entity ids from here on are new
    touched_entities: int  # existing entities that gained records


TOUCHED_TABLE = "__linkage_touched"  # entity_id of every entity that is new or gained records (temp)


def append_input(con: duckdb.DuckDBPyConnection) -> Increment:
    """Add the records of ``identity_tokens`` that are not in :data:`RECORDS_TABLE` yet.

    New entities get ids after the existing ones; :data:`TOUCHED_TABLE` lists the new entities and the
    existing ones that gained records. Runs inside the caller's transaction.
    """
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE __linkage_new_tokens AS
        SELECT t.* FROM identity_tokens t
        ANTI JOIN {RECORDS_TABLE} r ON r.source = t.source AND r.record_id = t.record_id"""
    )
    con.execute(records_table_sql("__linkage_new_tokens"))
    first = int(con.execute(f"SELECT coalesce(max(entity_id) + 1, 0) FROM {INPUT_TABLE}").fetchall()[0][0])
    con.execute(
        f"""INSERT INTO {INPUT_TABLE} BY NAME
        WITH grouped AS (
          SELECT min(unique_id) AS unique_id, signature, count(*)::INTEGER AS records, {_kept_columns()}
          FROM __linkage_all a WHERE NOT EXISTS (SELECT 1 FROM {INPUT_TABLE} e WHERE e.signature = a.signature)
          GROUP BY signature
        )
        SELECT ({first} + row_number() OVER (ORDER BY unique_id) - 1)::INTEGER AS entity_id, *,
               NULL::BIGINT AS cluster_id
        FROM grouped"""
    )
    con.execute(
        f"""UPDATE {INPUT_TABLE} e SET records = e.records + n.added
        FROM (SELECT signature, count(*)::INTEGER AS added FROM __linkage_all GROUP BY signature) n
        WHERE n.signature = e.signature AND e.entity_id < {first}"""
    )
    con.execute(
        f"""INSERT INTO {RECORDS_TABLE} BY NAME
        SELECT a.* EXCLUDE (signature), e.entity_id
        FROM __linkage_all a JOIN {INPUT_TABLE} e USING (signature) ORDER BY a.unique_id"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {TOUCHED_TABLE} AS
        SELECT DISTINCT e.entity_id FROM __linkage_all a JOIN {INPUT_TABLE} e USING (signature)"""
    )
    records, touched_old = con.execute(
        f"SELECT (SELECT count(*) FROM __linkage_all), count(*) FILTER (WHERE entity_id < {first}) FROM {TOUCHED_TABLE}"
    ).fetchall()[0]
    new_entities = int(con.execute(f"SELECT count(*) FROM {INPUT_TABLE} WHERE entity_id >= {first}").fetchall()[0][0])
    con.execute("DROP TABLE IF EXISTS __linkage_all")
    con.execute("DROP TABLE IF EXISTS __linkage_new_tokens")
    return Increment(int(records), new_entities, first, int(touched_old))
