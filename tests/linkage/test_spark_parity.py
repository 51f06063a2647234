"""The Spark backend (linkage/spark.py): SQL translation, input types, and parity with the DuckDB path.

The translation and type tests need no Spark. The parity test (marker ``spark``) needs pyspark (the ``spark``
extra) and a Java runtime: it links a small warehouse (synthetic background plus the hand-written typo, swapped,
transliteration and twin cases of ``conftest.py``) with DuckDB and with Spark, and expects the same pairs, the
same weights and the same clusters. Everything Spark does happens in that one test, so that pytest-xdist
never starts a second JVM.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import linkage.spark
from linkage.backends import SparkBackend
from linkage.errors import LinkageError
from linkage.link import LinkResult, link_all
from linkage.model import LinkageModel, train_model
from linkage.settings import linkage_settings
from linkage.spark import (
    SparkUnavailableError,
    bits_to_words,
    input_arrow,
    link_entities_spark,
    spark_available,
    spark_session,
)
from linkage.spark_sql import TRANSLATIONS, SparkTranslationError, spark_settings, translate_sql
from pipeline.ingest.load import ingest
from pipeline.synth import generate
from pipeline.warehouse.connection import connect
from privacy.bloom import dice, dice_sql
from privacy.keys import Keyring
from tests.linkage.conftest import SEED, write_cases

if importlib.util.find_spec("pyspark") is None:
    SPARK_MISSING = "pyspark is not installed (pip install -e '.[spark]')"
elif shutil.which("java") is None:
    SPARK_MISSING = "no java on PATH (the Spark backend needs Java 17)"
else:
    SPARK_MISSING = ""

MATCH_WEIGHT_TOLERANCE = 1e-6


def _duckdb_settings() -> dict[str, Any]:
    """The model's settings as a trained model stores them, with made-up m and u on every non-null level."""
    settings = linkage_settings().create_settings_dict("duckdb")
    for c, comparison in enumerate(settings["comparisons"]):
        for i, level in enumerate(comparison["comparison_levels"]):
            if not level.get("is_null_level"):
                level["m_probability"] = 0.01 * (c + 1) + 0.001 * i
                level["u_probability"] = 0.002 * (c + 1) + 0.0001 * i
    settings["probability_two_random_records_match"] = 0.0064
    return settings


def _without_sql(settings: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in settings.items() if k not in ("sql_dialect", "blocking_rules_to_generate_predictions")}
    out["comparisons"] = [
        {
            **c,
            "comparison_levels": [
                {k: v for k, v in lv.items() if k != "sql_condition"} for lv in c["comparison_levels"]
            ],
        }
        for c in settings["comparisons"]
    ]
    return out


# --- translation (no Spark needed) ----------------------------------------------------------------------------


def test_every_level_and_rule_of_the_model_translates() -> None:
    translated = spark_settings(_duckdb_settings())
    conditions = [lv["sql_condition"] for c in translated["comparisons"] for lv in c["comparison_levels"]]
    conditions += [r["blocking_rule"] for r in translated["blocking_rules_to_generate_predictions"]]
    for sql in conditions:
        assert '"' not in sql, sql  # a double-quoted name would be a string literal in Spark
        assert "list_has_any" not in sql.lower()
        assert "::" not in sql
    joined = "\n".join(conditions)
    assert "ARRAYS_OVERLAP(`tok_given_parts_l`, `tok_given_parts_r`)" in joined
    assert "ZIP_WITH(`clk_name_l`, `clk_name_r`" in joined
    assert "ZIP_WITH(`clk_family_l`, `clk_family_r`" in joined  # the per-field encodings
    assert "ZIP_WITH(`clk_given_l`, `clk_given_r`" in joined
    assert "`clk_family_l` IS NULL OR `clk_family_r` IS NULL" in joined  # their null level
    assert "CAST(COALESCE(`tok_dob_year_l` = `tok_dob_year_r`, FALSE) AS INT)" in joined
    assert translated["sql_dialect"] == "spark"
    assert {r["sql_dialect"] for r in translated["blocking_rules_to_generate_predictions"]} == {"spark"}


def test_translation_keeps_parameters_and_blocking_rules() -> None:
    settings = _duckdb_settings()
    translated = spark_settings(settings)
    assert _without_sql(translated) == _without_sql(settings)  # m, u, tf, labels, prior, order
    rules = [r["blocking_rule"] for r in settings["blocking_rules_to_generate_predictions"]]
    spark_rules = [r["blocking_rule"] for r in translated["blocking_rules_to_generate_predictions"]]
    assert [r.replace('"', "`") for r in rules] == spark_rules  # only the identifier quoting changes
    assert settings["comparisons"][0]["comparison_levels"][3]["sql_condition"].startswith("list_has_any")  # a copy


@pytest.mark.parametrize(
    ("sql", "construct"),
    [
        ('jaro_winkler_similarity("a_l", "a_r") > 0.9', "jaro_winkler_similarity"),
        ('list_has_all("p_l", "p_r")', "list_has_all"),
        ('("tok_dob_l" & "tok_dob_r") = 0', "'&'"),
        ('bit_count("tok_dob_l") > 3', "bit_count()"),
        ('"clk_name_l" > "clk_name_r"', "Bloom-filter column"),
        ('CAST("tok_dob_l" AS UBIGINT) = 1', "UBIGINT"),
        ('"a_l" // 2 = 1', "IntDiv"),
    ],
)
def test_an_unknown_duckdb_construct_fails_with_one_line(sql: str, construct: str) -> None:
    settings = _duckdb_settings()
    settings["comparisons"][3]["comparison_levels"][1]["sql_condition"] = sql
    with pytest.raises(SparkTranslationError) as raised:
        spark_settings(settings)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("comparison 'sex' level 'exact': ")
    assert construct in message


def test_translation_table_is_documented() -> None:
    assert {t.duckdb for t in TRANSLATIONS} >= {'"column"', "list_has_any(a, b)", "bit_count(clk)"}
    assert translate_sql('"x_l" IS NULL OR "x_r" IS NULL') == "`x_l` IS NULL OR `x_r` IS NULL"


def test_missing_pyspark_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linkage.spark.importlib.util, "find_spec", lambda name, *a: None)
    assert not spark_available()
    with pytest.raises(SparkUnavailableError) as raised:
        spark_session()
    assert isinstance(raised.value, LinkageError)
    assert "'spark' extra" in str(raised.value) and "\n" not in str(raised.value)


# --- input types (no Spark needed) ----------------------------------------------------------------------------


def _popcount(words: np.ndarray) -> int:
    return sum(int(v).bit_count() for v in words.view(np.uint64))


def test_input_tokens_and_filters_convert_losslessly() -> None:
    rng = random.Random(3)
    filters = ["".join(rng.choice("01") for _ in range(1024)) for _ in range(6)]
    fields = ["".join(rng.choice("01") for _ in range(512)) for _ in range(6)]
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE linkage_input (entity_id INTEGER, tok UBIGINT, parts UBIGINT[], clk_name BIT, "
        "clk_family BIT, clk_given BIT, sex VARCHAR)"
    )
    big = [0, 1, 2**63 - 1, 2**63, 2**64 - 1, None]
    for i, value in enumerate(big):
        con.execute(
            "INSERT INTO linkage_input VALUES (?, ?, ?, ?::BIT, ?::BIT, NULL, 'F')",
            [
                i,
                value,
                [v for v in big if v is not None][i:],
                filters[i] if value is not None else None,
                fields[i] if value is not None else None,
            ],
        )
    arrow = input_arrow(con)
    assert arrow.schema.field("tok").type == pa.int64()
    assert arrow.schema.field("parts").type == pa.list_(pa.int64())
    for column in ("clk_name", "clk_family", "clk_given"):
        assert arrow.schema.field(column).type == pa.list_(pa.int64()), column
    family = arrow.column("clk_family").to_pylist()
    assert family[5] is None and all(len(w) == 8 for w in family[:5])  # 512-bit encodings: 8 words
    assert arrow.column("clk_given").null_count == len(big)  # a column that is NULL everywhere stays NULL
    back = [None if v is None else int(np.int64(v).astype(np.uint64)) for v in arrow.column("tok").to_pylist()]
    assert back == big  # the signed reinterpretation is a bijection
    assert arrow.column("tok").to_pylist()[4] == -1
    words = arrow.column("clk_name").to_pylist()
    assert words[5] is None and all(len(w) == 16 for w in words[:5])
    for i in range(4):  # Dice from the words equals Dice of the bit strings
        a, b = np.array(words[i], dtype=np.int64), np.array(words[i + 1], dtype=np.int64)
        from_words = 2 * _popcount(a & b) / (_popcount(a) + _popcount(b))
        assert from_words == dice(filters[i], filters[i + 1])


def test_bits_to_words_pads_and_keeps_nulls() -> None:
    assert bits_to_words(pa.array(["1" + "0" * 63 + "1", None])).to_pylist() == [[-(2**63), -(2**63)], None]
    with pytest.raises(ValueError, match="different lengths"):
        bits_to_words(pa.array(["01", "011"]))


# --- parity with the DuckDB path (Spark) ----------------------------------------------------------------------


@dataclass
class DuckDBLinkage:
    con: duckdb.DuckDBPyConnection
    model: LinkageModel
    result: LinkResult


@pytest.fixture(scope="module")
def duckdb_linkage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBLinkage]:
    """A warehouse of its own (a few hundred records), trained and linked with DuckDB."""
    root = tmp_path_factory.mktemp("spark_parity")
    landing = root / "landing"
    generate(landing, persons=200, start=dt.date(2024, 1, 1), end=dt.date(2024, 12, 31), seed=SEED)
    write_cases(landing)
    con = connect(root / "wh")
    ingest(
        con,
        landing=landing,
        run_date=dt.date(2024, 12, 31),
        ring=Keyring.generate(now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)),
    )
    model = train_model(con, seed=SEED, max_pairs=1e6, em_max_pairs=2e5)
    result = link_all(con, model, night=dt.date(2024, 12, 31))
    yield DuckDBLinkage(con, model, result)
    con.close()


def _partition(pairs: list[tuple[str, int]]) -> set[frozenset[str]]:
    groups: dict[int, set[str]] = {}
    for key, label in pairs:
        groups.setdefault(label, set()).add(key)
    return {frozenset(g) for g in groups.values()}


def _check_dice_sql(con: duckdb.DuckDBPyConnection, spark: Any) -> None:
    """The translated Dice of random 1024-bit filters on Spark equals DuckDB's on BIT, for every pair."""
    rng = random.Random(7)
    filters = ["".join(rng.choice("01") for _ in range(1024)) for _ in range(8)] + ["0" * 1024, "1" * 1024]
    pairs = [(a, b) for a in range(len(filters)) for b in range(len(filters))]
    duck = con.execute(
        f"SELECT {dice_sql('cast(a as BIT)', 'cast(b as BIT)')} FROM (SELECT unnest(?) AS a, unnest(?) AS b)",
        [[filters[a] for a, _ in pairs], [filters[b] for _, b in pairs]],
    ).fetchall()
    words = bits_to_words(pa.array(filters)).to_pylist()
    frame = spark.createDataFrame(
        pa.table(
            {
                "i": [i for i, _ in enumerate(pairs)],
                "clk_name_l": [words[a] for a, _ in pairs],
                "clk_name_r": [words[b] for _, b in pairs],
            }
        )
    )
    frame.createOrReplaceTempView("dice_check")
    expression = translate_sql(dice_sql('"clk_name_l"', '"clk_name_r"'))
    got = [r[0] for r in spark.sql(f"SELECT {expression} FROM dice_check ORDER BY i").collect()]
    assert got == [float(r[0]) for r in duck]
    spark.catalog.dropTempView("dice_check")


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A local[2] Spark session for this module, stopped at its end. Its JVM compiles with the quick compiler only
    (``-XX:TieredStopAtLevel=1``): on the test's small tables the optimizing compiler's work never pays off (the
    module: 107 -> 70-75 core-seconds, the same results). Production sessions keep the JVM's default."""
    session = spark_session(
        scratch_dir=str(tmp_path_factory.mktemp("spark")),
        conf={"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1"},
    )
    yield session
    session.stop()


@pytest.mark.spark
@pytest.mark.skipif(bool(SPARK_MISSING), reason=SPARK_MISSING or "Spark is available")
def test_spark_links_like_duckdb(duckdb_linkage: DuckDBLinkage, spark: Any) -> None:
    con, model = duckdb_linkage.con, duckdb_linkage.model
    _check_dice_sql(con, spark)
    pairs, clustering = link_entities_spark(con, spark, model)

    # The same pairs kept (at or above the review threshold, or sharing document and birth date), same weights.
    duck = con.execute(
        "SELECT unique_id_l, unique_id_r, entity_id_l, entity_id_r, match_weight FROM linkage_pairs "
        "ORDER BY unique_id_l, unique_id_r"
    ).fetchall()
    assert any(p[4] < model.review_threshold for p in duck)  # the same passport and birth date, names replaced
    assert len(duck) >= 20  # the data must exercise the model: typos, swaps, twins
    ours = list(
        zip(
            *(
                pairs.column(c).to_pylist()
                for c in ("unique_id_l", "unique_id_r", "entity_id_l", "entity_id_r", "match_weight")
            ),
            strict=True,
        )
    )
    assert [p[:4] for p in ours] == [p[:4] for p in duck]
    worst = max(abs(a[4] - b[4]) for a, b in zip(ours, duck, strict=True))
    assert worst <= MATCH_WEIGHT_TOLERANCE
    assert {c for c in pairs.column_names if c.startswith("mw_")} == {
        c for (c,) in con.execute("SELECT column_name FROM (DESCRIBE linkage_pairs)").fetchall() if c.startswith("mw_")
    }

    # The same clusters: the same partition of the records, the same edges and refused merges.
    assert clustering.edges == duckdb_linkage.result.edges_above_threshold
    assert clustering.refused == duckdb_linkage.result.refused_merges
    records = con.execute("SELECT source || ':' || record_id, entity_id FROM linkage_records").fetchall()
    spark_partition = _partition([(key, int(clustering.labels[entity])) for key, entity in records])
    duck_partition = _partition(
        [
            (key, int(c))
            for key, c in con.execute("SELECT source || ':' || record_id, cluster_id FROM linkage_clusters").fetchall()
        ]
    )
    assert spark_partition == duck_partition
    assert input_arrow(con).num_rows == duckdb_linkage.result.entities
    cluster_of = {key: int(clustering.labels[entity]) for key, entity in records}
    assert cluster_of["border:Z01"] == cluster_of["border:Z02"]  # typo in the family name
    assert cluster_of["border:Z17"] == cluster_of["border:Z18"]  # day and month swapped
    assert cluster_of["border:Z09"] != cluster_of["border:Z12"]  # twins of the same sex

    # The Spark backend through the shared linkage run (what `linkage_backend = "spark"` uses): the same persons,
    # and every record keeps its person key.
    keys = "SELECT source || ':' || record_id, person_key FROM linkage_clusters ORDER BY 1"
    before = con.execute(keys).fetchall()
    relinked = link_all(con, model, night=dt.date(2024, 12, 31), scorer=SparkBackend(spark))
    assert (relinked.clusters, relinked.refused_merges) == (
        duckdb_linkage.result.clusters,
        duckdb_linkage.result.refused_merges,
    )
    assert relinked.pairs_scored == len(duck)
    assert con.execute(keys).fetchall() == before
