"""The schema registry: every package's tables in migration order, and the one runner that applies them.

Each package declares the tables it owns in one module (:data:`pipeline.warehouse.tables.PIPELINE`,
:data:`linkage.schema.LINKAGE`, and first the privacy package's log, :data:`privacy.audit.log.AUDIT`). Opening the
warehouse for writing runs :func:`migrate`; opening it read only (``status``, exports) runs :func:`check`, which
refuses a warehouse newer than the code or one with migrations pending, and changes nothing.
"""

from __future__ import annotations

import duckdb

from linkage import LINKAGE_SCHEMA
from pipeline.warehouse.tables import PIPELINE
from privacy.audit.log import AUDIT
from privacy.schema import Component, apply_migrations, check_schema

COMPONENTS: tuple[Component, ...] = (AUDIT, PIPELINE, LINKAGE_SCHEMA)


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply every pending migration of every package (each in its own transaction); returns what ran.

    Raises:
        privacy.errors.SchemaError: the warehouse is newer than this code.
    """
    return apply_migrations(con, COMPONENTS)


def check(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The recorded schema version per package of a warehouse opened read only (refuses one it cannot read;
    see :func:`privacy.schema.check_schema`)."""
    return check_schema(con, COMPONENTS)


def versions() -> dict[str, int]:
    """The schema version per package this code builds."""
    return {component.name: component.version for component in COMPONENTS}
