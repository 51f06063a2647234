"""Entry point: simulate a population, record its events with errors and write the landing zone."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from pipeline.ingest.contract import load_contract
from pipeline.synth.concentration import Concentration, name_concentration
from pipeline.synth.kinds import KIND_AGES, REALISTIC_KIND_AGES, RESIDENT_AT_START, Kind
from pipeline.synth.lifecourse import SIMULATORS, simulate
from pipeline.synth.names import DEFAULT_NAME_MIX, NAME_MIXES, build_pool
from pipeline.synth.nationalities import CODES
from pipeline.synth.population import Population, build_population
from pipeline.synth.rates import ErrorRates, SynthError
from pipeline.synth.records import SEX_CODES, border_records, permit_records, visa_records

SOURCES = ("border", "visa", "permit")
PREFIX = {"border": "B", "visa": "V", "permit": "P"}
COLUMNS = {source: tuple(contract.names) for source, contract in load_contract().items()}  # contract order
_WRITE = pacsv.WriteOptions(quoting_style="needed")
_STEPS = 4 + len(SIMULATORS) + 3 * 2  # population, kinds, records and files per source, truth, persons


@dataclass
class SynthSummary:
    """What a generator run produced.

    Attributes:
        persons: Simulated persons.
        records: Records written per source.
        files: Files written (daily source files plus truth.csv and persons.csv).
        seconds: Wall-clock duration of the run.
        out_dir: Landing-zone root the files were written to.
        seed: Seed of the run.
        start: First day of the window.
        end: Last day of the window.
        kinds: Persons per kind.
        name_mix: Name mix the names were drawn from.
        concentration: Look-alike groups and top-name coverage of the true person attributes.
    """

    persons: int
    records: dict[str, int]
    files: int
    seconds: float
    out_dir: Path
    seed: int
    start: date
    end: date
    kinds: dict[str, int] = field(default_factory=dict)
    name_mix: str = DEFAULT_NAME_MIX
    concentration: Concentration = field(default_factory=lambda: Concentration(0, 0, 0, 0))

    @property
    def total_records(self) -> int:
        """Records over all sources."""
        return sum(self.records.values())

    def as_dict(self) -> dict[str, object]:
        """JSON-ready summary."""
        return {
            "persons": self.persons,
            "records": dict(self.records),
            "total_records": self.total_records,
            "files": self.files,
            "seconds": round(self.seconds, 3),
            "out_dir": str(self.out_dir),
            "seed": self.seed,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "kinds": dict(self.kinds),
            "name_mix": self.name_mix,
            "concentration": self.concentration.as_dict(),
        }


def _write_source(
    out_dir: Path, source: str, cols: dict[str, np.ndarray], day: np.ndarray, pid: np.ndarray
) -> tuple[int, pa.Table]:
    """Write one CSV per day of `source`; returns the file count and the (record_id, person) table."""
    n = len(day)
    ids = np.char.add(PREFIX[source], np.char.zfill(np.arange(1, n + 1).astype(str), 9))
    cols["record_id"] = ids.astype(object)
    table = pa.table({name: pa.array(cols[name], type=pa.string()) for name in COLUMNS[source]})
    days, starts = np.unique(day, return_index=True)
    bounds = np.r_[starts, n]
    labels = np.datetime_as_string(days.astype("datetime64[D]"), unit="D")
    for i, label in enumerate(labels):
        folder = out_dir / source / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        chunk = table.slice(int(bounds[i]), int(bounds[i + 1] - bounds[i]))
        pacsv.write_csv(chunk, folder / f"{source}-{label}.csv", write_options=_WRITE)
    truth = pa.table(
        {
            "source": pa.array(np.full(n, source, dtype=object), type=pa.string()),
            "record_id": table.column("record_id"),
            "person": pa.array(pid.astype(np.int64)),
        }
    )
    return len(labels), truth


def _person_ids(index: np.ndarray) -> np.ndarray:
    return np.char.add("PER", np.char.zfill((index + 1).astype(str), 8)).astype(object)


def _initial_status(people: Population, crossings: dict[str, np.ndarray], start_day: int) -> np.ndarray:
    """RESIDENT for kinds resident at the start and for migrants who arrived a year or more before it."""
    resident = np.isin(people.kind, [int(k) for k in RESIDENT_AT_START])
    early = crossings["arrival"] & (crossings["day"] <= start_day - 365)
    arrived = np.zeros(len(people), dtype=bool)
    arrived[crossings["pid"][early]] = True
    settled = np.isin(
        people.kind, [int(Kind.STUDENT), int(Kind.WORKER), int(Kind.FAMILY), int(Kind.PROTECTION), int(Kind.OVERSTAYER)]
    )
    return np.where(resident | (settled & arrived), "RESIDENT", "NON_RESIDENT").astype(object)


def _full_names(people: Population, pool_strings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True family names and given names of every person, parts joined by a space."""
    family = pool_strings[people.family1].copy()
    has = people.family2 >= 0
    family[has] = family[has] + " " + pool_strings[people.family2[has]]
    given = pool_strings[people.given1].copy()
    has = people.given2 >= 0
    given[has] = given[has] + " " + pool_strings[people.given2[has]]
    return family, given


def population_concentration(
    people: Population, names: tuple[np.ndarray, np.ndarray], traditions: tuple[str, ...]
) -> Concentration:
    """Look-alike groups and top-name coverage of the simulated persons (see `name_concentration`)."""
    years = people.dob.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    frame = pd.DataFrame(
        {
            "family_name": names[0],
            "given_names": names[1],
            "birth_year": years,
            "sex": people.sex,
            "nationality": people.nationality,
            "tradition": np.array(traditions, dtype=object)[people.tradition],
        }
    )
    return name_concentration(frame)


def _persons_table(people: Population, names: tuple[np.ndarray, np.ndarray], status: np.ndarray) -> pa.Table:
    n = len(people)
    family, given = names
    codes = np.array(CODES, dtype=object)
    second = codes[np.maximum(people.second_nationality, 0)]
    second[people.second_nationality < 0] = None
    twin = _person_ids(np.maximum(people.twin_of, 0))
    twin[people.twin_of < 0] = None
    kinds = np.array([k.label for k in Kind], dtype=object)
    cols = {
        "person_id": _person_ids(np.arange(n)),
        "kind": kinds[people.kind],
        "nationality": codes[people.nationality],
        "second_nationality": second,
        "sex": SEX_CODES[people.sex],
        "date_of_birth": np.datetime_as_string(people.dob.astype("datetime64[D]"), unit="D").astype(object),
        "family_name": family,
        "given_names": given,
        "initial_status": status,
        "twin_of": twin,
    }
    return pa.table({k: pa.array(v, type=pa.string()) for k, v in cols.items()})


def generate(
    out_dir: Path,
    *,
    persons: int,
    start: date,
    end: date,
    seed: int,
    rates: ErrorRates | None = None,
    name_mix: str = DEFAULT_NAME_MIX,
    progress: Callable[[int, int], None] | None = None,
) -> SynthSummary:
    """Generate a synthetic landing zone of border, visa and permit records with known truth.

    Args:
        out_dir: Landing-zone root; ``border/``, ``visa/``, ``permit/``, ``truth.csv`` and
            ``persons.csv`` are written below it.
        persons: Number of simulated persons.
        start: First day of the records.
        end: Last day of the records (inclusive).
        seed: Random seed; the same arguments always give byte-identical files.
        rates: Recording-error rates; realistic defaults when omitted.
        name_mix: ``"legacy"`` (short hand-written name lists, the default for now) or ``"realistic"``
            (published name-frequency tables; see ``docs/synthetic-data.md``).
        progress: Called as ``progress(done, total)`` while the run advances.

    Returns:
        Counts of what was written and how long it took.

    Examples:
        >>> summary = generate(Path("/tmp/landing"), persons=1000, start=date(2023, 1, 1),
        ...                    end=date(2024, 12, 31), seed=7)  # doctest: +SKIP
        >>> summary.records["border"]  # doctest: +SKIP
        3391
    """
    # One linear recipe (population, life courses, records, errors, files, truth), each step a call: longer than
    # most functions because its docstring documents the generator's whole contract.
    if persons < 1:
        raise SynthError("persons must be at least 1")
    if end < start:
        raise SynthError("end must not be before start")
    if name_mix not in NAME_MIXES:
        raise SynthError(f"unknown name mix {name_mix!r}; expected one of {', '.join(NAME_MIXES)}")
    began = time.perf_counter()
    rates = rates or ErrorRates()
    done = 0

    def step(count: int = 1) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(min(done, _STEPS), _STEPS)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)]
    s_day = int(np.datetime64(start, "D").astype(np.int64))
    e_day = int(np.datetime64(end, "D").astype(np.int64))
    pool = build_pool(name_mix)
    ages = REALISTIC_KIND_AGES if name_mix == "realistic" else KIND_AGES
    people = build_population(persons, s_day, e_day, pool, streams[0], ages)
    step()
    log = simulate(people, (s_day, e_day), streams[1], progress=step)
    crossings, visas, permits = log.arrays()

    def in_window(events: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        keep = (events["day"] >= s_day) & (events["day"] <= e_day)
        return {k: v[keep] for k, v in events.items()}

    builders = (
        ("border", border_records, crossings),
        ("visa", visa_records, visas),
        ("permit", permit_records, permits),
    )
    files, truths, counts = 0, [], {}
    for (source, build, events), rng in zip(builders, streams[2:], strict=True):
        cols, day, pid = build(in_window(events), people, pool, rates, rng)
        step()
        written, truth = _write_source(out_dir, source, cols, day, pid)
        files += written
        truths.append(truth)
        counts[source] = len(day)
        step()
    truth = pa.concat_tables(truths)
    person_ids = _person_ids(truth.column("person").to_numpy())
    truth = truth.drop_columns("person").append_column("person_id", pa.array(person_ids, type=pa.string()))
    pacsv.write_csv(truth, out_dir / "truth.csv", write_options=_WRITE)
    step()
    status = _initial_status(people, crossings, s_day)
    names = _full_names(people, pool.strings)
    pacsv.write_csv(_persons_table(people, names, status), out_dir / "persons.csv", write_options=_WRITE)
    concentration = population_concentration(people, names, pool.traditions)
    step()
    kinds = {k.label: int(np.count_nonzero(people.kind == k)) for k in Kind}
    if progress is not None:
        progress(_STEPS, _STEPS)
    seconds = time.perf_counter() - began
    return SynthSummary(persons, counts, files + 2, seconds, out_dir, seed, start, end, kinds, name_mix, concentration)
