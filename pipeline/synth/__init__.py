"""Synthetic landing-zone data: border crossings, visas and permits of simulated people, with known truth.

The generator simulates life courses of citizens and foreign nationals of many kinds, records their
events the way border systems and registrars do (recording errors included) and writes one CSV per
source and day, plus ``truth.csv`` (record to person) and ``persons.csv`` (the true attributes).
"""

from __future__ import annotations

from pipeline.synth.generator import SynthSummary, generate
from pipeline.synth.rates import ErrorRates, SynthError

__all__ = ["ErrorRates", "SynthError", "SynthSummary", "generate"]
