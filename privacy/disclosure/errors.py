"""Exceptions of :mod:`privacy.disclosure`.

Messages name parameters and counts of cells, never record values or keys.
"""

from __future__ import annotations

from privacy.errors import PrivacyError


class DisclosureError(PrivacyError):
    """Base class of every error raised by :mod:`privacy.disclosure`: a release cannot be protected as configured."""


class PerturbationTableError(DisclosureError):
    """No perturbation table meets the configured maximum deviation, variance and blocking.

    Attributes:
        max_deviation: the maximum deviation D asked for.
        variance: the variance V asked for.
        block_small: the blocked small values 1..js asked for.
    """

    def __init__(self, message: str, *, max_deviation: int, variance: float, block_small: int) -> None:
        super().__init__(message)
        self.max_deviation = max_deviation
        self.variance = variance
        self.block_small = block_small
