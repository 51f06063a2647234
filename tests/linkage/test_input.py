"""The entity table: one row per identity signature, each compared column the first non-NULL value of its records
in ``unique_id`` order (what ``arg_min(column, unique_id)`` over every record gives)."""

from __future__ import annotations

import random

import duckdb

from linkage.input import COMPARED_COLUMNS, SIGNATURE_COLUMNS, _kept_columns, entities_table_sql

BY_AGGREGATE = f"""CREATE OR REPLACE TABLE by_aggregate AS
WITH grouped AS (
  SELECT min(unique_id) AS unique_id, signature, count(*)::INTEGER AS records, {_kept_columns()}
  FROM __linkage_all GROUP BY signature
)
SELECT (row_number() OVER (ORDER BY unique_id) - 1)::INTEGER AS entity_id, *, NULL::BIGINT AS cluster_id
FROM grouped ORDER BY unique_id"""


def _records(con: duckdb.DuckDBPyConnection, rows: list[dict[str, object]]) -> None:
    columns = ", ".join(f'"{c}" VARCHAR' for c in COMPARED_COLUMNS)
    con.execute(f"CREATE OR REPLACE TEMP TABLE __linkage_all (unique_id VARCHAR, signature UBIGINT, {columns})")
    names = ["unique_id", "signature", *COMPARED_COLUMNS]
    marks = ", ".join("?" for _ in names)
    con.executemany(
        f"INSERT INTO __linkage_all ({', '.join(chr(34) + n + chr(34) for n in names)}) VALUES ({marks})",
        [[row.get(n) for n in names] for row in rows],
    )


def test_a_first_record_without_a_value_takes_it_from_a_later_record_of_its_signature() -> None:
    con = duckdb.connect()
    full = {c: f"{c}-x" for c in COMPARED_COLUMNS}
    _records(
        con,
        [
            {"unique_id": "border:2", "signature": 7, **full, "doc_issuing_country": None, "birth_year": None},
            {"unique_id": "border:9", "signature": 7, **full, "doc_issuing_country": "FRA", "birth_year": None},
            {"unique_id": "visa:1", "signature": 7, **full, "doc_issuing_country": "DEU", "birth_year": "1990"},
            {"unique_id": "border:1", "signature": 8, **full, "tok_document": None},  # alone: stays NULL
        ],
    )
    con.execute(entities_table_sql("entities"))
    got = con.execute(
        'SELECT entity_id, unique_id, records, doc_issuing_country, birth_year, tok_document, "tok_dob" '
        "FROM entities ORDER BY entity_id"
    ).fetchall()
    assert got == [
        (0, "border:1", 1, "doc_issuing_country-x", "birth_year-x", None, "tok_dob-x"),
        (1, "border:2", 3, "FRA", "1990", "tok_document-x", "tok_dob-x"),
    ]


def test_the_entity_table_equals_the_aggregate_over_every_record() -> None:
    """Random records (signatures of 1-5 records, any column NULL in any of them): the same table as the 24
    aggregates over every record, row for row and column for column."""
    rng = random.Random(5)
    ids = iter(rng.sample(range(10**6), 2000))  # unique_id is unique, in an order unrelated to the signatures
    rows = []
    for signature in range(400):
        for _ in range(rng.randint(1, 5)):
            row: dict[str, object] = {"unique_id": f"border:{next(ids):07d}", "signature": signature}
            for column in COMPARED_COLUMNS:
                if column in SIGNATURE_COLUMNS:
                    row[column] = f"{column}-{signature}"
                else:
                    row[column] = None if rng.random() < 0.3 else f"{column}-{rng.randrange(3)}"
            rows.append(row)
    con = duckdb.connect()
    _records(con, rows)
    con.execute(BY_AGGREGATE)
    con.execute(entities_table_sql("entities"))
    assert con.execute("DESCRIBE entities").fetchall() == con.execute("DESCRIBE by_aggregate").fetchall()
    assert con.execute("SELECT * FROM entities").fetchall() == con.execute("SELECT * FROM by_aggregate").fetchall()
