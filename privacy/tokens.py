"""Keyed pseudonyms (HMAC-SHA256 tokens) of standardized identifiers.

Each field has its own HKDF subkey (purpose ``token/<field>``), so a token of a family name can never be
compared with a token of a given name or a document number. Values are standardized first
(:mod:`privacy.normalize`) and each distinct value is hashed once.

Security properties: without the key, a token cannot be recomputed from a guessed value (no dictionary
attack); tokens reveal equality of standardized values within one field and one key version, and
therefore value frequencies.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

import pandas as pd

from privacy.keys import Keyring
from privacy.normalize import normalize_document, normalize_name

TOKEN_HEX_CHARS = 32  # 128 bits of the HMAC-SHA256 output


class Tokenizer:
    """Computes per-field HMAC tokens with subkeys of one key version.

    Examples:
        >>> tk = Tokenizer(Keyring.generate())
        >>> a, b = tk.tokens("family_name", pd.Series(["WANG", None])).tolist()
        >>> len(a), b
        (32, None)
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
        return hmac.new(self._key(purpose), value.encode(), hashlib.sha256).hexdigest()[:TOKEN_HEX_CHARS]

    def tokens(self, purpose: str, values: pd.Series) -> pd.Series:
        """Tokens of standardized values; ``None`` stays ``None``; each distinct value hashed once."""
        distinct = values.dropna().unique()
        mapping = {v: self.token(purpose, v) for v in distinct}
        return values.map(mapping).astype(object).where(values.notna(), None)


def _standardize(values: pd.Series, fn: Callable[[str | None], str | None]) -> pd.Series:
    distinct = values.dropna().unique()
    mapping = {v: fn(v) for v in distinct}
    return values.map(mapping).astype(object).where(values.notna(), None)


def pseudonymize_identity(frame: pd.DataFrame, tokenizer: Tokenizer) -> pd.DataFrame:
    """Replace the identifier columns of ``frame`` by tokens.

    Args:
        frame: Columns ``family_name``, ``given_names``, ``date_of_birth`` (ISO text), ``doc_number`` and
            ``doc_issuing_country``; optionally ``visa_number`` and ``permit_number``.
        tokenizer: The tokenizer of the active key version.

    Returns:
        A frame with the same index and columns ``tok_family_name``, ``tok_given_names``,
        ``tok_date_of_birth``, ``tok_document`` (number with issuing country) and, when present,
        ``tok_visa_number`` / ``tok_permit_number``.
    """
    out = pd.DataFrame(index=frame.index)
    out["tok_family_name"] = tokenizer.tokens("family_name", _standardize(frame["family_name"], normalize_name))
    out["tok_given_names"] = tokenizer.tokens("given_names", _standardize(frame["given_names"], normalize_name))
    out["tok_date_of_birth"] = tokenizer.tokens("date_of_birth", frame["date_of_birth"])
    doc = _standardize(frame["doc_number"], normalize_document)
    country = frame["doc_issuing_country"].fillna("")
    out["tok_document"] = tokenizer.tokens("document", (doc + "|" + country).where(doc.notna(), None))
    for column in ("visa_number", "permit_number"):
        if column in frame.columns:
            std = _standardize(frame[column], normalize_document)
            out[f"tok_{column}"] = tokenizer.tokens(column, std)
    return out
