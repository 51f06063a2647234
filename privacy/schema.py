"""Numbered schema migrations: how every package declares the warehouse tables it owns.

Each package declares its tables in one module as a :class:`Component`: a name and its :class:`Migration` list,
numbered 1, 2, 3, ... in the order they must run. :func:`apply_migrations` runs the ones a warehouse has not had
yet, each in its own transaction, and records them in ``meta_schema`` (component, version, description, time),
so a warehouse's schema version is the highest version recorded per component. :func:`check_schema` is the
read-only counterpart: it raises :class:`~privacy.errors.SchemaError` when a warehouse is newer than the code (a
newer migralink wrote it) or has migrations pending, and changes nothing.

This is the base layer: it knows nothing of the packages above; ``pipeline.warehouse.schema`` lists them in
migration order. A migration is never edited once released: a change to a table is a new migration.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import duckdb

from privacy.errors import SchemaError

VERSION_TABLE = "meta_schema"
VERSION_DDL = f"""CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
    component VARCHAR NOT NULL, version INTEGER NOT NULL, description VARCHAR NOT NULL,
    applied_at TIMESTAMP NOT NULL, PRIMARY KEY (component, version))"""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    """One step of a component's schema: SQL statements, or a function for steps that depend on what exists."""

    version: int
    description: str
    statements: tuple[str, ...] = ()
    apply: Callable[[duckdb.DuckDBPyConnection], None] | None = None


@dataclass(frozen=True)
class Component:
    """The tables one package owns (``tables``) and the migrations that build them."""

    name: str
    tables: tuple[str, ...]
    migrations: tuple[Migration, ...]

    def __post_init__(self) -> None:
        numbers = [m.version for m in self.migrations]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError(f"the migrations of {self.name} must be numbered 1..n in order, got {numbers}")

    @property
    def version(self) -> int:
        """The schema version this code builds (its highest migration number)."""
        return len(self.migrations)


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether ``table`` exists in the main schema."""
    query = "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = ?"
    return bool(con.execute(query, [table]).fetchall()[0][0])


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str] | None:
    """The column names of ``table`` in the main schema, or None when there is no such table."""
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = ? AND NOT internal",
        [table],
    ).fetchall()
    return {name for (name,) in rows} or None


def recorded_versions(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The schema version recorded per component (empty for a warehouse that predates the registry)."""
    if not table_exists(con, VERSION_TABLE):
        return {}
    rows = con.execute(f"SELECT component, max(version) FROM {VERSION_TABLE} GROUP BY component").fetchall()
    return {name: int(version) for name, version in rows}


def _refuse_newer(recorded: dict[str, int], components: Sequence[Component]) -> None:
    for component in components:
        found = recorded.get(component.name, 0)
        if found > component.version:
            raise SchemaError(
                f"the warehouse's {component.name} schema is version {found}, newer than this migralink knows "
                f"({component.version}): use the migralink release that wrote it, or a newer one"
            )


def check_schema(con: duckdb.DuckDBPyConnection, components: Sequence[Component]) -> dict[str, int]:
    """Refuse a warehouse this code cannot read as it is (read only: changes nothing).

    Returns:
        The recorded version per component.

    Raises:
        SchemaError: a component is newer than the code, or has migrations pending.
    """
    recorded = recorded_versions(con)
    _refuse_newer(recorded, components)
    behind = [
        f"{c.name} {recorded.get(c.name, 0)} < {c.version}" for c in components if recorded.get(c.name, 0) < c.version
    ]
    if behind:
        raise SchemaError(
            f"the warehouse's schema is older than this migralink ({', '.join(behind)}): "
            "run `migralink migrate` (or any `migralink run`) first"
        )
    return recorded


def apply_migrations(
    con: duckdb.DuckDBPyConnection, components: Sequence[Component], *, transactional: bool = True
) -> list[str]:
    """Run every migration the warehouse has not had, in order, each in its own transaction.

    With ``transactional=False`` the migrations run in the caller's transaction (or autocommit): for a package
    bringing a scratch database up to date from inside its own step.

    A warehouse that predates the registry has no ``meta_schema``: its migration 1 of every component (``CREATE
    TABLE IF NOT EXISTS``) leaves its tables as they are and later migrations bring them up to date, so every
    migration must be safe on a warehouse that already has some of its effect.

    Returns:
        ``component vN: description`` for each migration applied (empty when the schema was current).

    Raises:
        SchemaError: a component is newer than the code.
    """
    if not table_exists(con, VERSION_TABLE):
        con.execute(VERSION_DDL)
    recorded = recorded_versions(con)
    _refuse_newer(recorded, components)
    applied: list[str] = []
    for component in components:
        for migration in component.migrations[recorded.get(component.name, 0) :]:
            if transactional:
                con.execute("BEGIN TRANSACTION")
            try:
                for statement in migration.statements:
                    con.execute(statement)
                if migration.apply is not None:
                    migration.apply(con)
                con.execute(
                    f"INSERT INTO {VERSION_TABLE} VALUES (?, ?, ?, now())",
                    [component.name, migration.version, migration.description],
                )
            except BaseException:
                if transactional:
                    con.execute("ROLLBACK")
                raise
            if transactional:
                con.execute("COMMIT")
            applied.append(f"{component.name} v{migration.version}: {migration.description}")
    if applied:
        log.info("warehouse schema migrated: %s", "; ".join(applied))
    return applied
