"""The landing-zone data contract, loaded from ``contract.json`` (the machine-readable schema)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

SOURCES = ("border", "visa", "permit")


@dataclass(frozen=True)
class Column:
    """One contract column."""

    name: str
    type: str
    nullable: bool
    identifier: bool
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceContract:
    """The columns every file of one source must carry."""

    source: str
    description: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def identifiers(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.identifier)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


@cache
def load_contract() -> dict[str, SourceContract]:
    """Return the contract of every source, keyed by source name."""
    doc = json.loads(resources.files("pipeline.ingest").joinpath("contract.json").read_text(encoding="utf-8"))
    contracts = {}
    for source, spec in doc["sources"].items():
        columns = tuple(
            Column(
                name=name,
                type=col["type"],
                nullable=bool(col["nullable"]),
                identifier=bool(col.get("identifier", False)),
                values=tuple(col.get("values", ())),
            )
            for name, col in spec["columns"].items()
        )
        contracts[source] = SourceContract(source, spec["description"], columns)
    if tuple(contracts) != SOURCES:
        raise RuntimeError("contract.json must define exactly the sources border, visa and permit")
    return contracts
