"""Name universe: common and rare names per tradition, skewed sampling and spelling-variant tables.

All names live in one pool of distinct strings and are handled as integer ids, so that per-record work
is array indexing; string work happens once per distinct name. Two name mixes exist: ``legacy`` (short
hand-written lists with Zipf-like shares) and ``realistic`` (published frequency tables of
`pipeline.synth.name_frequencies`, the rest from the same kind of syllable-built tail).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache

import numpy as np
from unidecode import unidecode

from pipeline.synth.name_cohorts import fashion_factors
from pipeline.synth.name_data import KNOWN_VARIANTS, TRADITIONS, NameTradition
from pipeline.synth.name_frequencies import ASIA, Frequencies, Table
from pipeline.synth.name_frequencies_other import OTHER

NAME_MIXES = ("legacy", "realistic")
DEFAULT_NAME_MIX = "legacy"
FREQUENCIES: dict[str, Frequencies] = {**ASIA, **OTHER}
RARE_FAMILY_NAMES = 3000
RARE_GIVEN_NAMES = 900
GIVEN_HEAD_SHARE = 0.6
GIVEN_ZIPF = 0.9
TAIL_ZIPF = 0.9
TAIL_OFFSET = 8
REALISTIC_TAIL_OFFSET = 0.25  # of the tail length: the realistic tail is flatter than its head
REALISTIC_RARE_GIVEN = 1500
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


def draw_by_cohort(
    plain: Sampler, cohorts: tuple[Sampler, ...], uniforms: np.ndarray, decades: np.ndarray | None
) -> np.ndarray:
    """Map uniform draws to name ids with the sampler of each person's birth decade.

    Falls back to `plain` when there are no cohort samplers (legacy mix) or no birth decades.
    """
    if not cohorts or decades is None:
        return plain.draw(uniforms)
    out = np.empty(len(uniforms), dtype=plain.ids.dtype)
    for d in np.unique(decades):
        at = decades == d
        out[at] = cohorts[d].draw(uniforms[at])
    return out


@dataclass(frozen=True)
class NameShape:
    """How the names of one tradition are put together (see `pipeline.synth.name_frequencies.Frequencies`).

    Attributes:
        compound_family: Probability of a second family name.
        second_given: Probability of a second given name.
        patronymic: Share of family names drawn from the male given names.
        family_female: Family-name sampler of women where it differs from men's.
    """

    compound_family: float
    second_given: float
    patronymic: float = 0.0
    family_female: Sampler | None = None


@dataclass(frozen=True)
class NamePool:
    """Every distinct name string, the samplers per tradition and the per-name variant tables.

    Attributes:
        strings: Name string per id.
        traditions: Tradition keys, in the order used by the sampler tuples.
        family: Family-name sampler per tradition.
        male: Male given-name sampler per tradition.
        female: Female given-name sampler per tradition.
        shapes: Name shape per tradition.
        variants: Up to `MAX_VARIANTS` alternative spellings per id (-1 where there are fewer).
        n_variants: Number of alternative spellings per id.
        stripped: Id of the name with diacritics removed.
        icao: Id of the name as written in a machine-readable zone.
        has_diacritics: Whether the name has letters outside A-Z.
        male_cohorts: Male given-name samplers per tradition and birth decade
            (`pipeline.synth.name_cohorts.COHORT_DECADES`), empty in the legacy mix.
        female_cohorts: The same for women.
    """

    strings: np.ndarray
    traditions: tuple[str, ...]
    family: tuple[Sampler, ...]
    male: tuple[Sampler, ...]
    female: tuple[Sampler, ...]
    shapes: tuple[NameShape, ...]
    variants: np.ndarray
    n_variants: np.ndarray
    stripped: np.ndarray
    icao: np.ndarray
    has_diacritics: np.ndarray
    male_cohorts: tuple[tuple[Sampler, ...], ...] = ()
    female_cohorts: tuple[tuple[Sampler, ...], ...] = ()

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


def table_cdf(head: Table, n_tail: int) -> np.ndarray:
    """Cumulative distribution over published names with their shares, then a flat tail of rare names.

    The tail takes what the head leaves (one minus the listed shares) with weights
    ``1 / (rank + offset) ** TAIL_ZIPF`` and an offset of a quarter of its length, so that no rare name is
    as common as the listed ones.
    """
    head_p = np.array([share for _, share in head], dtype=np.float64)
    rest = 1.0 - head_p.sum()
    if rest < 0:
        raise ValueError(f"listed shares add up to {head_p.sum():.3f}, more than 1")
    offset = max(1.0, REALISTIC_TAIL_OFFSET * n_tail)
    tail = 1.0 / (np.arange(n_tail, dtype=np.float64) + offset) ** TAIL_ZIPF
    cdf = np.cumsum(np.concatenate([head_p, tail / tail.sum() * rest]))
    return cdf / cdf[-1]


def rare_names(
    tradition: NameTradition,
    key: str,
    role: str,
    count: int,
    span: tuple[int, int],
    exclude: set[str],
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


Cohorts = list[tuple[Sampler, ...]]
Samplers = tuple[list[Sampler], list[Sampler], list[Sampler], list[NameShape], Cohorts, Cohorts]


def _legacy_samplers(keys: tuple[str, ...], intern: Callable[[str], int]) -> Samplers:
    """Hand-written lists of `pipeline.synth.name_data` with Zipf-like shares."""
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
    shapes = [NameShape(TRADITIONS[k].compound_family, TRADITIONS[k].second_given) for k in keys]
    return family, male, female, shapes, [], []


def _realistic_samplers(keys: tuple[str, ...], intern: Callable[[str], int]) -> Samplers:
    """Published frequency tables of `FREQUENCIES` followed by syllable-built rare names.

    Given names also get one sampler per birth decade: the listed shares re-weighted by
    `pipeline.synth.name_cohorts.fashion_factors`; the rare tail takes what they leave in that decade (more
    where few listed names were in fashion), and listed names never take more than half of its share.
    """

    def sampler(head: Table, tail: list[str], middle: Table = ()) -> Sampler:
        names = [name for name, _ in head]
        listed = set(names)
        names += [name for name in tail if name not in listed]
        if middle:  # every middle name with every main name, independently
            names = [f"{m} {n}" for m, _ in middle for n in names]
        return Sampler(np.array([intern(n) for n in names], dtype=np.int32), cdf(head, len(names), middle))

    def cdf(head: Table, n_names: int, middle: Table = ()) -> np.ndarray:
        """Cumulative distribution over the names of `sampler` (main names after the middle names)."""
        n_main = n_names // len(middle) if middle else n_names
        out = table_cdf(head, n_main - len(head))
        if middle:
            main_p = np.diff(out, prepend=0.0)
            middle_p = np.array([share for _, share in middle])
            out = np.cumsum(np.outer(middle_p / middle_p.sum(), main_p).ravel())
        return out / out[-1]

    def tail_count(tradition: NameTradition, span: tuple[int, int], wanted: int) -> int:
        """At most as many rare names as the syllables can make (short spans run out early)."""
        k = len(set(tradition.syllables))
        return min(wanted, sum(k**length for length in range(span[0], span[1] + 1)) // 2)

    family: list[Sampler] = []
    male: list[Sampler] = []
    female: list[Sampler] = []
    shapes: list[NameShape] = []
    male_cohorts: Cohorts = []
    female_cohorts: Cohorts = []
    for key in keys:
        freq = FREQUENCIES[key]
        tradition = replace(TRADITIONS[key], syllables=TRADITIONS[key].syllables + tuple(freq.tail_syllables.split()))
        listed = {name for table in (freq.family, freq.family_female) for name, _ in table}
        span = tradition.family_syllables
        rare_family = rare_names(tradition, key, "family", tail_count(tradition, span, RARE_FAMILY_NAMES), span, listed)
        family.append(sampler(freq.family, rare_family))
        for role, head, middle, out, cohorts in (
            ("male", freq.male, freq.male_middle, male, male_cohorts),
            ("female", freq.female, freq.female_middle, female, female_cohorts),
        ):
            span = (1, 1) if middle else tradition.given_syllables
            wanted = tail_count(tradition, span, REALISTIC_RARE_GIVEN)
            tail = rare_names(tradition, key, role, wanted, span, {name for name, _ in head})
            plain = sampler(head, tail, middle)
            out.append(plain)
            head_names = [name for name, _ in head]
            head_p = np.array([share for _, share in head])
            decades = head_p * fashion_factors(key, role, head_names, head_p)
            cap = (1.0 + head_p.sum()) / 2  # a decade's listed names take at most half of the tail's share
            decades *= np.minimum(1.0, cap / decades.sum(axis=1, keepdims=True))
            n_names = len(plain.ids)
            cohorts.append(
                tuple(
                    Sampler(plain.ids, cdf(tuple(zip(head_names, row.tolist(), strict=True)), n_names, middle))
                    for row in decades
                )
            )
        women = sampler(freq.family_female, rare_family) if freq.family_female else None
        shapes.append(NameShape(freq.compound_family, freq.second_given, freq.patronymic, women))
    return family, male, female, shapes, male_cohorts, female_cohorts


@cache
def build_pool(mix: str = DEFAULT_NAME_MIX) -> NamePool:
    """Build the name universe of name mix `mix` once per process (it does not depend on the run's seed).

    Args:
        mix: ``"legacy"`` or ``"realistic"`` (see the module docstring).

    Returns:
        The pool; the same object on every call with the same mix.
    """
    if mix not in NAME_MIXES:
        raise ValueError(f"unknown name mix {mix!r}; expected one of {', '.join(NAME_MIXES)}")
    strings: list[str] = []
    index: dict[str, int] = {}

    def intern(name: str) -> int:
        if name not in index:
            index[name] = len(strings)
            strings.append(name)
        return index[name]

    keys = tuple(sorted(TRADITIONS))
    build = _legacy_samplers if mix == "legacy" else _realistic_samplers
    family, male, female, shapes, male_cohorts, female_cohorts = build(keys, intern)

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
        arr,
        keys,
        tuple(family),
        tuple(male),
        tuple(female),
        tuple(shapes),
        variants,
        n_variants,
        stripped,
        icao,
        has_diacritics,
        tuple(male_cohorts),
        tuple(female_cohorts),
    )
