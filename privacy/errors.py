"""Exceptions of the privacy package.

Messages never contain key material or record values.
"""

from __future__ import annotations


class PrivacyError(Exception):
    """Base class of every error raised by :mod:`privacy`."""


class KeyringError(PrivacyError):
    """A key is missing, malformed, too short or cannot be stored."""


class KeyMismatchError(PrivacyError):
    """The key offered is not the one the warehouse was built with."""


class InvalidCiphertext(PrivacyError):
    """Decryption failed: wrong key, or the data were altered. Deliberately says no more."""
