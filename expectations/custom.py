"""Custom Great Expectations expectation: text values must not look like personal data.

`ExpectColumnValuesToNotLookLikePersonalData` (type ``expect_column_values_to_not_look_like_personal_data``)
is a column map expectation for the pandas engine; importing this module registers it and its metric
``column_values.not_personal_data``. The data-quality gates apply it to the distinct text values of the
analyst and linkage zones, where no name, birth date or document number may ever appear. The same rules
are available without a Data Context as the vectorized functions `looks_like_birth_date`,
`looks_like_document_number`, `looks_like_name` and `looks_like_personal_data` (their OR); each takes a
pandas Series and returns a boolean Series on the same index.

Values are taken as text (non-string values are converted with ``astype("string")``) and trimmed. Missing
values (None, NaN) and empty strings are never flagged, and neither is any value listed in ``ignore_values``
(compared after trimming and casefolding, e.g. the vocabularies of the data contract).

Rules:

* Birth date: a valid calendar date with a year from 1900 to 2030 written as ``YYYY-MM-DD``, ``YYYY/MM/DD``,
  ``DD.MM.YYYY``, ``DD/MM/YYYY``, ``DD-MM-YYYY`` (day and month may have one digit in the separated forms)
  or ``YYYYMMDD`` (eight digits forming a valid date), optionally followed by a time part (``T`` or
  white space, then ``HH:MM``, optional seconds, fraction and zone; or basic ``THHMM[SS]``). Any such date
  counts: a crossing date written as text in an analyst column is flagged too.
* Document number: after removing white space, 6 to 12 ASCII letters and digits with at least 5 digits
  (passport, ID, visa and permit numbers such as ``X1234567``, ``C01X00T47``, ``123456789``,
  ``AB 123 456 7``). Values with any other character are not document numbers, so record ids with
  separators (``V-2024-000123``) are not flagged, nor are person keys (``P`` and 32 hex digits: too long).
  One exception keeps record ids without separators out: a single letter followed by a zero-padded
  counter (digits only, starting with ``00``: ``B000123``, ``B000000123``) is a record id, not a document
  number. Alphanumeric numbers with fewer than 5 digits (some ID cards) are not caught.
* Name: the NFKC-normalised value consists only of letters of any script (combining marks included),
  separated by spaces, hyphens or apostrophes, and either
  - has 2 to 5 words (words are split on spaces, hyphens and apostrophes: ``Jean-Luc`` and ``O'Neil``
    have two) of which at least one is in the name list, or
  - is a single word of at least 4 letters that is in the name list (``Müller``).
  Words are looked up casefolded and transliterated to ASCII with unidecode (``Nguyễn`` -> ``nguyen``,
  ``Иванов`` -> ``ivanov``). Not caught: names written without spaces in scripts such as Chinese, and
  names whose unidecode transliteration differs from the listed spelling (Arabic script without vowels,
  some Devanagari); combining marks are recognised in the Basic Multilingual Plane only.

The name list, ``name_words.txt`` next to this module, holds one casefolded ASCII word a line: the words
of the common family and given names of the synthetic-data name tables (``pipeline/synth/name_*.py``,
23 naming traditions) plus a short supplement of common names of traditions they do not cover. Words of
fewer than 3 letters, words of the warehouse vocabularies (``work``, ``study``, ``family``, ``final``,
``pending``, ``resident``, ``tourist``, ``arr``, ``dep``, region and port words, ...), common English words
that are also names (``the``, ``long``, ``green``, ``park``, ...) and words of country names (``costa``,
``hong``, ``kong``, ...) are left out, so labels such as ``repeated arrival``, ``non-resident`` or
``Hong Kong`` are never flagged. The file is data: this module does not import ``pipeline``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from expectations import import_great_expectations

import_great_expectations()

from great_expectations.compatibility import pydantic
from great_expectations.core.suite_parameters import SuiteParameterDict
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    column_condition_partial,
)
from unidecode import unidecode

__all__ = [
    "NAME_WORDS_FILE",
    "ColumnValuesNotPersonalData",
    "ExpectColumnValuesToNotLookLikePersonalData",
    "looks_like_birth_date",
    "looks_like_document_number",
    "looks_like_name",
    "looks_like_personal_data",
    "name_words",
]

NAME_WORDS_FILE = Path(__file__).resolve().with_name("name_words.txt")

# --- birth dates -------------------------------------------------------------------------------------------

_TIME = (
    r"(?:(?:T|\s+)\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?"
    r"|T\d{4}(?:\d{2})?Z?)?"
)
_DATE_PATTERNS = (
    rf"^(?P<y>[0-9]{{4}})(?P<sep>[-/])(?P<m>[0-9]{{1,2}})(?P=sep)(?P<d>[0-9]{{1,2}}){_TIME}$",
    rf"^(?P<d>[0-9]{{1,2}})(?P<sep>[./-])(?P<m>[0-9]{{1,2}})(?P=sep)(?P<y>[0-9]{{4}}){_TIME}$",
    rf"^(?P<y>[0-9]{{4}})(?P<m>[0-9]{{2}})(?P<d>[0-9]{{2}}){_TIME}$",
)
_MIN_YEAR, _MAX_YEAR = 1900, 2030

# --- document numbers --------------------------------------------------------------------------------------

_DOCUMENT_SHAPE = r"[A-Za-z0-9]{6,12}"
_MIN_DOCUMENT_DIGITS = 5
_PADDED_RECORD_ID = r"[A-Za-z]00[0-9]*"

# --- names -------------------------------------------------------------------------------------------------


def _mark_class() -> str:
    """A regex character class of the combining marks (Mn, Mc, Me) of the Basic Multilingual Plane."""
    ranges: list[tuple[int, int]] = []
    for code in range(0x10000):
        if unicodedata.category(chr(code)) in ("Mn", "Mc", "Me"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    parts = (re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)
    return "[" + "".join(parts) + "]"


_MARKS = _mark_class()
_LETTERS = r"[^\W\d_]+"  # letters of any script (marks are removed before matching)
_SEPARATOR = r"(?:\s+|\s*[-‐‑]\s*|['’ʼ])"  # spaces, hyphens (ASCII, U+2010, U+2011), apostrophes
_NAME_SHAPE = rf"{_LETTERS}(?:{_SEPARATOR}{_LETTERS})*"
_MIN_WORDS, _MAX_WORDS = 2, 5
_MIN_SINGLE_LETTERS = 4


@cache
def name_words() -> frozenset[str]:
    """The casefolded ASCII name words of ``name_words.txt`` (read once)."""
    text = NAME_WORDS_FILE.read_text(encoding="ascii")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


# --- helpers -----------------------------------------------------------------------------------------------


def _text(series: pd.Series) -> pd.Series:
    """Trimmed string values on a fresh positional index (missing values stay <NA>)."""
    return series.astype("string").str.strip().reset_index(drop=True)


def _flags(values: pd.Series | np.ndarray, like: pd.Series) -> pd.Series:
    """A plain boolean Series on the index of `like`; missing results count as not flagged."""
    if isinstance(values, pd.Series):
        values = values.fillna(False).to_numpy(dtype=bool)
    return pd.Series(values, index=like.index, dtype=bool)


def _ignored(text: pd.Series, ignore_values: Iterable[str] | None) -> np.ndarray:
    if not ignore_values:
        return np.zeros(len(text), dtype=bool)
    keys = {str(value).strip().casefold() for value in ignore_values}
    return text.str.casefold().isin(keys).fillna(False).to_numpy(dtype=bool)


def _birth_date(text: pd.Series) -> np.ndarray:
    out = np.zeros(len(text), dtype=bool)
    # Cheap pre-filter: every accepted form starts with a digit and has at least 8 characters.
    maybe = (text.str.match(r"[0-9]") & (text.str.len() >= 8)).fillna(False).to_numpy(dtype=bool)
    if not maybe.any():
        return out
    subset = text[maybe].reset_index(drop=True)
    ymd = np.full((len(subset), 3), np.nan)
    for pattern in _DATE_PATTERNS:
        found = subset.str.extract(pattern)[["y", "m", "d"]].astype("float64").to_numpy()
        ymd = np.where(np.isnan(ymd), found, ymd)
    candidate = ~np.isnan(ymd).any(axis=1) & (ymd[:, 0] >= _MIN_YEAR) & (ymd[:, 0] <= _MAX_YEAR)
    if not candidate.any():
        return out
    chosen = pd.DataFrame(ymd[candidate].astype("int64"), columns=["year", "month", "day"])
    valid = pd.to_datetime(chosen, errors="coerce").notna().to_numpy()
    out[np.flatnonzero(maybe)[np.flatnonzero(candidate)[valid]]] = True
    return out


def _document_number(text: pd.Series) -> np.ndarray:
    compact = text.str.replace(r"\s+", "", regex=True)
    shaped = compact.str.fullmatch(_DOCUMENT_SHAPE)
    digits = compact.str.count(r"[0-9]") >= _MIN_DOCUMENT_DIGITS
    record_id = compact.str.fullmatch(_PADDED_RECORD_ID)
    flagged = shaped & digits & ~record_id
    return flagged.fillna(False).to_numpy(dtype=bool)


def _name(text: pd.Series, ignored: np.ndarray) -> np.ndarray:
    bare = text.str.normalize("NFKC").str.replace(_MARKS, "", regex=True)
    shaped = bare.str.fullmatch(_NAME_SHAPE).fillna(False).to_numpy(dtype=bool) & ~ignored
    out = np.zeros(len(text), dtype=bool)
    if not shaped.any():
        return out
    candidates = bare[shaped].reset_index(drop=True)
    word_count = candidates.str.count(_LETTERS).to_numpy()
    letters = candidates.str.count(r"[^\W\d_]").to_numpy()
    folded = candidates.str.casefold()
    ascii_form = folded.map({value: unidecode(value) for value in folded.unique()})
    words = ascii_form.str.lower().str.findall(r"[a-z]+").explode()
    known = words.isin(name_words()).groupby(level=0).any().reindex(candidates.index, fill_value=False)
    known_flags = known.to_numpy(dtype=bool)
    multi = (word_count >= _MIN_WORDS) & (word_count <= _MAX_WORDS)
    single = (word_count == 1) & (letters >= _MIN_SINGLE_LETTERS)
    out[np.flatnonzero(shaped)] = known_flags & (multi | single)
    return out


# --- public functions --------------------------------------------------------------------------------------


def looks_like_birth_date(series: pd.Series, ignore_values: Iterable[str] | None = None) -> pd.Series:
    """Flag values that are a valid calendar date (year 1900-2030) in one of the listed formats."""
    text = _text(series)
    return _flags(_birth_date(text) & ~_ignored(text, ignore_values), series)


def looks_like_document_number(series: pd.Series, ignore_values: Iterable[str] | None = None) -> pd.Series:
    """Flag values shaped like a passport, ID, visa or permit number (see the module docstring)."""
    text = _text(series)
    return _flags(_document_number(text) & ~_ignored(text, ignore_values), series)


def looks_like_name(series: pd.Series, ignore_values: Iterable[str] | None = None) -> pd.Series:
    """Flag values shaped like a person's name with at least one word in the name list."""
    text = _text(series)
    return _flags(_name(text, _ignored(text, ignore_values)), series)


def looks_like_personal_data(series: pd.Series, ignore_values: Iterable[str] | None = None) -> pd.Series:
    """Flag values that look like a birth date, a document number or a name (the OR of the three rules)."""
    text = _text(series)
    ignored = _ignored(text, ignore_values)
    flagged = (_birth_date(text) | _document_number(text)) & ~ignored
    flagged |= _name(text, ignored)
    return _flags(flagged, series)


# --- Great Expectations ------------------------------------------------------------------------------------


class ColumnValuesNotPersonalData(ColumnMapMetricProvider):
    """Map metric ``column_values.not_personal_data``: True for values that do not look like personal data.

    Missing values never reach the condition: the pandas partial drops them first (``filter_column_isnull``).
    """

    condition_metric_name = "column_values.not_personal_data"
    condition_value_keys = ("ignore_values",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, ignore_values: list[str] | None = None, **kwargs: Any) -> pd.Series:
        return ~looks_like_personal_data(column, ignore_values=ignore_values)


IGNORE_VALUES_DESCRIPTION = (
    "Values that never count as personal data (compared trimmed and casefolded), e.g. the contract's vocabularies."
)


class ExpectColumnValuesToNotLookLikePersonalData(ColumnMapExpectation):
    """Expect no column value to look like a person's name, a birth date or a document number.

    A Column Map Expectation on text values (pandas only). The rules are those of
    `looks_like_personal_data`, described in the module docstring of ``expectations.custom``.

    Args:
        column (str): The column name.
        ignore_values (list of str or None): Values that never count as personal data (trimmed, casefolded).

    Other Parameters:
        mostly (None or a float between 0 and 1): Share of non-missing values that must pass (default 1).
        result_format, catch_exceptions, meta, severity: As for every expectation. Use
            ``{"result_format": "SUMMARY", "partial_unexpected_count": 0}`` (or ``BOOLEAN_ONLY``) so that no
            offending value is copied into validation results.
    """

    ignore_values: list[str] | SuiteParameterDict | None = pydantic.Field(
        default=None, description=IGNORE_VALUES_DESCRIPTION
    )

    library_metadata: ClassVar[dict[str, str | list[Any] | bool]] = {
        "maturity": "experimental",
        "tags": ["privacy", "personal data", "column map expectation"],
        "contributors": ["@migralink"],
        "requirements": ["unidecode"],
        "has_full_test_suite": False,
        "manually_reviewed_code": True,
    }
    _library_metadata = library_metadata

    map_metric = "column_values.not_personal_data"
    success_keys = ("ignore_values", "mostly")
    args_keys = ("column",)
