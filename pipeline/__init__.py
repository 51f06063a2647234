"""migralink pipeline: landing-zone contract, ingest, nightly run and command line."""

from __future__ import annotations

from pipeline.errors import ConfigError, LandingFileError, PipelineError, WarehouseError
from pipeline.ingest.contract import SOURCES, load_contract
from pipeline.nightly.settings import Settings, load_settings
from pipeline.nightly.steps import NightlyResult, run_nightly

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
