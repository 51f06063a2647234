"""Keyed pseudonyms (HMAC-SHA256 tokens) of standardized identifiers.

Each field has its own HKDF subkey (purpose ``token/<field>``), so a token of a family name can never be
compared with a token of a given name or a document number. Values are standardized first
(:mod:`privacy.normalize`) and each distinct value is hashed once: callers pass distinct values and join
the result back (in SQL), never one call per record.

Security properties: without the key, a token cannot be recomputed from a guessed value (no dictionary
attack); tokens reveal equality of standardized values within one field and one key version, and
therefore value frequencies.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from privacy.keys import Keyring
from privacy.normalize import normalize_document, normalize_name

TOKEN_HEX_CHARS = 32  # 128 bits of the HMAC-SHA256 output

Standardizer = Callable[[Sequence[str | None]], str | None]


@dataclass(frozen=True)
class TokenSpec:
    """How one token column is made: from which input columns, standardized how, under which purpose."""

    column: str
    purpose: str
    inputs: tuple[str, ...]
    standardize: Standardizer


def _name(values: Sequence[str | None]) -> str | None:
    return normalize_name(values[0])


def _date(values: Sequence[str | None]) -> str | None:
    return values[0] or None


def _document(values: Sequence[str | None]) -> str | None:
    number = normalize_document(values[0])
    return None if number is None else f"{number}|{values[1] or ''}"


def _number(values: Sequence[str | None]) -> str | None:
    return normalize_document(values[0])


IDENTITY_TOKENS = (
    TokenSpec("tok_family_name", "family_name", ("family_name",), _name),
    TokenSpec("tok_given_names", "given_names", ("given_names",), _name),
    TokenSpec("tok_date_of_birth", "date_of_birth", ("date_of_birth",), _date),
    TokenSpec("tok_document", "document", ("doc_number", "doc_issuing_country"), _document),
)
SOURCE_TOKENS = {
    "border": IDENTITY_TOKENS,
    "visa": (*IDENTITY_TOKENS, TokenSpec("tok_visa_number", "visa_number", ("visa_number",), _number)),
    "permit": (*IDENTITY_TOKENS, TokenSpec("tok_permit_number", "permit_number", ("permit_number",), _number)),
}


class Tokenizer:
    """Computes per-field HMAC tokens with subkeys of one key version.

    Examples:
        >>> tk = Tokenizer(Keyring.generate())
        >>> len(tk.token("family_name", "WANG"))
        32
    """

    def __init__(self, ring: Keyring, version: int | None = None) -> None:
        self.version = ring.active_version if version is None else version
        self._ring = ring
        self._keys: dict[str, bytes] = {}

    def _key(self, purpose: str) -> bytes:
        if purpose not in self._keys:
            self._keys[purpose] = self._ring.subkey(f"token/{purpose}", self.version)
        return self._keys[purpose]

    def token(self, purpose: str, value: str) -> str:
        """Token of one already standardized value."""
        return hmac.digest(self._key(purpose), value.encode(), "sha256").hex()[:TOKEN_HEX_CHARS]

    def tokens_for(self, spec: TokenSpec, distinct_inputs: Sequence[Sequence[str | None]]) -> list[str | None]:
        """Tokens for distinct input tuples of ``spec`` (``None`` where nothing is left after standardizing)."""
        key = self._key(spec.purpose)
        out: list[str | None] = []
        for inputs in distinct_inputs:
            std = spec.standardize(inputs)
            out.append(None if std is None else hmac.digest(key, std.encode(), "sha256").hex()[:TOKEN_HEX_CHARS])
        return out
