"""migralink pipeline: landing-zone contract, ingest, nightly run and command line (names imported on first use)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from privacy.lazy import lazy_names

if TYPE_CHECKING:
    from pipeline.errors import ConfigError, LandingFileError, PipelineError, WarehouseError
    from pipeline.ingest.contract import SOURCES, load_contract
    from pipeline.nightly.settings import Settings, load_settings
    from pipeline.nightly.steps import NightlyResult, run_nightly

_NAMES = {
    "ConfigError": ("pipeline.errors", "ConfigError"),
    "LandingFileError": ("pipeline.errors", "LandingFileError"),
    "NightlyResult": ("pipeline.nightly.steps", "NightlyResult"),
    "PipelineError": ("pipeline.errors", "PipelineError"),
    "SOURCES": ("pipeline.ingest.contract", "SOURCES"),
    "Settings": ("pipeline.nightly.settings", "Settings"),
    "WarehouseError": ("pipeline.errors", "WarehouseError"),
    "load_contract": ("pipeline.ingest.contract", "load_contract"),
    "load_settings": ("pipeline.nightly.settings", "load_settings"),
    "run_nightly": ("pipeline.nightly.steps", "run_nightly"),
}

__all__ = [
    "SOURCES",
    "ConfigError",
    "LandingFileError",
    "NightlyResult",
    "PipelineError",
    "Settings",
    "WarehouseError",
    "load_contract",
    "load_settings",
    "run_nightly",
]

__getattr__ = lazy_names(__name__, _NAMES, globals())
