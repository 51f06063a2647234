"""Building blocks of life courses: an event log and vectorized trip and visa generators."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

VISA_CATEGORIES = ("SHORT_STAY", "STUDY", "WORK", "FAMILY")
PERMIT_TYPES = ("TEMPORARY", "PERMANENT", "PROTECTION")
PERMIT_REASONS = ("family", "education", "remunerated activities", "other")
NO_DAY = -1


def _cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.empty(0, dtype=dtype)


@dataclass
class EventLog:
    """Collects crossings, visa decisions and permits as arrays, appended per kind.

    Days are days since 1970-01-01; ``NO_DAY`` marks an absent validity date.
    """

    crossings: dict[str, list[np.ndarray]] = field(default_factory=lambda: {"pid": [], "day": [], "arrival": []})
    visas: dict[str, list[np.ndarray]] = field(
        default_factory=lambda: {
            "pid": [],
            "day": [],
            "granted": [],
            "valid_from": [],
            "valid_until": [],
            "category": [],
        }
    )
    permits: dict[str, list[np.ndarray]] = field(
        default_factory=lambda: {"pid": [], "day": [], "ptype": [], "reason": [], "valid_from": [], "valid_until": []}
    )

    def cross(self, pid: np.ndarray, day: np.ndarray, arrival: bool | np.ndarray) -> None:
        """Record crossings of persons `pid` on `day` (arrivals if `arrival` else departures)."""
        self.crossings["pid"].append(np.asarray(pid))
        self.crossings["day"].append(np.asarray(day))
        self.crossings["arrival"].append(np.broadcast_to(np.asarray(arrival, dtype=bool), np.shape(pid)))

    def excursions(self, pid: np.ndarray, out: np.ndarray, back: np.ndarray, home_based: bool) -> None:
        """Record round trips: abroad and back for residents, in and out again for visitors."""
        self.cross(pid, out, not home_based)
        self.cross(pid, back, home_based)

    def visa(
        self,
        pid: np.ndarray,
        day: np.ndarray,
        granted: np.ndarray,
        valid_from: np.ndarray,
        valid_until: np.ndarray,
        category: int,
    ) -> None:
        """Record visa decisions; validity dates of refusals are dropped."""
        self.visas["pid"].append(pid)
        self.visas["day"].append(day)
        self.visas["granted"].append(granted)
        self.visas["valid_from"].append(np.where(granted, valid_from, NO_DAY))
        self.visas["valid_until"].append(np.where(granted, valid_until, NO_DAY))
        self.visas["category"].append(np.full(len(pid), category))

    def permit(
        self,
        pid: np.ndarray,
        day: np.ndarray,
        ptype: np.ndarray | int,
        reason: np.ndarray | int,
        valid_until: np.ndarray,
    ) -> None:
        """Record permits issued on `day`, valid from that day until `valid_until` (NO_DAY: open)."""
        n = len(pid)
        self.permits["pid"].append(pid)
        self.permits["day"].append(day)
        self.permits["ptype"].append(np.broadcast_to(ptype, n))
        self.permits["reason"].append(np.broadcast_to(reason, n))
        self.permits["valid_from"].append(day)
        self.permits["valid_until"].append(valid_until)

    def arrays(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Concatenated crossings, visas and permits."""
        crossings = {k: _cat(v, bool if k == "arrival" else np.int32) for k, v in self.crossings.items()}
        visas = {k: _cat(v, bool if k == "granted" else np.int32) for k, v in self.visas.items()}
        permits = {k: _cat(v, np.int32) for k, v in self.permits.items()}
        return crossings, visas, permits


def uniform_days(
    lo: np.ndarray | int, hi: np.ndarray | int, rng: np.random.Generator, size: int | None = None
) -> np.ndarray:
    """Integer days drawn uniformly from [lo, hi]."""
    lo_a = np.asarray(lo, dtype=np.float64)
    hi_a = np.asarray(hi, dtype=np.float64)
    n = size if size is not None else np.broadcast(lo_a, hi_a).size
    return np.floor(lo_a + rng.random(n) * (hi_a - lo_a + 1)).astype(np.int32)


def trips(
    pid: np.ndarray,
    begin: np.ndarray,
    stop: np.ndarray,
    mean_gap: np.ndarray | float,
    median_days: float,
    sigma: float,
    max_days: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Round trips of each person between `begin` and `stop`, as an alternating renewal process.

    Time between trips is exponential with the person's `mean_gap`; trip length is log-normal. The
    process ends at the first trip that would end after `stop`.

    Returns:
        Person ids, first-crossing days and return days of every trip, in time order per person.
    """
    n = len(pid)
    gap = np.broadcast_to(np.asarray(mean_gap, dtype=np.float64), (n,))
    cursor = np.asarray(begin, dtype=np.float64).copy()
    stop_f = np.broadcast_to(np.asarray(stop, dtype=np.float64), (n,))
    active = np.flatnonzero(cursor < stop_f)
    out_pid, out_day, back_day = [], [], []
    while len(active):
        start = cursor[active] + rng.exponential(gap[active])
        length = np.minimum(np.maximum(np.rint(rng.lognormal(np.log(median_days), sigma, len(active))), 1), max_days)
        end = start + length
        ok = end < stop_f[active]
        keep = active[ok]
        out_pid.append(pid[keep])
        out_day.append(np.floor(start[ok]).astype(np.int32))
        back_day.append(np.floor(end[ok]).astype(np.int32))
        cursor[keep] = end[ok] + 1
        active = keep
    return _cat(out_pid, np.int32), _cat(out_day, np.int32), _cat(back_day, np.int32)


def person_gaps(n: int, median: float, sigma: float, lo: float, hi: float, rng: np.random.Generator) -> np.ndarray:
    """Per-person mean days between trips: log-normal, so a few people travel very often."""
    return np.clip(rng.lognormal(np.log(median), sigma, n), lo, hi)


def visas_for_visits(
    log: EventLog, pid: np.ndarray, out: np.ndarray, needs_visa: np.ndarray, refusal: float, rng: np.random.Generator
) -> np.ndarray:
    """Short-stay visa decisions ahead of visits; returns a mask of the visits that take place.

    Visits are processed in time order per person, so a multiple-entry visa still valid at the next
    visit covers it. A refused applicant reapplies successfully half of the time; otherwise the visit
    does not happen.
    """
    order = np.lexsort((out, pid))
    pid, out, needs = pid[order], out[order], needs_visa[order]
    first = np.r_[True, pid[1:] != pid[:-1]]
    run_start = np.maximum.accumulate(np.where(first, np.arange(len(pid)), 0))
    rank = np.arange(len(pid)) - run_start
    happens = np.ones(len(pid), dtype=bool)
    persons, inverse = np.unique(pid, return_inverse=True)
    until = np.full(len(persons), np.iinfo(np.int32).min, dtype=np.int64)
    validity_choices = np.array([90, 180, 365, 1825])
    validity_p = np.array([0.84, 0.08, 0.06, 0.02])
    for r in range(int(rank.max()) + 1 if len(rank) else 0):
        rows = np.flatnonzero((rank == r) & needs)
        rows = rows[until[inverse[rows]] < out[rows]]
        if not len(rows):
            continue
        day = out[rows] - uniform_days(7, 60, rng, len(rows))
        refused = rng.random(len(rows)) < refusal
        retry = refused & (rng.random(len(rows)) < 0.5)
        validity = validity_choices[rng.choice(4, size=len(rows), p=validity_p)]
        start = np.minimum(out[rows], day + uniform_days(1, 10, rng, len(rows)))
        log.visa(pid[rows], day, ~refused, start, start + validity - 1, 0)
        if retry.any():
            rday = np.minimum(day[retry] + uniform_days(7, 20, rng, int(retry.sum())), out[rows][retry])
            rstart = out[rows][retry]
            log.visa(pid[rows][retry], rday, np.ones(int(retry.sum()), bool), rstart, rstart + 89, 0)
        granted_until = np.where(refused & ~retry, np.iinfo(np.int32).min, start + validity - 1)
        granted_until = np.where(retry, out[rows] + 89, granted_until)
        until[inverse[rows]] = granted_until
        happens[rows[refused & ~retry]] = False
    result = np.empty_like(happens)
    result[order] = happens
    return result
