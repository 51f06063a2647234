"""SQL text helpers shared by every layer (the base layer holds them so that each package can import them).

Values always go to DuckDB as bound parameters; only identifiers (table and column names, which are the code's
own) are written into SQL text, quoted here.
"""

from __future__ import annotations


def quote_identifier(name: str) -> str:
    """Quote one SQL identifier (a table, view or column name).

    Examples:
        >>> quote_identifier('linkage_input')
        '"linkage_input"'
        >>> quote_identifier("a'b") == chr(34) + "a'b" + chr(34)
        True
    """
    return '"' + name.replace('"', '""') + '"'
