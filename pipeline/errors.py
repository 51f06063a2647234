"""Exceptions of the pipeline package. Messages name files and columns, never record values."""

from __future__ import annotations

from privacy.errors import MigralinkError


class PipelineError(MigralinkError):
    """Base class of every error the pipeline raises on purpose."""


class ConfigError(PipelineError):
    """A setting is missing or invalid."""


class LandingFileError(PipelineError):
    """A landing file cannot be read at all; its partition is not processed."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot read landing file {path}: {reason}")
        self.path = path
        self.reason = reason


class WarehouseError(PipelineError):
    """The warehouse is missing, locked, or belongs to another key."""
