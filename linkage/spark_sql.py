"""DuckDB SQL to Spark SQL for a trained model: the explicit translation table and the settings rewrite.

:func:`spark_settings` rewrites the DuckDB SQL of a trained model's comparison levels and blocking rules into
Spark SQL through :data:`TRANSLATIONS`, keeping every m/u probability, term-frequency setting, prior and
blocking rule as it is. SQL holding a DuckDB construct the table does not know fails with
:class:`SparkTranslationError` rather than running with a guessed meaning. Needs sqlglot only (no Spark).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

import sqlglot
from sqlglot import exp

from linkage.errors import LinkageError

BIT_COLUMNS = ("clk_name", "clk_family", "clk_given")  # DuckDB BIT columns: arrays of 64-bit words on Spark
WORD_BITS = 64


class SparkTranslationError(LinkageError, ValueError):
    """A comparison level or blocking rule holds DuckDB SQL that has no Spark translation."""


class Translation(NamedTuple):
    """One entry of the DuckDB -> Spark SQL translation table."""

    duckdb: str
    spark: str
    why: str


_POPCOUNT = "aggregate(transform({clk}, w -> bit_count(w)), CAST(0 AS DOUBLE), (n, c) -> n + c)"
_AND_POPCOUNT = "aggregate(zip_with({clk_l}, {clk_r}, (a, b) -> bit_count(a & b)), CAST(0 AS DOUBLE), (n, c) -> n + c)"

TRANSLATIONS: tuple[Translation, ...] = (
    Translation('"column"', "`column`", "double quotes make a string literal in Spark SQL, not an identifier"),
    Translation("list_has_any(a, b)", "arrays_overlap(a, b)", "two token lists share an element"),
    Translation("bit_count(clk)", _POPCOUNT.format(clk="clk"), "set bits of an encoding held as 64-bit words"),
    Translation(
        "bit_count((clk_l) & (clk_r))",
        _AND_POPCOUNT.format(clk_l="clk_l", clk_r="clk_r"),
        "set bits of the AND of two encodings, word by word",
    ),
    Translation("x::INTEGER", "CAST(x AS INT)", "casts to INT, BIGINT, DOUBLE or BOOLEAN only"),
)
"""The DuckDB constructs the model's SQL may use, and their Spark SQL. ``clk`` is a column of :data:`BIT_COLUMNS`.

Everything else must be plain SQL that means the same in both engines (:data:`PORTABLE_NODES`): column
references, literals, ``=``/``<>``/``<``/``<=``/``>``/``>=``, ``IS [NOT] NULL``, ``AND``/``OR``/``NOT``,
``+ - * /`` (``/`` never truncates in either), ``CASE``, ``coalesce`` and parentheses. The popcounts
are summed as DOUBLE so that the Dice coefficient ``2.0 * c / (a + b)`` is a double division as in DuckDB.
"""

PORTABLE_NODES: tuple[type[exp.Expr], ...] = (
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.Paren,
    exp.And,
    exp.Or,
    exp.Not,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.Is,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Neg,
    exp.Case,
    exp.If,
    exp.Coalesce,
)
_CAST_TYPES = {exp.DataType.Type.INT, exp.DataType.Type.BIGINT, exp.DataType.Type.DOUBLE, exp.DataType.Type.BOOLEAN}


# --- SQL translation -------------------------------------------------------------------------------------------


def _unparen(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _is_bit_column(node: exp.Expr, bit_columns: Collection[str]) -> bool:
    if not isinstance(node, exp.Column):
        return False
    name = node.name
    return name in bit_columns or (name[-2:] in ("_l", "_r") and name[:-2] in bit_columns)


def _is_bit_count(node: exp.Expr) -> bool:
    return isinstance(node, exp.Anonymous) and node.name.lower() == "bit_count"


def _construct(node: exp.Expr) -> str:
    """A short name of a construct for error messages (never the SQL text, never a value)."""
    if isinstance(node, exp.Func):
        name = node.name if isinstance(node, exp.Anonymous) else node.sql(dialect="duckdb").split("(", 1)[0]
        if not name.replace("_", "").isalnum():
            name = node.sql_name()
        return f"function {name.lower()}()"
    return f"{type(node).__name__} expression"


def _bit_count_operand(node: exp.Expr, bit_columns: Collection[str], where: str) -> tuple[exp.Column, ...]:
    """The one bit column, or the two ANDed bit columns, that a ``bit_count`` counts."""
    args = node.expressions
    arg = _unparen(args[0]) if len(args) == 1 else None
    if arg is not None and _is_bit_column(arg, bit_columns):
        assert isinstance(arg, exp.Column)
        return (arg,)
    if isinstance(arg, exp.BitwiseAnd):
        left, right = _unparen(arg.this), _unparen(arg.expression)
        if _is_bit_column(left, bit_columns) and _is_bit_column(right, bit_columns):
            assert isinstance(left, exp.Column) and isinstance(right, exp.Column)
            return left, right
    raise SparkTranslationError(
        f"{where}: bit_count() is translated only over a Bloom-filter column or the AND of two of them"
    )


def _check(tree: exp.Expr, bit_columns: Collection[str], where: str) -> None:
    """Raise unless every node of ``tree`` is portable or has an entry in :data:`TRANSLATIONS`."""
    for node in tree.walk():
        if isinstance(node, exp.DataType):
            continue  # checked with its Cast
        if isinstance(node, exp.Cast):
            if node.to.this not in _CAST_TYPES:
                raise SparkTranslationError(f"{where}: a cast to {node.to.sql('duckdb')} has no Spark translation")
            continue
        if _is_bit_count(node):
            _bit_count_operand(node, bit_columns, where)
            continue
        if isinstance(node, exp.BitwiseAnd):
            parent = node.parent
            while isinstance(parent, exp.Paren):
                parent = parent.parent
            if parent is None or not _is_bit_count(parent):
                raise SparkTranslationError(f"{where}: '&' is translated only inside bit_count() of two encodings")
            continue
        if isinstance(node, exp.ArrayOverlaps):
            continue
        if _is_bit_column(node, bit_columns):
            parent = node.parent
            while isinstance(parent, exp.Paren):
                parent = parent.parent
            if not (
                isinstance(parent, exp.Is | exp.BitwiseAnd | exp.EQ | exp.NEQ)
                or (parent is not None and _is_bit_count(parent))
            ):
                raise SparkTranslationError(f"{where}: a Bloom-filter column is used outside bit_count(), '=' or IS")
            continue
        if not isinstance(node, PORTABLE_NODES):
            raise SparkTranslationError(
                f"{where}: DuckDB {_construct(node)} has no entry in the Spark translation table"
            )


def _rewrite(node: exp.Expr, bit_columns: Collection[str], where: str) -> exp.Expr:
    if isinstance(node, exp.ArrayOverlaps):
        return exp.Anonymous(this="arrays_overlap", expressions=[node.this.copy(), node.expression.copy()])
    if _is_bit_count(node):
        operands = [c.sql(dialect="spark") for c in _bit_count_operand(node, bit_columns, where)]
        if len(operands) == 1:
            spark_sql = _POPCOUNT.format(clk=operands[0])
        else:
            spark_sql = _AND_POPCOUNT.format(clk_l=operands[0], clk_r=operands[1])
        return exp.Paren(this=sqlglot.parse_one(spark_sql, read="spark"))
    return node


def translate_sql(sql: str, *, bit_columns: Collection[str] = BIT_COLUMNS, where: str = "SQL") -> str:
    """Translate one DuckDB condition (a comparison level or a blocking rule) into Spark SQL.

    Args:
        sql: The DuckDB SQL condition, e.g. ``list_has_any("tok_given_parts_l", "tok_given_parts_r")``.
        bit_columns: Columns that are DuckDB ``BIT`` values (arrays of 64-bit words on Spark).
        where: Names the level or rule in error messages.

    Returns:
        The Spark SQL condition.

    Raises:
        SparkTranslationError: ``sql`` holds a construct without an entry in :data:`TRANSLATIONS`.

    Examples:
        >>> translate_sql('list_has_any("tok_given_parts_l", "tok_given_parts_r")')
        'ARRAYS_OVERLAP(`tok_given_parts_l`, `tok_given_parts_r`)'
    """
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as e:
        raise SparkTranslationError(f"{where}: not parseable as DuckDB SQL") from e
    _check(tree, bit_columns, where)
    rewritten = tree.transform(functools.partial(_rewrite, bit_columns=bit_columns, where=where))
    return rewritten.sql(dialect="spark")


def spark_settings(settings: Mapping[str, Any], *, bit_columns: Collection[str] = BIT_COLUMNS) -> dict[str, Any]:
    """A copy of a trained model's Splink settings with every SQL condition translated to Spark SQL.

    Only ``sql_condition`` (levels), ``blocking_rule`` and ``sql_dialect`` change: m and u probabilities, term
    frequency columns and weights, the prior, labels and the order of everything stay as they are.

    Args:
        settings: :attr:`linkage.model.LinkageModel.settings` (Splink's JSON settings, DuckDB dialect).
        bit_columns: Columns held as DuckDB ``BIT`` (see :func:`spark_input`).

    Raises:
        SparkTranslationError: a level or rule holds a construct without an entry in :data:`TRANSLATIONS`.
    """
    out = copy.deepcopy(dict(settings))
    out["sql_dialect"] = "spark"
    for comparison in out.get("comparisons", []):
        name = comparison.get("output_column_name", "?")
        for level in comparison["comparison_levels"]:
            condition = level["sql_condition"]
            if condition.strip().upper() == "ELSE":
                continue
            where = f"comparison {name!r} level {level.get('label_for_charts', '?')!r}"
            level["sql_condition"] = translate_sql(condition, bit_columns=bit_columns, where=where)
    rules = out.get("blocking_rules_to_generate_predictions", [])
    for i, rule in enumerate(rules):
        where = f"blocking rule {i + 1}"
        if isinstance(rule, str):
            rules[i] = {"blocking_rule": translate_sql(rule, bit_columns=bit_columns, where=where)}
        else:
            rule["blocking_rule"] = translate_sql(rule["blocking_rule"], bit_columns=bit_columns, where=where)
        rules[i]["sql_dialect"] = "spark"
    return out
