"""The simulated population: one entry per person, held as parallel numpy arrays."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from pipeline.synth.kinds import KIND_AGES, KIND_MALE_SHARE, KIND_WEIGHTS, Kind
from pipeline.synth.name_cohorts import decade_index
from pipeline.synth.names import NamePool, draw_by_cohort
from pipeline.synth.nationalities import HOST, HOST_TRADITIONS, INDEX, KIND_NATIONALITIES, NATIONALITIES

TWIN_SHARE = 0.006
DUAL_SHARE_CITIZENS = 0.04
DUAL_SHARE_FOREIGN = 0.03
PASSPORT_YEARS_ADULT = 10
PASSPORT_YEARS_CHILD = 5
SEX_X_SHARE = 0.0005
LETTERS = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)
ALNUM = np.concatenate([LETTERS, DIGITS])


@dataclass
class Population:
    """Parallel arrays describing every simulated person (index = person number).

    Dates are days since 1970-01-01. Name fields are ids into the `NamePool`; -1 means absent.
    Passport ``renew_day`` is the day the second passport number replaces the first (a large value when
    the passport is not renewed within the window).
    """

    kind: np.ndarray
    nationality: np.ndarray
    second_nationality: np.ndarray
    tradition: np.ndarray
    sex: np.ndarray
    dob: np.ndarray
    family1: np.ndarray
    family2: np.ndarray
    given1: np.ndarray
    given2: np.ndarray
    twin_of: np.ndarray
    passport1: np.ndarray
    passport2: np.ndarray
    renew_day: np.ndarray
    second_passport: np.ndarray

    def __len__(self) -> int:
        return len(self.kind)


def passport_numbers(pattern: str, count: int, rng: np.random.Generator) -> np.ndarray:
    """Random document numbers shaped like `pattern` (``A`` letter, ``9`` digit, ``X`` either)."""
    cols = []
    for ch in pattern:
        alphabet = {"A": LETTERS, "9": DIGITS, "X": ALNUM}.get(ch)
        if alphabet is None:
            cols.append(np.full(count, ord(ch), dtype=np.uint8))
        else:
            cols.append(alphabet[rng.integers(0, len(alphabet), size=count)])
    raw = np.ascontiguousarray(np.stack(cols, axis=1)).view(f"S{len(pattern)}").ravel()
    return raw.astype(str).astype(object)


def _numbers_for(nat: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.empty(len(nat), dtype=object)
    for code_index in np.unique(nat):
        sel = np.flatnonzero(nat == code_index)
        out[sel] = passport_numbers(NATIONALITIES[code_index].passport_pattern, len(sel), rng)
    return out


def _choose(weights: dict, count: int, rng: np.random.Generator) -> np.ndarray:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=np.float64)
    return np.array(keys, dtype=object)[rng.choice(len(keys), size=count, p=p / p.sum())]


def _at(values: np.ndarray | None, index: np.ndarray) -> np.ndarray | None:
    return None if values is None else values[index]


def draw_names(
    pool: NamePool,
    tradition: np.ndarray,
    sex: np.ndarray,
    rng: np.random.Generator,
    birth_year: np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    """Name ids (family1, family2, given1, given2; -1 where absent) of persons of the given traditions and sexes.

    Args:
        pool: Name pool of the run's name mix.
        tradition: Index into ``pool.traditions`` per person.
        sex: 0 male, 1 female, 2 unspecified (drawn like men) per person.
        rng: Random stream.
        birth_year: Year of birth per person; where the pool has given-name samplers per birth decade
            (realistic mix), given names follow the fashion of the person's decade. ``None`` draws from
            the shares over all ages. The random draws consumed are the same either way.
    """
    n = len(tradition)
    decades = None if birth_year is None else decade_index(birth_year)
    family1 = np.full(n, -1, np.int32)
    family2 = np.full(n, -1, np.int32)
    given1 = np.full(n, -1, np.int32)
    given2 = np.full(n, -1, np.int32)
    for t, shape in enumerate(pool.shapes):
        sel = np.flatnonzero(tradition == t)
        if not len(sel):
            continue
        family1[sel] = pool.family[t].draw(rng.random(len(sel)))
        if shape.family_female is not None:
            women = sel[sex[sel] == 1]
            family1[women] = shape.family_female.draw(rng.random(len(women)))
        if shape.patronymic:
            chain = sel[rng.random(len(sel)) < shape.patronymic]
            family1[chain] = pool.male[t].draw(rng.random(len(chain)))
        compound = sel[rng.random(len(sel)) < shape.compound_family]
        family2[compound] = pool.family[t].draw(rng.random(len(compound)))
        same = family2[compound] == family1[compound]
        family2[compound[same]] = -1
        female = sex[sel] == 1
        male_cohorts = pool.male_cohorts[t] if pool.male_cohorts else ()
        female_cohorts = pool.female_cohorts[t] if pool.female_cohorts else ()
        for mask, sampler, cohorts in ((~female, pool.male[t], male_cohorts), (female, pool.female[t], female_cohorts)):
            who = sel[mask]
            given1[who] = draw_by_cohort(sampler, cohorts, rng.random(len(who)), _at(decades, who))
            second = who[rng.random(len(who)) < shape.second_given]
            given2[second] = draw_by_cohort(sampler, cohorts, rng.random(len(second)), _at(decades, second))
            given2[second[given2[second] == given1[second]]] = -1
    return family1, family2, given1, given2


def build_population(
    persons: int,
    start_day: int,
    end_day: int,
    pool: NamePool,
    rng: np.random.Generator,
    ages: Mapping[Kind, tuple[int, int]] = KIND_AGES,
) -> Population:
    """Draw kinds, nationalities, sexes, dates of birth, names, twins and passports for `persons` people.

    `ages` gives the age range per kind at the start of the window (`KIND_AGES`, or
    `pipeline.synth.kinds.REALISTIC_KIND_AGES` with the realistic name mix).
    """
    # One draw after another, each depending on the ones before (kind -> nationality -> age -> names -> twins ->
    # passports) with a single random stream: split up, the pieces would pass the same dozen arrays around.
    kinds = np.array([int(k) for k in KIND_WEIGHTS])
    kind_p = np.array(list(KIND_WEIGHTS.values()))
    kind = kinds[rng.choice(len(kinds), size=persons, p=kind_p / kind_p.sum())].astype(np.int8)

    nationality = np.full(persons, INDEX[HOST], dtype=np.int16)
    for k, weights in KIND_NATIONALITIES.items():
        sel = np.flatnonzero(kind == k)
        codes = _choose(weights, len(sel), rng)
        nationality[sel] = [INDEX[c] for c in codes]

    trad_index = {key: i for i, key in enumerate(pool.traditions)}
    nat_trad = np.array([trad_index[n.tradition] for n in NATIONALITIES], dtype=np.int16)
    tradition = nat_trad[nationality]
    citizens = np.flatnonzero(nationality == INDEX[HOST])
    tradition[citizens] = [trad_index[t] for t in _choose(HOST_TRADITIONS, len(citizens), rng)]

    male_share = np.array([KIND_MALE_SHARE[Kind(k)] for k in range(len(Kind))])[kind]
    sex = np.where(rng.random(persons) < male_share, 0, 1).astype(np.int8)
    sex[rng.random(persons) < SEX_X_SHARE] = 2

    age_lo = np.array([ages[Kind(k)][0] for k in range(len(Kind))])[kind]
    age_hi = np.array([ages[Kind(k)][1] for k in range(len(Kind))])[kind]
    age_days = (age_lo + (age_hi - age_lo) * rng.beta(1.6, 2.2, size=persons)) * 365.25
    dob = (start_day - age_days).astype(np.int32)
    unknown_share = np.array([n.unknown_dob_share for n in NATIONALITIES])[nationality]
    unknown = rng.random(persons) < unknown_share
    years = dob[unknown].astype("datetime64[D]").astype("datetime64[Y]")
    dob[unknown] = years.astype("datetime64[D]").astype(np.int32)

    birth_year = dob.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    family1, family2, given1, given2 = draw_names(pool, tradition, sex, rng, birth_year)

    twin_of = np.full(persons, -1, dtype=np.int32)
    twins = np.flatnonzero(rng.random(persons) < TWIN_SHARE)
    twins = twins[twins > 0]
    twins = twins[~np.isin(twins - 1, twins)]
    sib = twins - 1
    twin_of[twins] = sib
    for arr in (kind, nationality, tradition, dob, birth_year, family1, family2):
        arr[twins] = arr[sib]
    same_sex = rng.random(len(twins)) < 0.5
    sex[twins[same_sex]] = sex[sib[same_sex]]
    redo = twins
    for _attempt in range(8):  # twins get given names of their own
        names = draw_names(pool, tradition[redo], sex[redo], rng, birth_year[redo])
        given1[redo], given2[redo] = names[2], names[3]
        redo = twins[given1[twins] == given1[twin_of[twins]]]
        if not len(redo):
            break

    second_nationality = np.full(persons, -1, dtype=np.int16)
    dual_share = np.where(nationality == INDEX[HOST], DUAL_SHARE_CITIZENS, DUAL_SHARE_FOREIGN)
    dual = np.flatnonzero(rng.random(persons) < dual_share)
    other = rng.integers(1, len(NATIONALITIES), size=len(dual)).astype(np.int16)
    other = np.where(other == nationality[dual], (other % (len(NATIONALITIES) - 1)) + 1, other)
    second_nationality[dual] = other

    passport1 = _numbers_for(nationality, rng)
    passport2 = _numbers_for(nationality, rng)
    second_passport = np.full(persons, "", dtype=object)
    second_passport[dual] = _numbers_for(second_nationality[dual], rng)
    years_valid = np.where((start_day - dob) < 18 * 365, PASSPORT_YEARS_CHILD, PASSPORT_YEARS_ADULT)
    renew_day = (start_day + rng.random(persons) * years_valid * 365.25).astype(np.int32)
    renew_day[renew_day > end_day] = np.iinfo(np.int32).max

    return Population(
        kind,
        nationality,
        second_nationality,
        tradition,
        sex,
        dob,
        family1,
        family2,
        given1,
        given2,
        twin_of,
        passport1,
        passport2,
        renew_day,
        second_passport,
    )
