"""The 12/16-month rule for one person, in plain loops following migrbc's algorithm step by step.

The reference the vectorized :func:`pipeline.histories.rule.classify` is checked against (tests, property tests
and ``bench/bench_migration_rule.py``); production code never calls it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pipeline.histories.rule import (
    ANOMALY_AFTER_CUTOFF,
    ANOMALY_NONE,
    ANOMALY_SAME_DIRECTION,
    ANOMALY_UNSORTED,
    PENDING,
    RuleParams,
    date_to_day,
    day_to_date,
)


@dataclass(frozen=True)
class CrossingResult:
    """One crossing as classified by :func:`classify_person` (the reference function)."""

    day: dt.date
    arrival: bool
    resident_before: bool
    resident_after: bool
    long_term: int
    """1 (a long-term migration), 0 (not) or :data:`PENDING`."""
    resolved: dt.date
    """migrbc's ``date_finalised_LTM`` when final; when pending, when it becomes final if nothing else happens."""
    resident_before_resolved: dt.date
    resident_after_resolved: dt.date
    anomaly: int


@dataclass
class _Walk:
    migration: bool  # outcome if the crossing is migrating
    day: int  # its resolution day, before raising it to the day Rb was resolved
    marks: list[int]  # crossings (positions among the used ones) reached as quick returns


def _walk(days: list[int], durations: list[int], j: int, rb_day: int, params: RuleParams) -> _Walk:
    """Walk from used crossing ``j`` as if it were migrating: accumulate M and N until one decides."""
    tm, tn, ts = params.threshold, params.tn, params.ts
    m_days = n_days = 0
    marks: list[int] = []
    for k in range(j, len(days)):
        if (k - j) % 2 == 0:
            m_days += durations[k]
        else:
            n_days += durations[k]
        if n_days > tn:
            return _Walk(False, days[j] + tn + m_days, marks)
        if m_days >= tm:
            return _Walk(True, days[j] + tm + n_days, marks)
        if (k - j) % 2 == 0 and k + 1 < len(days) and days[k + 1] < rb_day + ts:
            marks.append(k + 1)
    raise AssertionError("unreachable: the last duration is the window, which always decides")


def classify_person(
    dates: list[dt.date],
    arrivals: list[bool],
    initial_resident: bool,
    cutoff: dt.date,
    params: RuleParams | None = None,
) -> list[CrossingResult]:
    """Classify one person's crossings; a plain reference for :func:`classify` (same results, far slower).

    Args:
        dates: crossing dates, in order (ties in within-day order); unsorted input is sorted (stably) and flagged.
        arrivals: True for an arrival, False for a departure.
        initial_resident: residence just before the first crossing.
        cutoff: the last day of complete data.
        params: the rule (default 12/16).

    Returns:
        One :class:`CrossingResult` per crossing, in input order. Never raises on odd sequences.

    Example (migrbc's scenario 3: a non-resident's 10-day visit):

    >>> d = dt.date
    >>> r = classify_person([d(2017, 1, 1), d(2017, 1, 11)], [True, False], False, d(2030, 1, 1))
    >>> [(x.long_term, (x.resolved - d(2017, 1, 1)).days) for x in r]
    [(0, 132), (0, 10)]
    """
    p = params or RuleParams()
    n = len(dates)
    if len(arrivals) != n:
        raise ValueError(f"dates and arrivals differ in length ({n} != {len(arrivals)})")
    cut = date_to_day(cutoff)
    day = [date_to_day(x) for x in dates]
    arr = [bool(x) for x in arrivals]
    anomaly = [ANOMALY_NONE] * n
    latest: int | None = None
    for k in range(n):
        if latest is not None and day[k] < latest:
            anomaly[k] = ANOMALY_UNSORTED
        latest = day[k] if latest is None else max(latest, day[k])
    order = sorted(range(n), key=lambda k: day[k])  # stable: ties keep the input (within-day) order

    # Which crossings are evidence: on or before the cut-off, and not repeating the previous direction.
    used: list[int] = []
    last_used_before: dict[int, int] = {}  # dropped crossing -> position in `used` of the previous used one
    for k in order:
        if day[k] > cut:
            anomaly[k] = ANOMALY_AFTER_CUTOFF
        elif used and arr[used[-1]] == arr[k]:
            anomaly[k] = ANOMALY_SAME_DIRECTION
        else:
            used.append(k)
            continue
        if used:
            last_used_before[k] = len(used) - 1

    days = [day[k] for k in used]
    dirs = [arr[k] for k in used]
    m = len(used)
    durations = [days[j + 1] - days[j] for j in range(m - 1)] + [p.window] * (m > 0)

    rb: list[bool] = []
    ra: list[bool] = []
    rb_day: list[int] = []
    ra_day: list[int] = []
    migrating: list[bool] = []
    quick: list[int | None] = [None] * m
    long_term: list[int] = []
    resolved: list[int] = []
    for j in range(m):
        before = initial_resident if j == 0 else ra[j - 1]
        before_day = days[j] if j == 0 else max(ra_day[j - 1], days[j])
        walk = _walk(days, durations, j, before_day, p)
        is_migrating = dirs[j] != before  # an arrival of a non-resident or a departure of a resident
        if is_migrating:
            for k in walk.marks:
                if quick[k] is None:
                    quick[k] = max(days[k], before_day)
            after = (not before) if walk.migration else before
            after_day = max(walk.day, before_day)
        else:
            after, after_day = before, max(days[j], before_day)
        migration = is_migrating and walk.migration
        rb.append(before)
        ra.append(after)
        rb_day.append(before_day)
        ra_day.append(after_day)
        migrating.append(is_migrating)

        mark = quick[j]
        if migration or mark is None:
            ltm_day = final_day = after_day
        else:
            # A quick-return mark stands once this crossing can no longer become a migration.
            settle = [after_day]
            if not walk.migration:
                settle.append(walk.day)
            if j > 0 and migrating[j - 1] and days[j] - days[j - 1] < p.threshold - p.tn:
                settle.append(rb_day[j - 1])
            ltm_day, final_day = mark, max(mark, min(settle))
        if final_day <= cut:
            long_term.append(int(migration))
            resolved.append(ltm_day)
        else:
            long_term.append(PENDING)
            resolved.append(final_day)

    out: list[CrossingResult | None] = [None] * n
    for j, k in enumerate(used):
        out[k] = CrossingResult(
            day=dates[k],
            arrival=arr[k],
            resident_before=rb[j],
            resident_after=ra[j],
            long_term=long_term[j],
            resolved=day_to_date(resolved[j]),
            resident_before_resolved=day_to_date(rb_day[j]),
            resident_after_resolved=day_to_date(ra_day[j]),
            anomaly=anomaly[k],
        )
    for k in range(n):
        if out[k] is not None:
            continue
        status = ra[last_used_before[k]] if k in last_used_before else bool(initial_resident)
        if anomaly[k] == ANOMALY_AFTER_CUTOFF:
            when = day[k]  # the first cut-off at which it becomes evidence
        elif k in last_used_before:
            when = max(day[k], ra_day[last_used_before[k]])
        else:
            when = day[k]
        out[k] = CrossingResult(
            day=dates[k],
            arrival=arr[k],
            resident_before=status,
            resident_after=status,
            long_term=0 if when <= cut else PENDING,
            resolved=day_to_date(when),
            resident_before_resolved=day_to_date(when),
            resident_after_resolved=day_to_date(when),
            anomaly=anomaly[k],
        )
    return [x for x in out if x is not None]
