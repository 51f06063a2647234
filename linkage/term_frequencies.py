"""Term-frequency tables frozen with a model.

Splink adjusts the weight of an exact agreement on a name or a birth date by how common the value is (WANG or
MOHAMMED counts for less than a rare name). The frequencies are taken once per model, from the entity table of
the first linkage with that model, and stored in ``linkage_term_frequencies``; every later run (full or
incremental) registers the same tables with Splink. A pair therefore gets the same weight whether it was scored
in a full relink or in a night's increment, and a full relink reproduces the increments exactly. A value first
seen after the snapshot gets no adjustment (the level's average weight) until the next model is trained.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from linkage.input import INPUT_TABLE, TOKEN_COLUMNS, quote

if TYPE_CHECKING:
    import duckdb
    from splink import DuckDBAPI, Linker

    from linkage.model import LinkageModel

log = logging.getLogger(__name__)

TF_TABLE = "linkage_term_frequencies"
TF_DDL = f"""CREATE TABLE IF NOT EXISTS {TF_TABLE} (
    model_id VARCHAR NOT NULL, column_name VARCHAR NOT NULL, value UBIGINT NOT NULL, tf DOUBLE NOT NULL)"""


def tf_columns(settings: dict[str, Any]) -> list[str]:
    """The input columns the model adjusts by term frequency, in settings order."""
    out: list[str] = []
    for comparison in settings["comparisons"]:
        for level in comparison["comparison_levels"]:
            column = level.get("tf_adjustment_column")
            if column and column not in out:
                if column not in TOKEN_COLUMNS:
                    raise ValueError(f"term-frequency column {column!r} is not a token column")
                out.append(column)
    return out


def ensure_snapshot(con: duckdb.DuckDBPyConnection, model: LinkageModel) -> bool:
    """Store the model's term frequencies from the current entity table unless it has them; True if taken now."""
    con.execute(TF_DDL)
    if con.execute(f"SELECT count(*) FROM {TF_TABLE} WHERE model_id = ?", [model.model_id]).fetchall()[0][0]:
        return False
    for column in tf_columns(model.settings):
        c = quote(column)
        con.execute(
            f"""INSERT INTO {TF_TABLE}
            SELECT ?, ?, {c}, count(*) / (SELECT count({c}) FROM {INPUT_TABLE})
            FROM {INPUT_TABLE} WHERE {c} IS NOT NULL GROUP BY {c}""",
            [model.model_id, column],
        )
    log.info("term frequencies of model %s taken from %s", model.model_id[:8], INPUT_TABLE)
    return True


def register_term_frequencies(
    con: duckdb.DuckDBPyConnection, db: DuckDBAPI, linker: Linker, model: LinkageModel
) -> None:
    """Register the model's frozen term-frequency tables with ``linker`` (taking the snapshot if needed)."""
    ensure_snapshot(con, model)
    model_id = model.model_id.replace("'", "''")
    for column in tf_columns(model.settings):  # token column names (checked by tf_columns)
        view = f"__linkage_tf_{column}"
        con.execute(
            f"""CREATE OR REPLACE TEMP VIEW {quote(view)} AS
            SELECT value AS {quote(column)}, tf AS {quote("tf_" + column)} FROM {TF_TABLE}
            WHERE model_id = '{model_id}' AND column_name = '{column}'"""
        )
        linker.table_management.register_term_frequency_lookup(db.register(view), column)
