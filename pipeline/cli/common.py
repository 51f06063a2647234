"""What the command modules share: the common options, the date parser and the warehouse connection.

The commands are split over ``pipeline.cli.main`` (runs, keys, status), ``pipeline.cli.ops`` (quarantine, retention)
and ``pipeline.cli.linkage`` (review, models, exports); each takes these from here rather than keeping a copy.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from pipeline.nightly.settings import Settings

if TYPE_CHECKING:
    import duckdb

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML config file (or MIGRALINK_CONFIG).")]
WarehouseOpt = Annotated[Path | None, typer.Option("--warehouse", help="Warehouse directory (or MIGRALINK_WAREHOUSE).")]
LandingOpt = Annotated[Path | None, typer.Option("--landing", help="Landing-zone directory (or MIGRALINK_LANDING).")]


def parse_date(text: str, flag: str) -> dt.date:
    """A ``YYYY-MM-DD`` option value, or a usage error naming ``flag``."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{flag} must be a date YYYY-MM-DD") from None


def parse_optional_date(text: str | None, flag: str) -> dt.date | None:
    """:func:`parse_date` for an option that may be left out."""
    return parse_date(text, flag) if text else None


def connect_warehouse(settings: Settings, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the configured warehouse, which must exist (commands other than ``run`` never create one); read only
    for commands that only look (status, exports: no migration, no write)."""
    from pipeline.warehouse.connection import connect

    settings.require("warehouse")
    assert settings.warehouse is not None
    return connect(settings.warehouse, create=False, read_only=read_only)


@contextlib.contextmanager
def writing_warehouse(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """:func:`connect_warehouse` for a command that changes the warehouse: when the block succeeds and the log's
    signing key is configured (``audit_key_file``, or the key file beside which it lies), the privacy log's entries
    it appended are signed (a new tree head) before the warehouse is closed; otherwise the next night signs them."""
    from pipeline.audit.trail import seal_if_configured

    con = connect_warehouse(settings)
    try:
        yield con
        seal_if_configured(settings, con)
    finally:
        con.close()


@contextlib.contextmanager
def open_warehouse(settings: Settings, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """:func:`connect_warehouse` for the length of a ``with`` block."""
    con = connect_warehouse(settings, read_only=read_only)
    try:
        yield con
    finally:
        con.close()


LOG_WIDTH = 10_000  # "unlimited": a line is never wrapped when the output goes to a log or a pipe


def console(*, stderr: bool = False) -> Console:
    """A console for command output: on a terminal it fits the window; to a log, a pipe or a file it never wraps
    lines or cuts table cells, so logs and grep see whole lines and clerks whole identifiers."""
    stream = sys.stderr if stderr else sys.stdout
    to_terminal = stream.isatty()
    return Console(stderr=stderr, highlight=False, soft_wrap=not to_terminal, width=None if to_terminal else LOG_WIDTH)


def count(n: int, word: str, plural: str | None = None) -> str:
    """``1 record``, ``2 records``, ``1,234 persons``: a count with its noun in agreement."""
    return f"{n:,} {word if n == 1 else plural or word + 's'}"
