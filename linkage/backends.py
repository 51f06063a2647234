"""Linkage backends: one class per engine that scores entity pairs, chosen by name (``linkage_backend``).

Everything else of a linkage run is shared by every backend and written once in :mod:`linkage.link`: the entity
input, the pairs kept (:func:`linkage.link.kept_pairs_sql`: the review threshold, or the same document and date
of birth), the reviewers' decisions, entity loading and the constrained clustering, person keys and the link
state. A backend only scores, as Splink does with its dialects:

* :class:`DuckDBBackend` (``duckdb``, the default): Splink's ``DuckDBAPI`` in the warehouse itself;
* :class:`SparkBackend` (``spark``): Splink's ``SparkAPI`` on a Spark session (local, or a cluster's master) for
  a full relink that outgrows one machine. A night's increment (a few thousand new entities against the person
  index) is scored in DuckDB, where it takes seconds, so that a night does not wait for a cluster.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from linkage.errors import LinkageError
from linkage.link import PAIRS_TABLE, predict_pairs, store_pairs

if TYPE_CHECKING:
    import duckdb

    from linkage.model import LinkageModel

BACKENDS = ("duckdb", "spark")


class DuckDBBackend:
    """Score pairs with Splink on DuckDB, in the warehouse."""

    name = "duckdb"

    def predict(self, con: duckdb.DuckDBPyConnection, model: LinkageModel, *, first_new: int | None) -> int:
        return predict_pairs(con, model, first_new=first_new)


class SparkBackend:
    """Score a full relink's pairs with Splink on Spark; increments in DuckDB (see the module docstring).

    The session is made on first use (:func:`linkage.spark.spark_session` with ``master``) unless one is given.
    """

    name = "spark"

    def __init__(self, spark: Any = None, *, master: str | None = None) -> None:
        self._spark = spark
        self._master = master

    def session(self) -> Any:
        if self._spark is None:
            from linkage.spark import DEFAULT_MASTER, spark_session

            self._spark = spark_session(self._master or DEFAULT_MASTER)
        return self._spark

    def predict(self, con: duckdb.DuckDBPyConnection, model: LinkageModel, *, first_new: int | None) -> int:
        if first_new is not None:
            return predict_pairs(con, model, first_new=first_new)
        from linkage.spark import predict_pairs_spark, spark_input, term_frequencies_arrow

        spark = self.session()
        scored = predict_pairs_spark(
            spark,
            spark_input(con, spark),
            model,
            term_frequencies=term_frequencies_arrow(con, model),
            threshold=-math.inf,
        )
        con.register("__linkage_spark_scored", scored)
        try:
            store_pairs(con, "__linkage_spark_scored", model.review_threshold, replace=True)
        finally:
            con.unregister("__linkage_spark_scored")
        return int(con.execute(f"SELECT count(*) FROM {PAIRS_TABLE}").fetchall()[0][0])


def backend_for(name: str, **options: Any) -> DuckDBBackend | SparkBackend:
    """The backend called ``name`` (one of :data:`BACKENDS`).

    Raises:
        LinkageError: an unknown name.
    """
    if name == "duckdb":
        return DuckDBBackend()  # it has no options
    if name == "spark":
        return SparkBackend(**options)
    raise LinkageError(f"unknown linkage backend {name!r}: use one of {', '.join(BACKENDS)}")
