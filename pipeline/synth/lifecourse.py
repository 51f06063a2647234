"""Life courses per kind of traveller: crossings, visa decisions and permits over the window.

Every function works on all persons of one kind at once. Trips are generated from well before the
window so that the state at its start is realistic (some residents are abroad on day one); events
outside the window are dropped later.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pipeline.synth.kinds import Kind
from pipeline.synth.nationalities import NATIONALITIES
from pipeline.synth.population import Population
from pipeline.synth.timeline import (
    NO_DAY,
    EventLog,
    person_gaps,
    trips,
    uniform_days,
    visas_for_visits,
)

YEAR = 365
LEAD_IN = 400
LEAD_OUT = 200
FOREVER = np.iinfo(np.int32).max // 2
VISA_REQUIRED = np.array([n.visa_required for n in NATIONALITIES])
TEMPORARY, PERMANENT, PROTECTION = 0, 1, 2
FAMILY, EDUCATION, WORK, OTHER = 0, 1, 2, 3

Window = tuple[int, int]


def _home_trips(
    log: EventLog,
    pid: np.ndarray,
    begin: np.ndarray,
    stop: np.ndarray,
    median_gap: float,
    median_days: float,
    rng: np.random.Generator,
    max_days: int = 120,
) -> None:
    gaps = person_gaps(len(pid), median_gap, 0.8, 20, 5000, rng)
    p, out, back = trips(pid, begin, stop, gaps, median_days, 0.8, max_days, rng)
    log.excursions(p, out, back, home_based=True)


def _visits(
    log: EventLog,
    pid: np.ndarray,
    begin: np.ndarray,
    stop: np.ndarray,
    median_gap: float,
    median_days: float,
    rng: np.random.Generator,
) -> None:
    gaps = person_gaps(len(pid), median_gap, 0.8, 30, 5000, rng)
    p, out, back = trips(pid, begin, stop, gaps, median_days, 0.7, 60, rng)
    log.excursions(p, out, back, home_based=False)


def _permits(
    log: EventLog,
    pid: np.ndarray,
    first_issue: np.ndarray,
    stop: np.ndarray,
    arrival: np.ndarray,
    reason: np.ndarray | int,
    first_years: int,
    renew_years: int,
    rng: np.random.Generator,
    ptype: int = TEMPORARY,
    permanent_after: int = 5 * YEAR,
) -> None:
    """Issue a first permit and renew it until the person leaves; permanent after long residence."""
    issue = first_issue.astype(np.int64)
    reason_a = np.broadcast_to(np.asarray(reason), pid.shape)
    years = np.full(len(pid), first_years)
    live = np.flatnonzero(issue < stop)
    for _ in range(12):
        if not len(live):
            break
        permanent = (issue[live] - arrival[live]) >= permanent_after
        until = np.where(permanent, NO_DAY, issue[live] + years[live] * YEAR - 1)
        kind = np.where(permanent, PERMANENT, ptype)
        log.permit(pid[live], issue[live].astype(np.int32), kind, reason_a[live], until.astype(np.int32))
        issue[live] = until - uniform_days(0, 45, rng, len(live))
        years[live] = renew_years
        live = live[~permanent & (issue[live] < stop[live])]


def _long_stay_visa(
    log: EventLog,
    pid: np.ndarray,
    arrival: np.ndarray,
    category: int,
    refusal: float,
    validity: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Long-stay visas before arrival for visa-required nationals; returns who may come."""
    comes = np.ones(len(pid), dtype=bool)
    need = np.flatnonzero(VISA_REQUIRED[_NATIONALITY[pid]])
    day = arrival[need] - uniform_days(20, 100, rng, len(need))
    refused = rng.random(len(need)) < refusal
    log.visa(pid[need], day, ~refused, day + 7, day + 7 + validity, category)
    comes[need[refused]] = False
    return comes


_NATIONALITY = np.empty(0, dtype=np.int16)


def citizen_resident(log: EventLog, pid: np.ndarray, w: Window, rng: np.random.Generator) -> None:
    """Residents travelling abroad; everyone makes at least one trip in the window."""
    s, e = w
    gaps = person_gaps(len(pid), 720, 0.9, 15, 5000, rng)
    p, out, back = trips(pid, np.full(len(pid), s - LEAD_IN), np.full(len(pid), e + LEAD_OUT), gaps, 8, 0.85, 120, rng)
    log.excursions(p, out, back, home_based=True)
    seen = np.zeros(len(_NATIONALITY), dtype=bool)
    seen[p[(out >= s) & (out <= e) | (back >= s) & (back <= e)]] = True
    idle = pid[~seen[pid]]
    day = uniform_days(s, e, rng, len(idle))
    length = np.clip(np.rint(rng.lognormal(np.log(8), 0.85, len(idle))), 1, 120).astype(np.int32)
    log.excursions(idle, day, day + length, home_based=True)


def citizen_emigrant(log: EventLog, pid: np.ndarray, w: Window, rng: np.random.Generator) -> None:
    """Citizens leaving for more than a year; some visit home, a few come back for good."""
    s, e = w
    leave = uniform_days(s, e, rng, len(pid))
    _home_trips(log, pid, np.full(len(pid), s - LEAD_IN), leave - 1, 330, 8, rng)
    log.cross(pid, leave, False)
    back = np.where(rng.random(len(pid)) < 0.15, leave + uniform_days(400, 700, rng, len(pid)), FOREVER)
    _visits(log, pid, leave + 120, np.minimum(back - 1, e + LEAD_OUT), 300, 14, rng)
    home = back <= e + LEAD_OUT
    log.cross(pid[home], back[home], True)


def citizen_returning(log: EventLog, pid: np.ndarray, w: Window, rng: np.random.Generator) -> None:
    """Citizens living abroad who visit and then come back to live."""
    s, e = w
    ret = uniform_days(s, e, rng, len(pid))
    _visits(log, pid, np.full(len(pid), s - LEAD_IN), ret - 1, 300, 14, rng)
    log.cross(pid, ret, True)
    _home_trips(log, pid, ret + 30, np.full(len(pid), e + LEAD_OUT), 330, 8, rng)


def visitor(log: EventLog, pid: np.ndarray, w: Window, rng: np.random.Generator) -> None:
    """Tourists and business visitors: short visits, a visa first if their nationality needs one."""
    s, e = w
    gaps = person_gaps(len(pid), 1100, 0.9, 30, 5000, rng)
    p, out, back = trips(pid, np.full(len(pid), s - 150), np.full(len(pid), e + 100), gaps, 9, 0.7, 89, rng)
    seen = np.zeros(len(_NATIONALITY), dtype=bool)
    seen[p[(out >= s) & (out <= e)]] = True
    idle = pid[~seen[pid]]
    day = uniform_days(s, e, rng, len(idle))
    length = np.clip(np.rint(rng.lognormal(np.log(9), 0.7, len(idle))), 1, 89).astype(np.int32)
    p, out, back = np.r_[p, idle], np.r_[out, day], np.r_[back, day + length]
    happens = visas_for_visits(log, p, out, VISA_REQUIRED[_NATIONALITY[p]], 0.18, rng)
    log.excursions(p[happens], out[happens], back[happens], home_based=False)


def student(log: EventLog, pid: np.ndarray, w: Window, rng: np.random.Generator) -> None:
    """Students: study visa, arrival at term start, yearly permits, trips home, departure at the end."""
    s, e = w
    n = len(pid)
    length = rng.choice([1, 2, 3, 4], size=n, p=[0.25, 0.25, 0.2, 0.3])
    first_year = np.datetime64(s, "D").astype("datetime64[Y]").astype(int) + 1970
    last_year = np.datetime64(e, "D").astype("datetime64[Y]").astype(int) + 1970
    year = rng.integers(first_year - length + 1, last_year + 1)
    month = np.where(rng.random(n) < 0.7, 8, 1)
    term = np.array(year - 1970, dtype="datetime64[Y]").astype("datetime64[M]") + month
    arrival = (term.astype("datetime64[D]").astype(np.int64) + rng.normal(-10, 12, n)).astype(np.int32)
    leave = arrival + length * YEAR + uniform_days(-40, 60, rng, n)
    comes = _long_stay_visa(log, pid, arrival, 1, 0.1, 120, rng)
    pid, arrival, leave = pid[comes], arrival[comes], leave[comes]
    log.cross(pid, arrival, True)
    log.cross(pid, leave, False)
    _permits(log, pid, arrival + uniform_days(5, 45, rng, len(pid)), leave, arrival, EDUCATION, 1, 1, rng)
    _home_trips(log, pid, arrival + 60, leave - 5, 220, 24, rng, max_days=80)


def _settler(
    log: EventLog,
    pid: np.ndarray,
    w: Window,
    rng: np.random.Generator,
    *,
    years_before: int,
    stay_share: float,
    stay_median: float,
    category: int,
    refusal: float,
    reason: int,
    first_years: int,
    renew_years: int,
    gap: float,
    before_share: float = 0.0,
) -> None:
    s, e = w
    n = len(pid)
    arrival = uniform_days(s - years_before * YEAR, e, rng, n)
    stays = rng.random(n) < stay_share
    leave = np.where(stays, FOREVER, arrival + np.maximum(rng.lognormal(np.log(stay_median), 0.5, n), 200))
    leave = leave.astype(np.int32)
    comes = _long_stay_visa(log, pid, arrival, category, refusal, 180, rng)
    pid, arrival, leave = pid[comes], arrival[comes], leave[comes]
    log.cross(pid, arrival, True)
    gone = leave < FOREVER
    log.cross(pid[gone], leave[gone], False)
    early = rng.random(len(pid)) < before_share
    first = np.where(early, arrival - uniform_days(10, 60, rng, len(pid)), arrival + uniform_days(5, 50, rng, len(pid)))
    _permits(log, pid, first, np.minimum(leave, e + 1), arrival, reason, first_years, renew_years, rng)
    _home_trips(log, pid, arrival + 60, np.minimum(leave - 5, e + LEAD_OUT), gap, 16, rng)


def worker(log: EventLog, pid: np.ndarray, w: Window, rng: np.random.Generator) -> None:
    """Labour migrants: work visa, work permits renewed every two years, trips home."""
    _settler(
        log,
        pid,
        w,
        rng,
        years_before=6,
        stay_share=0.35,
        stay_median=3 * YEAR,
        category=2,
        refusal=0.05,
        reason=WORK,
        first_years=1,
        renew_years=2,
        gap=200,
    )


def family(log: EventLog, pid: np.ndarray, w: Window, rng: np.random.Generator) -> None:
    """Family migrants: family permit (often granted before arrival), mostly stay for good."""
    _settler(
        log,
        pid,
        w,
        rng,
        years_before=6,
        stay_share=0.9,
        stay_median=4 * YEAR,
        category=3,
        refusal=0.08,
        reason=FAMILY,
        first_years=1,
        renew_years=2,
        gap=330,
        before_share=0.4,
    )


def protection(log: EventLog, pid: np.ndarray, w: Window, rng: np.random.Generator) -> None:
    """People in need of protection: arrival, protection permit after the asylum procedure, rarely leave."""
    s, e = w
    n = len(pid)
    arrival = uniform_days(s - 4 * YEAR, e, rng, n)
    log.cross(pid, arrival, True)
    granted = rng.random(n) < 0.75
    g = pid[granted]
    issue = arrival[granted] + uniform_days(60, 500, rng, len(g))
    _permits(log, g, issue, np.full(len(g), e + 1), arrival[granted], OTHER, 3, 3, rng, ptype=PROTECTION)
    _home_trips(log, g, issue + 30, np.full(len(g), e + LEAD_OUT), 1500, 14, rng)
    leaves = ~granted & (rng.random(n) < 0.4)
    log.cross(pid[leaves], arrival[leaves] + uniform_days(200, 700, rng, int(leaves.sum())), False)


def overstayer(log: EventLog, pid: np.ndarray, w: Window, rng: np.random.Generator) -> None:
    """Visitors whose short-stay visa expires while they stay on."""
    s, e = w
    n = len(pid)
    arrival = uniform_days(s - 2 * YEAR, e, rng, n)
    day = arrival - uniform_days(10, 60, rng, n)
    log.visa(pid, day, np.ones(n, bool), day + 5, day + 95, 0)
    log.cross(pid, arrival, True)
    leaves = rng.random(n) < 0.15
    log.cross(pid[leaves], arrival[leaves] + uniform_days(200, 700, rng, int(leaves.sum())), False)


def foreign_resident(
    log: EventLog, pid: np.ndarray, w: Window, rng: np.random.Generator, leave: np.ndarray | None = None
) -> None:
    """Settled foreign residents: permit renewals and trips; `leave` days for those who leave for good."""
    s, e = w
    n = len(pid)
    stop = np.full(n, e + LEAD_OUT) if leave is None else leave - 1
    _home_trips(log, pid, np.full(n, s - LEAD_IN), stop, 480, 14, rng)
    permanent = rng.random(n) < 0.3
    reason = rng.choice([FAMILY, WORK, OTHER, EDUCATION], size=n, p=[0.38, 0.42, 0.12, 0.08])
    t = pid[~permanent]
    first = uniform_days(s, s + YEAR - 1, rng, len(t))
    until = np.full(len(t), e + 1) if leave is None else np.minimum(leave[~permanent], e + 1)
    _permits(
        log, t, first, until, np.full(len(t), s - 2 * YEAR), reason[~permanent], 1, 1, rng, permanent_after=FOREVER
    )
    p = pid[permanent]
    renew = uniform_days(s - 10 * YEAR, s + 10 * YEAR, rng, len(p))
    due = renew >= s if leave is None else (renew >= s) & (renew < leave[permanent])
    log.permit(p[due], renew[due], PERMANENT, reason[permanent][due], np.full(int(due.sum()), NO_DAY))


def foreign_leaver(log: EventLog, pid: np.ndarray, w: Window, rng: np.random.Generator) -> None:
    """Foreign residents who leave for good during the window and sometimes visit afterwards."""
    s, e = w
    leave = uniform_days(s, e, rng, len(pid))
    foreign_resident(log, pid, w, rng, leave=leave)
    log.cross(pid, leave, False)
    _visits(log, pid, leave + 120, np.full(len(pid), e + LEAD_OUT), 500, 10, rng)


SIMULATORS: dict[Kind, Callable[[EventLog, np.ndarray, Window, np.random.Generator], None]] = {
    Kind.CITIZEN_RESIDENT: citizen_resident,
    Kind.CITIZEN_EMIGRANT: citizen_emigrant,
    Kind.CITIZEN_RETURNING: citizen_returning,
    Kind.VISITOR: visitor,
    Kind.STUDENT: student,
    Kind.WORKER: worker,
    Kind.FAMILY: family,
    Kind.PROTECTION: protection,
    Kind.OVERSTAYER: overstayer,
    Kind.FOREIGN_RESIDENT: foreign_resident,
    Kind.FOREIGN_LEAVER: foreign_leaver,
}


def simulate(
    population: Population, window: Window, rng: np.random.Generator, progress: Callable[[int], None] | None = None
) -> EventLog:
    """Life-course events of everyone, kind by kind (`progress` is called once per kind)."""
    global _NATIONALITY
    _NATIONALITY = population.nationality
    log = EventLog()
    for kind, simulate_kind in SIMULATORS.items():
        pid = np.flatnonzero(population.kind == kind).astype(np.int32)
        if len(pid):
            simulate_kind(log, pid, window, rng)
        if progress is not None:
            progress(1)
    return log
