"""The optimised pseudonymization gives bit-identical ``identity_tokens`` rows to the frozen one it replaced.

The frozen copy (:mod:`tests.reference.pseudonymize_v1`) and :func:`pipeline.ingest.load.store_tokens` run on the
same fixed sample (generated records plus hand-written edge cases: missing values, unicode and particle-only
names, names that standardize to nothing, short and punctuation-only document numbers, swappable dates) under
the same key; every column of every row must be equal.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hmac
from pathlib import Path

import duckdb
import pytest

from pipeline.ingest.contract import SOURCES, load_contract
from pipeline.ingest.landing import discover_partitions
from pipeline.ingest.load import _read_all, store_tokens, token_maps
from pipeline.ingest.validate import checked_rows_sql
from pipeline.synth import generate
from pipeline.warehouse.connection import connect, registered
from pipeline.warehouse.tables import RECORD_TABLES
from privacy.keys import Keyring
from privacy.tokens import TOKEN_BYTES, Tokenizer
from tests.reference import pseudonymize_v1 as v1

NAMES = [
    None,
    "",
    "   ",
    "'''",
    "<<<",
    "Müller-Lüdenscheidt",
    "O'Brien<<",
    "AL-HASSAN",
    "al hassan",
    "de la Cruz Garcia",
    "DE LA",
    "Y",
    "A",
    "王小明",
    "Ñúñez ÿ",
    "Иванов Пётр",
    "محمد علي",
    "Zoë\u0301 Ǆ ﬁ",
    "🙂 SMILE",
    "X" * 80,
    "MUHAMMAD ABDUL RAHMAN BIN ABDULLAH",
    "JOHN  PAUL",
    "J P",
]
DATES = [
    None,
    dt.date(1980, 1, 2),
    dt.date(1980, 2, 29),
    dt.date(1999, 12, 31),
    dt.date(2001, 5, 13),
    dt.date(1900, 1, 1),
]
DOCS = [None, "", "-", "A", "AB", "aa", "AAAA", " ab-123 456 ", "X1234567", "Ö12", "١٢٣", "LA0000000001", "ﬁ9"]
COUNTRIES = [None, "UTO", "NZL"]
SEXES = [None, "M", "F", "X"]


def _edge_rows(source: str) -> list[tuple[object, ...]]:
    rows = []
    for i in range(300):
        rows.append(
            (
                f"{source}-edge-{i}",
                NAMES[i % len(NAMES)],
                NAMES[(i * 7 + 3) % len(NAMES)],
                DATES[i % len(DATES)],
                SEXES[i % len(SEXES)],
                DOCS[(i * 5) % len(DOCS)],
                COUNTRIES[i % len(COUNTRIES)],
                DOCS[(i * 3 + 1) % len(DOCS)],
            )
        )
    return rows


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse with ``checked_<source>`` tables: about 2,000 generated records and 900 edge cases."""
    work = tmp_path_factory.mktemp("pseudonymize")
    landing = work / "landing"
    generate(landing, persons=500, start=dt.date(2023, 1, 1), end=dt.date(2024, 12, 31), seed=7)
    con = connect(work / "wh")
    try:
        contracts = load_contract()
        found = discover_partitions(landing, dt.date(2024, 12, 31)).partitions
        raw, _files = _read_all(found, contracts, landing, None)
        for source in SOURCES:
            with registered(con, "raw_rows", raw[source]):
                sql = checked_rows_sql(contracts[source], "raw_rows", RECORD_TABLES[source])
                con.execute(f"CREATE TABLE checked_{source} AS SELECT * FROM ({sql}) WHERE _reason IS NULL")
            number = {"visa": "t_visa_number", "permit": "t_permit_number"}.get(source)
            columns = "t_record_id, t_family_name, t_given_names, t_date_of_birth, t_sex, t_doc_number, "
            columns += f"t_doc_issuing_country{', ' + number if number else ''}"
            for row in _edge_rows(source):
                values = row if number else row[:-1]
                marks = ", ".join("?" for _ in values)
                con.execute(f"INSERT INTO checked_{source} ({columns}) VALUES ({marks})", list(values))
    finally:
        con.close()
    return work / "wh"


def _rows(con, table: str) -> list[tuple[object, ...]]:
    return con.execute(f"SELECT * FROM {table} ORDER BY source, record_id").fetchall()


def _temp_tables(con) -> set[str]:
    return {name for (name,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()}


@pytest.mark.parametrize("kept", [False, True], ids=["maps per call", "maps kept for the run"])
def test_identity_tokens_are_bit_identical_to_the_frozen_implementation(sample: Path, kept: bool) -> None:
    """With the run's maps kept, a later source's rows mostly hit the maps of earlier ones (the edge cases recur
    in every source), and the few new inputs are appended: every token must still be the frozen one's."""
    ring = Keyring.generate()
    con = connect(sample)
    try:
        con.execute("DELETE FROM identity_tokens")
        reference, current = v1.Tokenizer(ring), Tokenizer(ring)
        for source in SOURCES:
            v1.store_tokens(con, source, f"checked_{source}", reference)
        con.execute("CREATE TEMP TABLE expected AS SELECT * FROM identity_tokens")
        con.execute("DELETE FROM identity_tokens")
        before = _temp_tables(con)
        with contextlib.ExitStack() as stack:
            maps = stack.enter_context(token_maps(con, current)) if kept else None
            for source in SOURCES:  # the same tokenizer throughout: its memo is reused across sources
                store_tokens(con, source, f"checked_{source}", current, maps=maps)
            if kept:
                assert len(_temp_tables(con) - before) >= 8  # the run's maps and lookups, still there
        assert _temp_tables(con) == before  # and dropped when the run's block ends
        expected, got = _rows(con, "expected"), _rows(con, "identity_tokens")
        records = sum(con.execute(f"SELECT count(*) FROM checked_{s}").fetchall()[0][0] for s in SOURCES)
    finally:
        con.close()
    assert len(expected) == len(got) == records > 2_000
    assert all(e[3] is not None for e in expected[:10])  # tokens were computed, not left empty
    for want, have in zip(expected, got, strict=True):
        assert want == have


def test_the_run_maps_drop_their_tables_after_an_error_and_refuse_another_tokenizer(sample: Path) -> None:
    ring = Keyring.generate()
    con = connect(sample)
    try:
        before = _temp_tables(con)
        with pytest.raises(duckdb.CatalogException), token_maps(con, Tokenizer(ring)) as maps:
            store_tokens(con, "border", "checked_border", maps.tokenizer, maps=maps)
            assert _temp_tables(con) > before
            store_tokens(con, "visa", "no_such_table", maps.tokenizer, maps=maps)
        assert _temp_tables(con) == before
        with token_maps(con, Tokenizer(ring)) as maps, pytest.raises(ValueError, match="another tokenizer"):
            store_tokens(con, "border", "checked_border", Tokenizer(ring), maps=maps)
    finally:
        con.execute("DELETE FROM identity_tokens")
        con.close()


@pytest.mark.parametrize("value", ["", "A", "Müller", "王小明|UTO", "🙂", "x" * 200, "DE LA|"])
def test_token_is_the_hmac_prefix(value: str) -> None:
    ring = Keyring.generate()
    key = ring.subkey("token/family_name", ring.active_version)
    want = int.from_bytes(hmac.digest(key, value.encode(), "sha256")[:TOKEN_BYTES], "big")
    assert Tokenizer(ring).token("family_name", value) == want
