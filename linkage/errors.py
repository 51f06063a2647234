"""Exceptions of the linkage package. Messages never carry record values or pseudonyms."""

from __future__ import annotations

from privacy.errors import MigralinkError


class LinkageError(MigralinkError):
    """Base class of every error the linkage package raises on purpose."""


class ModelNotFoundError(LinkageError):
    """No stored linkage model matches the request."""


class EmptyInputError(LinkageError):
    """There are no tokenized records to link."""


class ReviewError(LinkageError):
    """A clerical review decision cannot be recorded (unknown or already decided pair, no reviewer)."""
