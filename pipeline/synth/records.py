"""Turn life-course events into landing-zone records of each source, with recording errors."""

from __future__ import annotations

import numpy as np

from pipeline.synth import errors as err
from pipeline.synth.names import NamePool
from pipeline.synth.nationalities import CODES, NATIONALITIES, PORTS, REGIONS
from pipeline.synth.population import Population
from pipeline.synth.rates import ErrorRates
from pipeline.synth.timeline import NO_DAY, PERMIT_REASONS, PERMIT_TYPES, VISA_CATEGORIES

SEX_CODES = np.array(["M", "F", "X"], dtype=object)
COUNTRY_CODES = np.array(CODES, dtype=object)
# Share of crossings by hour of day (flights and ferries cluster in the morning and evening).
HOUR_WEIGHTS = np.array([1, 0.5, 0.3, 0.3, 0.5, 1.5, 4, 6, 7, 6, 5, 5, 5, 5, 5, 5, 6, 7, 7, 6, 5, 4, 3, 2])
COUNTRY_OF_BIRTH_DIFFERS = 0.06


def _date_strings(days: np.ndarray) -> np.ndarray:
    out = np.datetime_as_string(days.astype("datetime64[D]"), unit="D").astype(object)
    out[days == NO_DAY] = None
    return out


def _choose(table: dict[str, float], n: int, rng: np.random.Generator) -> np.ndarray:
    p = np.array(list(table.values()))
    return np.array(list(table), dtype=object)[rng.choice(len(p), size=n, p=p / p.sum())]


def identity_columns(
    pid: np.ndarray,
    day: np.ndarray,
    people: Population,
    pool: NamePool,
    rates: ErrorRates,
    machine_read: bool,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Names, date of birth, sex and nationality of each record as recorded, errors included."""
    n = len(pid)
    rate = rates.machine_read if machine_read else rates.keyed
    f1, f2 = people.family1[pid], people.family2[pid]
    g1, g2 = people.given1[pid], people.given2[pid]
    f2 = np.where(err.hits(rng, n, rate("compound_shortened"), f2 >= 0), -1, f2)
    g2 = np.where(err.hits(rng, n, rate("given_dropped"), g2 >= 0), -1, g2)
    translit = err.hits(rng, n, rate("transliteration"))
    on_family = rng.random(n) < 0.5
    f1 = err.transliterate(f1, translit & on_family, pool, rng)
    g1 = err.transliterate(g1, translit & ~on_family, pool, rng)
    if machine_read:
        table = np.where(rng.random(n) < rates.diacritics_kept_border, -1, 1)
        mapped = [np.where((x >= 0) & (table > 0), pool.icao[np.maximum(x, 0)], x) for x in (f1, f2, g1, g2)]
    else:
        strip = rng.random(n) < rates.diacritics_stripped
        mapped = [np.where((x >= 0) & strip, pool.stripped[np.maximum(x, 0)], x) for x in (f1, f2, g1, g2)]
    f1, f2, g1, g2 = mapped
    family = pool.strings[f1].copy()
    has = f2 >= 0
    family[has] = family[has] + " " + pool.strings[f2[has]]
    given = pool.strings[g1].copy()
    has = g2 >= 0
    given[has] = given[has] + " " + pool.strings[g2[has]]

    swap = err.hits(rng, n, rate("name_swap"))
    family[swap], given[swap] = given[swap], family[swap]
    err.apply_each(given, err.hits(rng, n, rate("given_initials")), err.initials, rng)
    typo = err.hits(rng, n, rate("typo"))
    on_family = rng.random(n) < 0.5
    err.apply_each(family, typo & on_family, err.typo, rng)
    err.apply_each(given, typo & ~on_family, err.typo, rng)
    case = err.hits(rng, n, rate("case_changed"))
    err.apply_each(family, case, err.change_case, rng)
    err.apply_each(given, case, err.change_case, rng)
    spaces = err.hits(rng, n, rate("extra_spaces"))
    on_family = rng.random(n) < 0.5
    err.apply_each(family, spaces & on_family, err.add_spaces, rng)
    err.apply_each(given, spaces & ~on_family, err.add_spaces, rng)

    dob = people.dob[pid].astype(np.int64)
    dob = err.swap_day_month(dob, err.hits(rng, n, rate("dob_day_month_swap"), err.swappable(dob)))
    dob = np.where(err.hits(rng, n, rate("dob_defaulted")), err.january_first(dob), dob)
    dob_text = _date_strings(dob)
    dob_text[err.hits(rng, n, rate("dob_missing"))] = None
    sex = SEX_CODES[people.sex[pid]]
    sex[err.hits(rng, n, rate("sex_missing"))] = None
    return {"family_name": family, "given_names": given, "date_of_birth": dob_text, "sex": sex}


def documents(
    pid: np.ndarray,
    day: np.ndarray,
    people: Population,
    rates: ErrorRates,
    missing: float,
    machine_read: bool,
    second_ok: bool,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Document number, issuing country and nationality shown on each record."""
    n = len(pid)
    number = np.where(day < people.renew_day[pid], people.passport1[pid], people.passport2[pid])
    nat = people.nationality[pid].astype(np.int64)
    if second_ok:
        second = err.hits(rng, n, rates.second_passport, people.second_nationality[pid] >= 0)
        number[second] = people.second_passport[pid[second]]
        nat[second] = people.second_nationality[pid[second]]
    typo_rate = rates.machine_read("doc_typo") if machine_read else rates.doc_typo
    err.apply_each(number, err.hits(rng, n, typo_rate), err.doc_typo, rng)
    number[err.hits(rng, n, missing)] = None
    country = COUNTRY_CODES[nat]
    nationality = country.copy()
    nat_rate = rates.machine_read("nationality_missing") if machine_read else rates.nationality_missing
    nationality[err.hits(rng, n, nat_rate)] = None
    return {"doc_number": number, "doc_issuing_country": country, "nationality": nationality}


def border_records(
    crossings: dict[str, np.ndarray], people: Population, pool: NamePool, rates: ErrorRates, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Border table columns, the crossing day and the person of every record, in recording order."""
    keep = ~err.hits(rng, len(crossings["pid"]), rates.missed_crossing)
    pid, day, arrival = crossings["pid"][keep], crossings["day"][keep], crossings["arrival"][keep]
    n = len(pid)
    hour = rng.choice(24, size=n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    seconds = day.astype(np.int64) * 86400 + hour * 3600 + rng.integers(0, 60, n) * 60
    order = np.lexsort((pid, seconds))
    pid, day, arrival, seconds = pid[order], day[order], arrival[order], seconds[order]
    cols = {
        "direction": np.where(arrival, "ARR", "DEP").astype(object),
        "crossing_time": np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s").astype(object),
        "port": _choose(PORTS, n, rng),
        "doc_type": np.where(rng.random(n) < 0.004, "PD", "P").astype(object),
    }
    cols |= documents(pid, day, people, rates, rates.doc_missing_border, True, True, rng)
    cols |= identity_columns(pid, day, people, pool, rates, True, rng)
    return cols, day, pid


def visa_records(
    visas: dict[str, np.ndarray], people: Population, pool: NamePool, rates: ErrorRates, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Visa table columns, decision day and person of every record, in recording order."""
    order = np.lexsort((visas["pid"], visas["day"]))
    v = {k: a[order] for k, a in visas.items()}
    pid, day, n = v["pid"], v["day"], len(order)
    number = (np.arange(n, dtype=np.int64) * 387420489 + int(rng.integers(10**9))) % 10**9
    cols = {
        "visa_number": np.char.add("UV", np.char.zfill(number.astype(str), 9)).astype(object),
        "visa_category": np.array(VISA_CATEGORIES, dtype=object)[v["category"]],
        "decision": np.where(v["granted"], "GRANTED", "REFUSED").astype(object),
        "decision_date": _date_strings(day),
        "valid_from": _date_strings(v["valid_from"]),
        "valid_until": _date_strings(v["valid_until"]),
    }
    cols |= documents(pid, day, people, rates, rates.doc_missing_visa, False, False, rng)
    cols |= identity_columns(pid, day, people, pool, rates, False, rng)
    return cols, day, pid


def permit_records(
    permits: dict[str, np.ndarray], people: Population, pool: NamePool, rates: ErrorRates, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Permit table columns, issue day and person of every record, in recording order."""
    order = np.lexsort((permits["pid"], permits["day"]))
    p = {k: a[order] for k, a in permits.items()}
    pid, day, n = p["pid"], p["day"], len(order)
    number = (np.arange(n, dtype=np.int64) * 387420489 + int(rng.integers(10**9))) % 10**9
    birth = people.nationality[pid].astype(np.int64)
    spread = (pid.astype(np.int64) * 2654435761) % 2**32  # a fixed country of birth per person
    differs = spread < COUNTRY_OF_BIRTH_DIFFERS * 2**32
    birth[differs] = spread[differs] % len(NATIONALITIES)
    cols = {
        "permit_number": np.char.add("RP", np.char.zfill(number.astype(str), 9)).astype(object),
        "permit_type": np.array(PERMIT_TYPES, dtype=object)[p["ptype"]],
        "reason": np.array(PERMIT_REASONS, dtype=object)[p["reason"]],
        "issue_date": _date_strings(day),
        "valid_from": _date_strings(p["valid_from"]),
        "valid_until": _date_strings(p["valid_until"]),
        "country_of_birth": COUNTRY_CODES[birth],
        "region": _choose(REGIONS, n, rng),
    }
    cols |= documents(pid, day, people, rates, rates.doc_missing_permit, False, False, rng)
    cols |= identity_columns(pid, day, people, pool, rates, False, rng)
    return cols, day, pid
