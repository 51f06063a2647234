"""Exceptions of the privacy package.

Messages never contain key material or record values.
"""

from __future__ import annotations


class MigralinkError(Exception):
    """Root of every error migralink raises on purpose (bad input, configuration, keys, linkage, review).

    It lives in the base layer so that every package can derive from it; the command line and the DAG tasks catch
    it and report its message in one line. Anything else is unexpected and reported by type only. Messages never
    hold record values or key material.
    """


class PrivacyError(MigralinkError):
    """Base class of every error raised by :mod:`privacy`."""


class KeyringError(PrivacyError):
    """A key is missing, malformed, too short or cannot be stored."""


class KeyMismatchError(PrivacyError):
    """The key offered is not the one the warehouse was built with."""


class InvalidCiphertext(PrivacyError):
    """Decryption failed: wrong key, or the data were altered. Deliberately says no more."""


class SchemaError(MigralinkError):
    """The warehouse's schema cannot be used by this code (newer than the code, or not migrated yet)."""


class RegisterError(PrivacyError):
    """The purpose register cannot be used: unreadable, not TOML, or against its schema.

    The message is one line naming the file and, for a schema problem, the field (``path`` and ``field`` hold them).
    """

    def __init__(self, message: str, *, path: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.field = field


class PurposeRefused(PrivacyError):
    """No registered purpose allows what was asked (a purpose, table, measure, dimension, detail or period).

    Raised before anything is written. The message is one line naming the purpose and what was asked (``purpose``
    and ``asked`` hold them).
    """

    def __init__(self, message: str, *, purpose: str | None = None, asked: str | None = None) -> None:
        super().__init__(message)
        self.purpose = purpose
        self.asked = asked
