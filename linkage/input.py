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

Both are scratch tables of the linkage zone, rebuilt on every call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    "clk_name",
    "tok_dob",
    "tok_dob_year",
    "tok_dob_month",
    "tok_dob_day",
    "tok_dob_swapped",
    "tok_slk581",
    "tok_document",
)
CLEAR_COLUMNS = ("sex", "nationality", "doc_issuing_country", "birth_year")
COMPARED_COLUMNS = TOKEN_COLUMNS + CLEAR_COLUMNS
# Records equal on all of these are one entity (the other compared columns are functions of them).
SIGNATURE_COLUMNS = ("tok_family_name", "tok_given_names", "tok_dob", "tok_document", "sex", "nationality")

RECORDS_TABLE = "linkage_records"
INPUT_TABLE = "linkage_input"


def quote(name: str) -> str:
    """Quote one SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def unioned_records_sql() -> str:
    """SQL selecting every tokenized record with its clear coarse attributes, one row per record."""
    clear = ", ".join(f"r.{quote(c)}" for c in CLEAR_COLUMNS)
    tokens = ", ".join(f"t.{quote(c)}" for c in TOKEN_COLUMNS)
    parts = [
        f"SELECT t.source || ':' || t.record_id AS unique_id, t.source, t.record_id, {tokens}, {clear} "
        f"FROM identity_tokens t JOIN {quote(table)} r ON r.record_id = t.record_id AND t.source = '{source}'"
        for source, table in RECORD_TABLES.items()
    ]
    return "\nUNION ALL\n".join(parts)


def signature_sql(prefix: str = "") -> str:
    """SQL hash of the identity signature (NULLs included as themselves)."""
    cols = ", ".join(f"{prefix}{quote(c)}" for c in SIGNATURE_COLUMNS)
    return f"hash(struct_pack({cols}))"


def records_table_sql() -> str:
    """CREATE statement of :data:`RECORDS_TABLE` with every compared column and the entity signature."""
    return (
        f"CREATE OR REPLACE TEMP TABLE __linkage_all AS SELECT *, {signature_sql()} AS signature "
        f"FROM ({unioned_records_sql()}) ORDER BY unique_id"
    )


def entities_table_sql() -> str:
    """CREATE statement of :data:`INPUT_TABLE`: one row per signature, numbered in ``unique_id`` order."""
    keep = ", ".join(f"arg_min({quote(c)}, unique_id) AS {quote(c)}" for c in COMPARED_COLUMNS)
    return f"""
CREATE OR REPLACE TABLE {INPUT_TABLE} AS
WITH grouped AS (
  SELECT min(unique_id) AS unique_id, signature, count(*)::INTEGER AS records, {keep}
  FROM __linkage_all GROUP BY signature
)
SELECT (row_number() OVER (ORDER BY unique_id) - 1)::INTEGER AS entity_id, * EXCLUDE (signature), signature
FROM grouped ORDER BY unique_id"""


def record_map_sql() -> str:
    """CREATE statement of :data:`RECORDS_TABLE` (every record with its entity)."""
    return f"""
CREATE OR REPLACE TABLE {RECORDS_TABLE} AS
SELECT a.* EXCLUDE (signature), e.entity_id
FROM __linkage_all a JOIN {INPUT_TABLE} e USING (signature) ORDER BY a.unique_id"""


def build_input(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """Build :data:`RECORDS_TABLE` and :data:`INPUT_TABLE` from the warehouse tables.

    Args:
        con: Connection to the warehouse (or any database with ``identity_tokens`` and the record tables).

    Returns:
        The number of records and of entities.
    """
    con.execute(records_table_sql())
    con.execute(entities_table_sql())
    con.execute(record_map_sql())
    con.execute("DROP TABLE IF EXISTS __linkage_all")
    con.execute(f"ALTER TABLE {INPUT_TABLE} DROP COLUMN signature")
    records = con.execute(f"SELECT count(*) FROM {RECORDS_TABLE}").fetchall()[0][0]
    entities = con.execute(f"SELECT count(*) FROM {INPUT_TABLE}").fetchall()[0][0]
    return int(records), int(entities)
