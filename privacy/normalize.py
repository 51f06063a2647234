"""Standardization of identifiers before they are tokenized.

Names: Unicode NFKC, transliteration to Latin, upper case, apostrophes dropped (O'BRIEN → OBRIEN), ICAO ``<``
fillers, hyphens and other punctuation turned into spaces, white space collapsed. Name *parts* are the words of
a name without particles (AL, EL, DE, LA, VAN, VON, BIN, ...), so AL-HASSAN, AL HASSAN and HASSAN give the same
parts; a name that is only particles keeps them. Document numbers: upper case, only letters and digits.
All functions are total (any string in, a value or ``None`` out) and idempotent.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from unidecode import unidecode

_APOSTROPHES = re.compile(r"['`´’‘ʼ]")
_NON_NAME = re.compile(r"[^A-Z ]+")
_SPACES = re.compile(r" +")
_NON_ALNUM = re.compile(r"[^A-Z0-9]+")

PARTICLES = frozenset(
    {
        "AL",
        "EL",
        "UL",
        "BIN",
        "BINT",
        "BEN",
        "IBN",
        "ABU",
        "DE",
        "DA",
        "DAS",
        "DOS",
        "DO",
        "DI",
        "DEL",
        "DELLA",
        "DER",
        "DEN",
        "LA",
        "LE",
        "LOS",
        "LAS",
        "VAN",
        "VON",
        "VOM",
        "ZU",
        "TER",
        "TEN",
        "ST",
        "MAC",
        "Y",
    }
)


def normalize_name(value: str | None) -> str | None:
    """Return the standardized form of a name, or ``None`` when nothing is left.

    Examples:
        >>> normalize_name("  Müller-Lüdenscheidt ")
        'MULLER LUDENSCHEIDT'
        >>> normalize_name("O'Brien<<")
        'OBRIEN'
    """
    if value is None:
        return None
    text = value.upper() if value.isascii() else unidecode(unicodedata.normalize("NFKC", value)).upper()
    text = _SPACES.sub(" ", _NON_NAME.sub(" ", _APOSTROPHES.sub("", text))).strip()
    return text or None


@lru_cache(maxsize=1 << 18)
def name_parts(value: str | None) -> tuple[str, ...]:
    """The parts of a standardized name without particles (all parts if there are only particles).

    Cached: the same raw names recur across records and token kinds.

    Examples:
        >>> name_parts("AL-HASSAN")
        ('HASSAN',)
        >>> name_parts("de la Cruz Garcia")
        ('CRUZ', 'GARCIA')
    """
    text = normalize_name(value)
    if text is None:
        return ()
    parts = tuple(text.split(" "))
    core = tuple(p for p in parts if p not in PARTICLES)
    return core or parts


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
