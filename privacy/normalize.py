"""Standardization of identifiers before they are tokenized.

Names: Unicode NFKC, transliteration to Latin, upper case, ICAO ``<`` fillers and punctuation turned
into spaces, white space collapsed. Document numbers: upper case, only letters and digits.
All functions are total (any string in, a string or ``None`` out) and idempotent.
"""

from __future__ import annotations

import re
import unicodedata

from unidecode import unidecode

_NON_NAME = re.compile(r"[^A-Z ]+")
_SPACES = re.compile(r" +")
_NON_ALNUM = re.compile(r"[^A-Z0-9]+")


def normalize_name(value: str | None) -> str | None:
    """Return the standardized form of a name, or ``None`` when nothing is left.

    Examples:
        >>> normalize_name("  Müller-Lüdenscheidt ")
        'MULLER LUDENSCHEIDT'
        >>> normalize_name("OLEKSANDR<<")
        'OLEKSANDR'
    """
    if value is None:
        return None
    text = unidecode(unicodedata.normalize("NFKC", value)).upper()
    text = _SPACES.sub(" ", _NON_NAME.sub(" ", text)).strip()
    return text or None


def normalize_document(value: str | None) -> str | None:
    """Return a document number with only upper-case letters and digits, or ``None``.

    Examples:
        >>> normalize_document(" ab-123 456 ")
        'AB123456'
    """
    if value is None:
        return None
    text = _NON_ALNUM.sub("", unidecode(unicodedata.normalize("NFKC", value)).upper())
    return text or None
