"""migralink pipeline: landing-zone contract, ingest, nightly run and command line."""

from __future__ import annotations

from pipeline.config import Settings, load_settings
from pipeline.contract import SOURCES, load_contract
from pipeline.errors import ConfigError, LandingFileError, PipelineError, WarehouseError
from pipeline.nightly import NightlyResult, run_nightly

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
