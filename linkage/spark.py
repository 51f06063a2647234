"""The linkage model on Splink's Spark backend (pyspark), with the same settings and trained parameters.

The model is trained with DuckDB (:func:`linkage.model.train_model`); this module runs its predictions on Spark:

* :func:`linkage.spark_sql.spark_settings` rewrites the model's DuckDB SQL into Spark SQL through an explicit
  translation table (:mod:`linkage.spark_sql`).
* :func:`spark_input` turns the DuckDB entity table (``linkage_input``) into a Spark DataFrame through Arrow:
  ``UBIGINT`` tokens become signed 64-bit ``LongType`` values (the two's-complement reinterpretation, a
  bijection, so equality, term frequencies and ``arrays_overlap`` behave exactly as on the unsigned values), and
  the ``BIT`` name encodings (``clk_name``, ``clk_family``, ``clk_given``: :data:`BIT_COLUMNS`) become
  ``array<bigint>`` of 64-bit words (16 for a 1024-bit encoding, 8 for a 512-bit one), on which the Dice
  coefficient is computed word by word.
* :func:`predict_pairs_spark` scores the entity pairs with Splink's ``SparkAPI``; :func:`cluster_pairs` clusters
  them with the same anti-chaining :func:`linkage.cluster.constrained_clusters` as the DuckDB path, giving the
  same output shape (one cluster label per entity).
* :func:`spark_session` builds a local session (``local[2]`` by default) configured for Splink.

pyspark is an optional dependency (the ``spark`` extra) and is imported only when a Spark function runs; without
it those functions raise :class:`SparkUnavailableError`. Nothing here logs token values.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.cluster import Entity, connected_components, constrained_clusters
from linkage.errors import LinkageError
from linkage.input import INPUT_TABLE
from linkage.link import kept_pairs_sql, load_entities
from linkage.schema import TF_TABLE, ensure_schema
from linkage.spark_sql import BIT_COLUMNS, WORD_BITS, spark_settings
from linkage.term_frequencies import default_month_days, ensure_snapshot, tf_columns
from privacy.sql import quote_identifier

if TYPE_CHECKING:
    import duckdb
    from pyspark.sql import DataFrame, SparkSession

    from linkage.model import LinkageModel

log = logging.getLogger(__name__)

DEFAULT_MASTER = "local[2]"
DEFAULT_SHUFFLE_PARTITIONS = 4
WEIGHT_DECIMALS = 9  # edges are ordered on weights rounded to this many decimals (backends differ by ~1e-13)
PAIR_COLUMNS = ("entity_id_l", "entity_id_r", "unique_id_l", "unique_id_r", "match_weight", "match_probability")
INSTALL_HINT = "install the 'spark' extra (pip install -e '.[spark]') and Java 17"


class SparkUnavailableError(LinkageError):
    """pyspark or Java is missing, so the Spark backend cannot run."""


# --- Spark session and input -----------------------------------------------------------------------------------


def _require_spark() -> None:
    if importlib.util.find_spec("pyspark") is None:
        raise SparkUnavailableError(f"the Spark backend needs pyspark: {INSTALL_HINT}")


def spark_available() -> bool:
    """Whether pyspark is importable and a ``java`` is on PATH (or ``JAVA_HOME`` is set)."""
    return importlib.util.find_spec("pyspark") is not None and _java_found()


def _java_found() -> bool:
    home = os.environ.get("JAVA_HOME")
    return shutil.which("java") is not None or bool(home and os.path.exists(os.path.join(home, "bin", "java")))


def spark_session(
    master: str = DEFAULT_MASTER,
    *,
    app_name: str = "migralink-linkage",
    shuffle_partitions: int = DEFAULT_SHUFFLE_PARTITIONS,
    scratch_dir: str | None = None,
    log_level: str = "ERROR",
    conf: Mapping[str, str] | None = None,
) -> SparkSession:
    """A Spark session configured for Splink.

    ``getOrCreate`` semantics: when a session is already running in this process it is returned with these SQL
    settings applied, but its static ones (master, jars) stay as they were.

    Sets ``SPARK_LOCAL_IP=127.0.0.1`` unless it is set, puts Splink's similarity jar on the session, disables the
    UI and the console progress bar, and keeps Spark's scratch files out of the working directory.

    Args:
        master: Spark master URL; ``local[2]`` runs in a local JVM on two cores.
        app_name: Application name.
        shuffle_partitions: ``spark.sql.shuffle.partitions`` and ``spark.default.parallelism`` (Splink
            repartitions its large intermediate tables into half as many); small data wants few.
        scratch_dir: Directory for the checkpoints (Splink writes its intermediate parquet tables there) and
            the SQL warehouse directory; a temporary directory removed at exit by default.
        log_level: Spark's log level once the session is up (``WARN`` or ``ERROR``).
        conf: Further Spark settings, applied last.

    Raises:
        SparkUnavailableError: pyspark is not installed or no Java is found.
    """
    _require_spark()
    if not _java_found():
        raise SparkUnavailableError(f"the Spark backend needs a Java runtime on PATH or in JAVA_HOME: {INSTALL_HINT}")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession  # type: ignore[import-not-found, unused-ignore]
    from splink.backends.spark import similarity_jar_location

    if scratch_dir is None:
        scratch_dir = tempfile.mkdtemp(prefix="migralink-spark-")
        atexit.register(shutil.rmtree, scratch_dir, ignore_errors=True)
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.jars", similarity_jar_location())
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", os.path.join(scratch_dir, "warehouse"))
    )
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(log_level)
    spark.sparkContext.setCheckpointDir(os.path.join(scratch_dir, "checkpoints"))
    return spark


def bits_to_words(bits: pa.Array | pa.ChunkedArray) -> pa.ListArray:
    """'0'/'1' strings (DuckDB ``BIT`` cast to VARCHAR) as lists of signed 64-bit words, most significant first.

    A string whose length is not a multiple of 64 is padded with zeros on the right, which changes no
    popcount. Nulls stay null. Vectorized over the Arrow buffers (no Python string per row).

    Examples:
        >>> bits_to_words(pa.array(["1" * 64 + "0" * 63 + "1", None])).to_pylist()
        [[-1, 1], None]
    """
    text = pc.cast(bits.combine_chunks() if isinstance(bits, pa.ChunkedArray) else bits, pa.large_string())
    present = pc.drop_null(text)
    offsets = np.frombuffer(present.buffers()[1], dtype=np.int64)[present.offset : present.offset + len(present) + 1]
    lengths = np.unique(np.diff(offsets))
    if len(lengths) > 1:
        raise ValueError("Bloom-filter encodings of different lengths cannot be compared")
    width = int(lengths[0]) if len(lengths) else 0
    words = -(-width // WORD_BITS)
    matrix = np.zeros((len(present), words * WORD_BITS), dtype=np.uint8)
    if len(present) and width:
        data = np.frombuffer(present.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
        matrix[:, :width] = data.reshape(len(present), width) - ord("0")
    packed = np.packbits(matrix, axis=1).view(">u8").astype(np.int64)  # big-endian words, two's complement
    valid = np.asarray(text.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    list_offsets = np.zeros(len(text) + 1, dtype=np.int32)
    list_offsets[1:] = np.cumsum(valid * words)
    return pa.ListArray.from_arrays(
        pa.array(list_offsets), pa.array(packed.reshape(-1), type=pa.int64()), mask=pa.array(~valid)
    )


def _signed(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """UBIGINT (and lists of them) reinterpreted as signed 64-bit integers (two's complement, lossless)."""
    kind = column.type
    if pa.types.is_uint64(kind):
        return pc.cast(column, pa.int64(), safe=False)
    if pa.types.is_list(kind) and pa.types.is_uint64(kind.value_type):
        return pc.cast(column, pa.list_(pa.int64()), safe=False)
    return column


def input_arrow(
    con: duckdb.DuckDBPyConnection, table: str = INPUT_TABLE, *, bit_columns: Collection[str] = BIT_COLUMNS
) -> pa.Table:
    """The entity table as Arrow, in ``entity_id`` order, with the types the Spark backend uses.

    ``UBIGINT`` and ``UBIGINT[]`` columns become ``int64`` and ``list<int64>`` (two's-complement
    reinterpretation); ``BIT`` columns become ``list<int64>`` words (:func:`bits_to_words`).
    """
    described = con.execute(f"DESCRIBE {quote_identifier(table)}").fetchall()
    present_bits = [str(name) for name, kind, *_ in described if str(kind) == "BIT" and name in bit_columns]
    replace = ", ".join(f"{quote_identifier(c)}::VARCHAR AS {quote_identifier(c)}" for c in present_bits)
    select = f"* REPLACE ({replace})" if replace else "*"
    arrow = con.sql(f"SELECT {select} FROM {quote_identifier(table)} ORDER BY entity_id").to_arrow_table()
    columns = {}
    for name in arrow.column_names:
        column = arrow.column(name)
        columns[name] = bits_to_words(column) if name in present_bits else _signed(column)
    return pa.table(columns)


def spark_input(
    con: duckdb.DuckDBPyConnection,
    spark: SparkSession,
    table: str = INPUT_TABLE,
    *,
    bit_columns: Collection[str] = BIT_COLUMNS,
) -> DataFrame:
    """The DuckDB entity table (``linkage_input``) as a Spark DataFrame (types as in :func:`input_arrow`).

    Tokens become ``LongType`` (signed reinterpretation of ``UBIGINT``), token lists ``ArrayType(LongType)``,
    Bloom-filter encodings ``ArrayType(LongType)`` of 64-bit words; the other columns keep their types.
    """
    _require_spark()
    return spark.createDataFrame(input_arrow(con, table, bit_columns=bit_columns))


# --- prediction and clustering ---------------------------------------------------------------------------------


def term_frequencies_arrow(
    con: duckdb.DuckDBPyConnection, model: LinkageModel, *, take_snapshot: bool = True
) -> dict[str, pa.Table]:
    """The model's frozen term-frequency tables (:mod:`linkage.term_frequencies`) as Arrow, one per column.

    The DuckDB path registers these snapshots with Splink instead of letting it count frequencies in the current
    input; the Spark path must use the same tables for the same weights. Values are reinterpreted as signed
    64-bit integers like the input tokens (:func:`input_arrow`).

    Args:
        con: Warehouse connection.
        model: The model whose snapshot is read.
        take_snapshot: Take the snapshot from the current entity table if the model has none yet (as the
            DuckDB path's first linkage with a model does); otherwise a missing snapshot gives no tables, and
            Splink computes the frequencies from the Spark input.

    Returns:
        Column name -> table of ``<column>`` and ``tf_<column>``; empty when there is no snapshot.
    """
    if take_snapshot:
        ensure_snapshot(con, model)
    else:
        ensure_schema(con)
    out: dict[str, pa.Table] = {}
    for column in tf_columns(model.settings):
        table = con.sql(
            f"SELECT value AS {quote_identifier(column)}, tf AS {quote_identifier('tf_' + column)} FROM {TF_TABLE} "
            "WHERE model_id = ? AND column_name = ? ORDER BY value",
            params=[model.model_id, column],
        ).to_arrow_table()
        if table.num_rows:
            out[column] = pa.table({column: _signed(table.column(column)), f"tf_{column}": table.column(1)})
    return out


def predict_pairs_spark(
    spark: SparkSession,
    input_df: DataFrame,
    model: LinkageModel,
    *,
    term_frequencies: Mapping[str, pa.Table] | None = None,
    threshold: float | None = None,
    break_lineage_method: str = "parquet",
) -> pa.Table:
    """Score entity pairs with ``model`` on Spark.

    Args:
        spark: A session from :func:`spark_session` (the Splink similarity jar must be on it).
        input_df: The entity input from :func:`spark_input`.
        model: A model trained with DuckDB; its settings are translated with :func:`spark_settings`.
        term_frequencies: Frozen term-frequency tables (:func:`term_frequencies_arrow`) registered with Splink;
            Splink counts the frequencies in ``input_df`` for the columns not given.
        threshold: Keep pairs at or above this match weight (the model's review threshold by default; minus
            infinity keeps every scored pair).
        break_lineage_method: Splink's way of materialising intermediate tables (``parquet`` under the
            session's checkpoint directory, or ``persist`` to keep them in memory).

    Returns:
        One row per scored pair with ``unique_id_l < unique_id_r``, in that order: the columns of
        :data:`PAIR_COLUMNS` and the ``mw_`` columns, as in the DuckDB path's ``linkage_pairs``.
    """
    _require_spark()
    from splink import Linker
    from splink.backends.spark import SparkAPI

    settings = spark_settings(model.settings)
    db = SparkAPI(spark_session=spark, break_lineage_method=break_lineage_method)
    run = uuid.uuid4().hex[:12]
    views = {f"__linkage_input_{run}": input_df}
    views.update(
        {
            f"__linkage_tf_{column}_{run}": spark.createDataFrame(table)
            for column, table in (term_frequencies or {}).items()
        }
    )
    for name, frame in views.items():
        frame.createOrReplaceTempView(name)
    try:
        linker = Linker(  # Splink's messages go to the application's logging (see linkage.model.make_linker_with_db)
            db.register(f"__linkage_input_{run}", dataset_display_name=INPUT_TABLE), settings, log_level=None
        )
        for column in term_frequencies or {}:
            lookup = db.register(f"__linkage_tf_{column}_{run}", dataset_display_name=f"tf_{column}")
            linker.table_management.register_term_frequency_lookup(lookup, column)
        cut = model.review_threshold if threshold is None else threshold
        predictions = linker.inference.predict(
            threshold_match_weight=None if math.isinf(cut) else cut, warning_mode="never"
        )
        found = predictions.as_spark_dataframe()
        weights = [c for c in found.columns if c.startswith("mw_")]
        arrow: pa.Table = found.select(*PAIR_COLUMNS, *weights).toArrow()
    finally:
        db.delete_tables_created_by_splink_from_db()
        for name in views:
            spark.catalog.dropTempView(name)
    return _ordered_pairs(arrow)


def _ordered_pairs(pairs: pa.Table) -> pa.Table:
    """``pairs`` with ``unique_id_l < unique_id_r`` (ends swapped where needed), sorted by the two ids."""
    swap = pc.greater(pairs.column("unique_id_l"), pairs.column("unique_id_r"))
    columns = {name: pairs.column(name) for name in pairs.column_names}
    for left, right in (("unique_id_l", "unique_id_r"), ("entity_id_l", "entity_id_r")):
        a, b = columns[left], columns[right]
        columns[left], columns[right] = pc.if_else(swap, b, a), pc.if_else(swap, a, b)
    ordered = pa.table(columns)
    return ordered.sort_by([("unique_id_l", "ascending"), ("unique_id_r", "ascending")])


@dataclass(frozen=True)
class SparkClustering:
    """Cluster labels of the entities (smallest entity index of each cluster) and the run's counts."""

    labels: np.ndarray
    edges: int
    refused: int


def cluster_pairs(
    entities: Sequence[Entity], pairs: pa.Table, link_threshold: float, *, constrained: bool = True
) -> SparkClustering:
    """Cluster entities along scored pairs at or above ``link_threshold``, as the DuckDB path does.

    Edges are ordered by match weight rounded to :data:`WEIGHT_DECIMALS` decimals, then by entity ids, so that
    pairs of equal weight are merged in the same order whichever backend scored them. Reviewer decisions are not
    applied here (they live in the warehouse's ``review_queue``; :func:`linkage.link.cluster_entities` applies
    them to pairs written to ``linkage_pairs``).

    Args:
        entities: From :func:`linkage.link.load_entities`.
        pairs: From :func:`keep_pairs` (``entity_id_l``, ``entity_id_r``, ``match_weight``,
            ``same_document_and_birth``).
        link_threshold: The model's link threshold.
        constrained: Anti-chaining clustering (default) or plain connected components.
    """
    weight = np.round(np.asarray(pairs.column("match_weight").to_numpy(), dtype=np.float64), WEIGHT_DECIMALS)
    left = np.asarray(pairs.column("entity_id_l").to_numpy(), dtype=np.int64)
    right = np.asarray(pairs.column("entity_id_r").to_numpy(), dtype=np.int64)
    same = np.asarray(pairs.column("same_document_and_birth").to_numpy(zero_copy_only=False), dtype=bool)
    keep = (weight >= link_threshold) | same
    weight, left, right = weight[keep], left[keep], right[keep]
    order = np.lexsort((np.maximum(left, right), np.minimum(left, right), -weight))
    weight, left, right = weight[order], left[order], right[order]
    if not constrained:
        return SparkClustering(connected_components(len(entities), left, right), len(left), 0)
    labels, stats = constrained_clusters(list(entities), left, right, weight)
    return SparkClustering(labels, len(left), stats.refused)


def keep_pairs(con: duckdb.DuckDBPyConnection, scored: pa.Table, threshold: float) -> pa.Table:
    """The pairs linkage keeps of Spark's ``scored`` pairs, by the DuckDB path's own rule
    (:func:`linkage.link.kept_pairs_sql`), in ``unique_id`` order."""
    con.register("__linkage_spark_scored", scored)
    try:
        kept = kept_pairs_sql("__linkage_spark_scored", threshold)
        return con.sql(f"SELECT * FROM ({kept}) ORDER BY unique_id_l, unique_id_r").to_arrow_table()
    finally:
        con.unregister("__linkage_spark_scored")


def link_entities_spark(
    con: duckdb.DuckDBPyConnection,
    spark: SparkSession,
    model: LinkageModel,
    *,
    constrained: bool = True,
    break_lineage_method: str = "parquet",
) -> tuple[pa.Table, SparkClustering]:
    """Predict and cluster the entity input of ``con`` (built by :func:`linkage.input.build_input`) on Spark.

    The model's frozen term frequencies are used (and taken now if the model has none, as the DuckDB path does).
    ``break_lineage_method`` is passed to :func:`predict_pairs_spark`.

    Returns:
        The scored pairs (:func:`predict_pairs_spark`) and the clustering of the entities.
    """
    arrow = input_arrow(con)
    frequencies = term_frequencies_arrow(con, model)
    scored = predict_pairs_spark(
        spark,
        spark.createDataFrame(arrow),
        model,
        term_frequencies=frequencies,
        threshold=-math.inf,
        break_lineage_method=break_lineage_method,
    )
    entities = load_entities(con, default_month_days=default_month_days(con, model))
    pairs = keep_pairs(con, scored, model.review_threshold)
    clustering = cluster_pairs(entities, pairs, model.link_threshold, constrained=constrained)
    log.info(
        "Spark linkage: %d pairs scored, %d edges, %d refused merges",
        pairs.num_rows,
        clustering.edges,
        clustering.refused,
    )
    return pairs, clustering
