"""Name universe: common and rare names per tradition, skewed sampling and spelling-variant tables.

All names live in one pool of distinct strings and are handled as integer ids, so that per-record work
is array indexing; string work happens once per distinct name.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import cache

import numpy as np
from unidecode import unidecode

from pipeline.synth.name_data import KNOWN_VARIANTS, TRADITIONS, NameTradition

RARE_FAMILY_NAMES = 3000
RARE_GIVEN_NAMES = 900
GIVEN_HEAD_SHARE = 0.6
GIVEN_ZIPF = 0.9
TAIL_ZIPF = 0.9
TAIL_OFFSET = 8
MAX_VARIANTS = 3

# Generic transliteration alternatives, most plausible first: (spelling, alternative spelling).
TRANSLITERATION_RULES: tuple[tuple[str, str], ...] = (
    ("Ü", "UE"),
    ("Ö", "OE"),
    ("Ä", "AE"),
    ("KH", "H"),
    ("OU", "U"),
    ("OO", "U"),
    ("EE", "I"),
    ("IY", "II"),
    ("II", "IY"),
    ("YU", "IU"),
    ("YA", "IA"),
    ("IA", "YA"),
    ("SCH", "SH"),
    ("SH", "SCH"),
    ("ZH", "J"),
    ("CH", "TCH"),
    ("DJ", "J"),
    ("J", "DJ"),
    ("PH", "F"),
    ("TH", "T"),
    ("DH", "D"),
    ("GH", "G"),
    ("Q", "K"),
    ("AI", "AY"),
    ("EI", "EY"),
    ("EY", "EI"),
    ("W", "V"),
    ("V", "W"),
    ("C", "K"),
    ("K", "C"),
    ("MM", "M"),
    ("LL", "L"),
    ("SS", "S"),
    ("TT", "T"),
    ("NN", "N"),
    ("X", "KS"),
    ("Y", "I"),
    ("I", "Y"),
    ("U", "OU"),
    ("O", "U"),
)

# ICAO Doc 9303 part 3 transliterations of Latin letters with diacritics in the machine-readable zone.
ICAO_LATIN: dict[str, str] = {
    "Ä": "AE",
    "Å": "AA",
    "Æ": "AE",
    "Ö": "OE",
    "Ø": "OE",
    "Ü": "UE",
    "ß": "SS",
    "Ñ": "N",
    "Þ": "TH",
    "Ł": "L",
    "Ŀ": "L",
    "Ĳ": "IJ",
    "Œ": "OE",
}


@dataclass(frozen=True)
class Sampler:
    """Ids of the names of one tradition and role, and the cumulative Zipf-like distribution over them."""

    ids: np.ndarray
    cdf: np.ndarray

    def draw(self, uniforms: np.ndarray) -> np.ndarray:
        """Map uniform draws in [0, 1) to name ids."""
        pos = np.searchsorted(self.cdf, uniforms, side="right")
        return self.ids[np.minimum(pos, len(self.ids) - 1)]


@dataclass(frozen=True)
class NamePool:
    """Every distinct name string, the samplers per tradition and the per-name variant tables.

    Attributes:
        strings: Name string per id.
        traditions: Tradition keys, in the order used by the sampler tuples.
        family: Family-name sampler per tradition.
        male: Male given-name sampler per tradition.
        female: Female given-name sampler per tradition.
        variants: Up to `MAX_VARIANTS` alternative spellings per id (-1 where there are fewer).
        n_variants: Number of alternative spellings per id.
        stripped: Id of the name with diacritics removed.
        icao: Id of the name as written in a machine-readable zone.
        has_diacritics: Whether the name has letters outside A-Z.
    """

    strings: np.ndarray
    traditions: tuple[str, ...]
    family: tuple[Sampler, ...]
    male: tuple[Sampler, ...]
    female: tuple[Sampler, ...]
    variants: np.ndarray
    n_variants: np.ndarray
    stripped: np.ndarray
    icao: np.ndarray
    has_diacritics: np.ndarray

    def tradition_index(self, key: str) -> int:
        """Position of tradition `key` in the sampler tuples."""
        return self.traditions.index(key)


def zipf_cdf(n_head: int, head_share: float, head_zipf: float, n_tail: int) -> np.ndarray:
    """Cumulative distribution over common names followed by rare ones.

    The common names share `head_share` of the mass with weights 1/rank**head_zipf; the rare tail shares
    the rest with a flatter, offset Zipf law, so a few names are very common and most are rare.
    """
    head = 1.0 / np.arange(1, n_head + 1, dtype=np.float64) ** head_zipf
    tail = 1.0 / np.arange(TAIL_OFFSET, n_tail + TAIL_OFFSET, dtype=np.float64) ** TAIL_ZIPF
    weights = np.concatenate([head / head.sum() * head_share, tail / tail.sum() * (1.0 - head_share)])
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]


def rare_names(
    tradition: NameTradition, key: str, role: str, count: int, span: tuple[int, int], exclude: set[str]
) -> list[str]:
    """Plausible rare names made of the tradition's syllables, deterministic per tradition and role."""
    rng = np.random.default_rng(zlib.crc32(f"{key}:{role}".encode()))
    syllables = np.array(tradition.syllables, dtype=object)
    lo, hi = span
    out: list[str] = []
    seen = set(exclude)
    for _ in range(20):
        if len(out) >= count:
            break
        n = count * 2
        lengths = rng.integers(lo, hi + 1, size=n)
        picks = rng.integers(0, len(syllables), size=(n, hi))
        for length, row in zip(lengths.tolist(), picks, strict=True):
            name = "".join(syllables[row[:length]]).upper()
            if len(name) >= 2 and name not in seen:
                seen.add(name)
                out.append(name)
                if len(out) == count:
                    break
    return out


def spelling_variants(name: str) -> list[str]:
    """Alternative spellings of `name`: known variants first, then generic transliteration rules."""
    found: list[str] = []
    for alt in KNOWN_VARIANTS.get(name, ()):
        if alt != name and alt not in found:
            found.append(alt)
    for old, new in TRANSLITERATION_RULES:
        if len(found) >= MAX_VARIANTS:
            break
        if old in name:
            alt = name.replace(old, new, 1)
            if alt != name and alt not in found:
                found.append(alt)
    return found[:MAX_VARIANTS]


def icao_spelling(name: str) -> str:
    """The name as printed in a machine-readable zone (ICAO transliteration of diacritics)."""
    return unidecode("".join(ICAO_LATIN.get(ch, ch) for ch in name)).upper()


@cache
def build_pool() -> NamePool:
    """Build the name universe once per process (it does not depend on the run's seed)."""
    strings: list[str] = []
    index: dict[str, int] = {}

    def intern(name: str) -> int:
        if name not in index:
            index[name] = len(strings)
            strings.append(name)
        return index[name]

    keys = tuple(sorted(TRADITIONS))
    family: list[Sampler] = []
    male: list[Sampler] = []
    female: list[Sampler] = []
    for key in keys:
        tradition = TRADITIONS[key]
        for role, head, out in (
            ("family", tradition.family, family),
            ("male", tradition.male, male),
            ("female", tradition.female, female),
        ):
            is_family = role == "family"
            n_tail = RARE_FAMILY_NAMES if is_family else RARE_GIVEN_NAMES
            span = tradition.family_syllables if is_family else tradition.given_syllables
            tail = rare_names(tradition, key, role, n_tail, span, set(head))
            ids = np.array([intern(n) for n in (*head, *tail)], dtype=np.int32)
            share = tradition.family_head_share if is_family else GIVEN_HEAD_SHARE
            zipf = tradition.family_zipf if is_family else GIVEN_ZIPF
            out.append(Sampler(ids, zipf_cdf(len(head), share, zipf, len(tail))))

    n_base = len(strings)
    variant_lists = [[intern(v) for v in spelling_variants(strings[i])] for i in range(n_base)]
    stripped_names = [unidecode(s).upper() for s in list(strings)]
    stripped_ids = [intern(s) for s in stripped_names]
    icao_ids = [intern(icao_spelling(s)) for s in list(strings)[: len(stripped_ids)]]
    n = len(strings)
    variants = np.full((n, MAX_VARIANTS), -1, dtype=np.int32)
    n_variants = np.zeros(n, dtype=np.int8)
    for i, alts in enumerate(variant_lists):
        variants[i, : len(alts)] = alts
        n_variants[i] = len(alts)
    stripped = np.arange(n, dtype=np.int32)
    stripped[: len(stripped_ids)] = stripped_ids
    icao = np.arange(n, dtype=np.int32)
    icao[: len(icao_ids)] = icao_ids
    arr = np.array(strings, dtype=object)
    has_diacritics = np.array(
        [not s.replace(" ", "").replace("-", "").replace("'", "").isascii() for s in strings], dtype=bool
    )
    return NamePool(
        arr, keys, tuple(family), tuple(male), tuple(female), variants, n_variants, stripped, icao, has_diacritics
    )
