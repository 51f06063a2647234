"""Term-frequency tables frozen with a model.

Splink adjusts the weight of an agreement on a name or a birth date by how common the value is (WANG or
MOHAMMED counts for less than a rare name), on every level that asserts agreement. Frequencies over the whole
population still undercount names that are common *within one nationality*: NGUYEN is rare among all
travellers but 38 % of Vietnamese, and VAN AN is common among Vietnamese men, so two different Vietnamese NGUYEN
VAN ANs would get the weight of two rare names plus that of the nationality. The agreement on nationality is
therefore adjusted by the key ``tfk_name_nationality`` (:data:`linkage.input.TF_KEY_COLUMNS`): its frequency is
``P(nationality) * max(1, rf) * max(1, rg)``, where ``rf`` and ``rg`` say how many times more common the family
and the given names are within the nationality than in the whole population. Family, given names and
nationality together then weigh about as much as the combination is rare. The within-nationality shares leave
the entity itself out and lean on the population share in small groups (:data:`PRIOR_ENTITIES`), and the
correction never adds weight, so a rare name is not mistaken for a concentrated one.

The frequencies are taken once per model, from the entity table of the first linkage with that model, and stored in
``linkage_term_frequencies``; every later run (full or incremental) registers the same tables with Splink. A pair
therefore gets the same weight whether it was scored in a full relink or in a night's increment, and a full relink
reproduces the increments exactly. A value first seen after the snapshot gets no adjustment (the level's average
weight) until the next model is trained.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from linkage.input import INPUT_TABLE, TF_KEY_COLUMNS, TOKEN_COLUMNS
from linkage.schema import TF_TABLE, ensure_schema
from privacy.sql import quote_identifier

if TYPE_CHECKING:
    import duckdb
    from splink import DuckDBAPI, Linker

    from linkage.model import LinkageModel

log = logging.getLogger(__name__)

PRIOR_ENTITIES = 100  # a nationality with fewer entities leans on the population's name shares
# Month and day of birth (a key of the two tokens) frequent enough to be a default that registrars enter for an
# unknown date (1 January): at least this share of the dates of birth, and at least DEFAULT_DOB_MIN entities.
DEFAULT_DOB = "default_month_day"
DEFAULT_DOB_SHARE = 0.01  # 3.65 times the share of an ordinary day
DEFAULT_DOB_MIN = 5


def tf_columns(settings: dict[str, Any]) -> list[str]:
    """The input columns the model adjusts by term frequency, in settings order."""
    out: list[str] = []
    for comparison in settings["comparisons"]:
        for level in comparison["comparison_levels"]:
            column = level.get("tf_adjustment_column")
            if column and column not in out:
                if column not in TOKEN_COLUMNS and column not in TF_KEY_COLUMNS:
                    raise ValueError(f"term-frequency column {column!r} is not a token or key column")
                out.append(column)
    return out


def ensure_snapshot(con: duckdb.DuckDBPyConnection, model: LinkageModel) -> bool:
    """Store the model's term frequencies from the current entity table unless it has them; True if taken now."""
    ensure_schema(con)
    if con.execute(f"SELECT count(*) FROM {TF_TABLE} WHERE model_id = ?", [model.model_id]).fetchall()[0][0]:
        return False
    for column in tf_columns(model.settings):
        con.execute(f"INSERT INTO {TF_TABLE} {frequencies_sql(column)}", [model.model_id, column])
    con.execute(f"INSERT INTO {TF_TABLE} {default_month_days_sql()}", [model.model_id, DEFAULT_DOB])
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
            f"""CREATE OR REPLACE TEMP VIEW {quote_identifier(view)} AS
            SELECT value AS {quote_identifier(column)}, tf AS {quote_identifier("tf_" + column)} FROM {TF_TABLE}
            WHERE model_id = '{model_id}' AND column_name = '{column}'"""
        )
        linker.table_management.register_term_frequency_lookup(db.register(view), column)


def frequencies_sql(column: str) -> str:
    """SELECT of ``(?, ?, value, tf)`` rows of one column from the entity table (model id and column bound)."""
    if column == "tfk_name_nationality":
        return name_nationality_sql()
    c = quote_identifier(column)
    return f"""SELECT ?, ?, {c}, count(*) / sum(count(*)) OVER ()
        FROM {INPUT_TABLE} WHERE {c} IS NOT NULL GROUP BY {c}"""


def _concentration_sql(name: str) -> str:
    """SQL factor: how many times more common ``name`` is within the nationality than overall, at least 1.

    Within-nationality share leaving the entity out, with :data:`PRIOR_ENTITIES` entities of the population share.
    """
    share = f"n_{name} / total"
    within = f"(n_{name}_nationality - 1 + {PRIOR_ENTITIES} * {share}) / (n_nationality - 1 + {PRIOR_ENTITIES})"
    return f"greatest(1.0, {within} / ({share}))"


def name_nationality_sql() -> str:
    """SELECT of the ``tfk_name_nationality`` frequencies (see the module docstring)."""
    counts = [
        ("n_family", "family"),
        ("n_given", "given"),
        ("n_nationality", "nationality"),
        ("n_family_nationality", "family, nationality"),
        ("n_given_nationality", "given, nationality"),
    ]
    windows = ", ".join(f"count(*) OVER (PARTITION BY {by}) AS {alias}" for alias, by in counts)
    return f"""WITH entities AS (
            SELECT tok_family_name AS family, tok_given_names AS given, nationality, tfk_name_nationality AS key
            FROM {INPUT_TABLE} WHERE tfk_name_nationality IS NOT NULL
        ), counted AS (
            SELECT key, {windows}, count(*) OVER () AS total FROM entities
        )
        SELECT DISTINCT ?, ?, key,
               n_nationality / total * {_concentration_sql("family")} * {_concentration_sql("given")}
        FROM counted"""


def default_month_days_sql() -> str:
    """SELECT of ``(?, ?, key, share)`` rows (model id and column bound): the month-and-day combinations of the
    entities' birth dates common enough to be a default date (:data:`DEFAULT_DOB_SHARE`, :data:`DEFAULT_DOB_MIN`)."""
    return f"""SELECT ?, ?, {month_day_key_sql()}, count(*) / sum(count(*)) OVER () AS share
        FROM {INPUT_TABLE} WHERE tok_dob_month IS NOT NULL AND tok_dob_day IS NOT NULL
        GROUP BY tok_dob_month, tok_dob_day
        QUALIFY share >= {DEFAULT_DOB_SHARE} AND count(*) >= {DEFAULT_DOB_MIN}"""


def month_day_key_sql(prefix: str = "") -> str:
    """SQL key of a date of birth's month and day tokens (compared with the model's default dates)."""
    return f"hash({prefix}tok_dob_month, {prefix}tok_dob_day)"


def default_month_days(con: duckdb.DuckDBPyConnection, model: LinkageModel) -> set[int]:
    """Keys (:func:`month_day_key_sql`) of the month-and-day combinations frozen with the model as defaults."""
    ensure_snapshot(con, model)
    rows = con.execute(
        f"SELECT value FROM {TF_TABLE} WHERE model_id = ? AND column_name = ?", [model.model_id, DEFAULT_DOB]
    ).fetchall()
    return {int(value) for (value,) in rows}
