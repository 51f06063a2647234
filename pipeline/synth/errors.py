"""Recording errors: applied to name ids first (per distinct name), then to strings of the few hit records."""

from __future__ import annotations

import numpy as np

from pipeline.synth.names import NamePool

KEYBOARD_ROWS = ("QWERTYUIOP", "ASDFGHJKL", "ZXCVBNM")
_NEIGHBOURS: dict[str, str] = {}
for _row in KEYBOARD_ROWS:
    for _i, _ch in enumerate(_row):
        _NEIGHBOURS[_ch] = _row[max(_i - 1, 0) : _i] + _row[_i + 1 : _i + 2]
DIGIT_CONFUSIONS = {"0": "O", "O": "0", "1": "I", "I": "1", "5": "S", "S": "5", "8": "B", "B": "8"}


def hits(rng: np.random.Generator, n: int, rate: float, eligible: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of records hit by an error of probability `rate` (only among `eligible`)."""
    mask = rng.random(n) < rate
    return mask if eligible is None else mask & eligible


def transliterate(ids: np.ndarray, mask: np.ndarray, pool: NamePool, rng: np.random.Generator) -> np.ndarray:
    """Replace masked name ids by one of their alternative spellings (where the name has one)."""
    out = ids.copy()
    rows = np.flatnonzero(mask & (ids >= 0))
    counts = pool.n_variants[ids[rows]].astype(np.int64)
    rows, counts = rows[counts > 0], counts[counts > 0]
    pick = (rng.random(len(rows)) * counts).astype(np.int64)
    out[rows] = pool.variants[ids[rows], pick]
    return out


def typo(text: str, rng: np.random.Generator) -> str:
    """One keying error: neighbour-key substitution, deletion, doubled letter or transposition."""
    letters = [i for i, ch in enumerate(text) if ch.isalpha()]
    if len(letters) < 2:
        return text
    i = letters[int(rng.integers(len(letters)))]
    op = int(rng.integers(4))
    ch = text[i]
    if op == 0:
        near = _NEIGHBOURS.get(ch.upper(), "E")
        return text[:i] + near[int(rng.integers(len(near)))] + text[i + 1 :]
    if op == 1:
        return text[:i] + text[i + 1 :]
    if op == 2:
        return text[:i] + ch + text[i:]
    j = i + 1 if i + 1 < len(text) else i - 1
    a, b = sorted((i, j))
    swapped = text[:a] + text[b] + text[a] + text[b + 1 :]
    return swapped if swapped != text else text[:i] + text[i + 1 :]


def doc_typo(text: str, rng: np.random.Generator) -> str:
    """One misread document-number character (0/O, 1/I, ...) or a transposition."""
    if len(text) < 2:
        return text
    confusable = [i for i, ch in enumerate(text) if ch in DIGIT_CONFUSIONS]
    if confusable and rng.random() < 0.5:
        i = confusable[int(rng.integers(len(confusable)))]
        return text[:i] + DIGIT_CONFUSIONS[text[i]] + text[i + 1 :]
    i = int(rng.integers(len(text) - 1))
    if text[i] == text[i + 1]:
        return text[:i] + ("7" if text[i] != "7" else "3") + text[i + 1 :]
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def apply_each(values: np.ndarray, mask: np.ndarray, func, rng: np.random.Generator) -> None:
    """Apply a string error `func(text, rng)` in place to the masked, non-empty values."""
    for i in np.flatnonzero(mask):
        if values[i]:
            values[i] = func(values[i], rng)


def initials(text: str, _rng: np.random.Generator) -> str:
    """Given names reduced to initials: ``ANNA MARIA`` -> ``A M``."""
    return " ".join(part[0] for part in text.split())


def change_case(text: str, rng: np.random.Generator) -> str:
    """Lower case or title case, as keyed by hand."""
    return text.lower() if rng.random() < 0.35 else text.title()


def add_spaces(text: str, rng: np.random.Generator) -> str:
    """Leading, trailing or doubled inner white space."""
    r = rng.random()
    if r < 0.35:
        return " " + text
    if r < 0.7:
        return text + " "
    if " " in text:
        return text.replace(" ", "  ", 1)
    return text + "  "


def swap_day_month(dob: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Dates (days since epoch) with day and month swapped where masked and the swap is a valid date."""
    days = dob.astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    years = days.astype("datetime64[Y]")
    day = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    month = (months - years.astype("datetime64[M]")).astype(np.int64) + 1
    swapped = (years.astype("datetime64[M]") + (day - 1)).astype("datetime64[D]") + (month - 1)
    return np.where(mask, swapped.astype(np.int64), dob).astype(dob.dtype)


def swappable(dob: np.ndarray) -> np.ndarray:
    """Whether day and month of a date could be swapped unnoticed (day <= 12 and day != month)."""
    days = dob.astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    day = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    month = (months - days.astype("datetime64[Y]").astype("datetime64[M]")).astype(np.int64) + 1
    return (day <= 12) & (day != month)


def january_first(dob: np.ndarray) -> np.ndarray:
    """1 January of each date's year."""
    return dob.astype("datetime64[D]").astype("datetime64[Y]").astype("datetime64[D]").astype(dob.dtype)
