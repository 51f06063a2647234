"""The outcome-based 12/16-month rule: which border crossings are long-term migrations.

A border crossing is a *long-term migration* when it changes the traveller's statistical residence:

* a non-resident who arrives and then spends, in total (not necessarily in one stay), 12 of the next 16
  months in the country becomes a resident (a migrant arrival);
* a resident who departs and spends 12 of the next 16 months abroad becomes a non-resident (a migrant
  departure).

This module reproduces the results of Stats NZ's reference implementation, the R package ``migrbc`` (MIT),
crossing by crossing: its residence before and after, its long-term-migration flag and its three resolution
dates. It is our own code; the behaviour was taken from migrbc's C++ core (``src/rcpp_algorithm.cpp``, functions
``rcpp_resolve`` and ``run_rbc_process_core``), its vignette (``doc/migrbc.Rmd``) and its test suite
(``tests/testthat/test-RBC_algorithm_*.R``), whose vectors are all in ``tests/pipeline/test_migration_rule.py``.

The rule in plain words
-----------------------
Parameters (:class:`RuleParams`): the window ``Tw`` = 487 days (16 months), the threshold ``Tm`` = 365 days
(12 months), ``Tn = Tw - Tm`` = 122 days (the time on the *other* side that proves the crossing was not a
migration) and ``Ts = 2 * Tn`` = 244 days (the quick-return horizon).

1. A person's crossings are taken in date order. The *duration* of a crossing is the number of days to the
   person's next crossing (0 when it is on the same day); the last crossing's duration is ``Tw``, i.e. it is
   assumed that no further crossing occurs.
2. The residence before (``Rb``) the first crossing is the person's initial status; afterwards it is the
   residence after the previous crossing.
3. A crossing is *migrating* if it can change the residence: a resident departing or a non-resident arriving.
   A non-migrating crossing (a resident coming home, a visitor leaving) is not a migration, keeps ``Rb`` and is
   resolved on ``max(its day, the day Rb was resolved)``.
4. For a migrating crossing ``j``, walk through ``j, j+1, j+2, ...`` adding each duration alternately to ``M``
   (days on the migrating side: crossings ``k`` with ``k - j`` even) and ``N`` (days back on the other side).
   After each addition: if ``N > Tn`` (strictly: migrbc's C++ uses ``>``, its pseudo code says ``>=``) the
   crossing is *not* a migration, residence stays, resolved on ``day(j) + Tn + M``; if ``M >= Tm`` it *is* a
   migration, residence flips, resolved on ``day(j) + Tm + N``. Both resolution dates are raised to the day
   ``Rb`` was resolved if that is later. The last crossing's duration ``Tw`` guarantees a decision.
5. Quick returns: while walking, after each addition to ``M`` that decides nothing, the next crossing (a
   return, ``k - j`` odd) is marked "not a long-term migration" at once if its day is before
   ``resolved_day(Rb of j) + Ts`` (migrbc measures ``Ts`` from the day ``Rb`` was resolved, not from the
   crossing's day), with resolution date ``max(its day, resolved_day(Rb of j))``. The first mark wins. A marked
   crossing that later turns out to be a migration itself is overwritten (flag 1, its own date): migrbc does
   this, and it can happen with the 12/16 rule when the outbound stay lasted exactly ``Tm - Tn`` = 243 days.

Examples (migrbc's published vectors; a non-resident; days after 2017-01-01; residents departing mirror them):

==========================================================  ==================================================
crossings                                                   result
==========================================================  ==================================================
arrives 01-01 and never leaves                              migrant, resolved +365
arrives 01-01, departs 01-11                                not a migrant, resolved +132; departure +10
arrives 01-01, departs 09-08                                not a migrant, resolved +372 (both)
arrives and departs on 01-01                                not a migrant, resolved +122; departure +0
arr 01-01, dep 01-11, arr 03-12, dep 04-01                  no migrations, resolved +152, +10, +212, +90
arr 01-01, dep 01-11, arr 03-12 (stays)                     the first arrival is a migration (+425)
==========================================================  ==================================================

How migrbc's other behaviours are handled
-----------------------------------------
* **Initial residence.** migrbc takes it from an optional table (status plus a ``date_finalised``); without
  one it assumes the opposite of the first crossing's direction (first departure: resident; first arrival:
  non-resident). Here the caller passes it (``initial_resident``; only the value at a person's first crossing
  is used), decided upstream (citizens and permanent-permit holders are residents). Pass
  ``initial_resident = not arrival`` at the first crossing to get migrbc's default. migrbc also has a quirk
  when ``date_finalised`` is later than the first crossing (the initial status then replaces the residence
  before the crossing whose ``Ra`` was resolved exactly on that date; its IRS test scenarios 2 and 4); our
  initial status is always the status just before the first crossing, so that case does not arise.
* **Non-alternating sequences.** migrbc raises ``IdenticalDirectionException`` (two arrivals or two
  departures in a row) or ``SequenceException`` (dates going back) and moves the *whole person* to its error
  table, with residence = the initial status, flag 0 and all dates = the crossing dates. We never raise and
  keep the person: a crossing in the same direction as the previous one is *dropped from the evidence*
  (anomaly :data:`ANOMALY_SAME_DIRECTION`; for a pair of arrivals the second one is dropped, which treats the
  person as present between them). Person-level rejection would make a bad record tonight rewrite results
  published as final long ago. For alternating sequences the results equal migrbc's.
* **Same-day crossings** are ordinary crossings with duration 0 (migrbc scenario 6). Their order within a day
  is the caller's (``within-day order`` in the sort); a wrong within-day order shows up as a repeated
  direction.
* **The data cut-off.** migrbc has none: it resolves the last crossing as if no further crossing occurs and
  leaves it to the user to see that a resolution date lies in the future (for a person with one crossing it
  instead compares with the wall-clock date and, if fewer than ``Tm`` days have passed, reports "not a
  migration" with the future date ``day + Tm``). Our rule is the one below; with enough data (cut-off at least
  ``Tw`` days after a person's last crossing) every result is final and equals migrbc's.

Pending (provisional) results and the cut-off
---------------------------------------------
``cutoff`` is the last day for which crossings are complete. Every crossing is first classified exactly as
migrbc would with the data up to the cut-off, i.e. **as if no further crossing occurs** (the figure statistical
offices publish as provisional). These values do not depend on the cut-off itself: for a person with no new
crossings a later cut-off changes nothing but which results are final (and, if the input holds crossings dated
after the old cut-off, which of them now count as evidence).

A result is *final* when no crossing after the cut-off can change it, which holds exactly when its resolution
date is on or before the cut-off: a decision made from known durations is reached on or before the day of the
crossing that ended them; a decision that needs the open duration after the person's last known crossing
lands after the cut-off unless even the shortest possible open duration (up to the cut-off) reaches the
threshold. Quick-return marks need one extra condition (because a mark can be overwritten, see above): the
mark stands once the marked crossing can no longer become a migration, i.e. once its own residence after is
final, or its own walk is a final "not a migration", or the crossing before it is a final migrating crossing
and less than ``Tm - Tn`` days elapsed between them (then the marked crossing cannot reach ``Tm`` before
``Tn``).

Outputs (:class:`RuleResult`, arrays aligned with the input):

* ``resident_before`` / ``resident_after``: the provisional values (as if no further crossing occurs); final
  when ``resident_before_day`` / ``resident_after_day`` (migrbc's ``date_finalised_res_before`` /
  ``date_finalised_res_after``) are on or before the cut-off. A pending migrating crossing therefore has
  ``resident_after`` flipped if staying would make it a migration, and later crossings build on that;
  ``resident_before != resident_after`` is the provisional long-term flag.
* ``long_term``: 1 or 0 when final, :data:`PENDING` (-1) otherwise.
* ``resolved_day``: when final, migrbc's ``date_finalised_LTM`` (on or before the cut-off). When pending, the
  day on which the provisional result becomes final if no further crossing of the person is recorded (always
  after the cut-off); a new crossing can move it either way and change the outcome. For a crossing after the
  cut-off it is the crossing's own day: the first cut-off at which it becomes evidence.
* ``anomaly``: one code per crossing (:data:`ANOMALY_NAMES`).

So a nightly run that recomputes only the persons with new crossings plus the persons with a pending
crossing whose ``resolved_day`` is on or before the new cut-off gets the same results as a full run: without
new crossings a person's results change only when the cut-off reaches one of those days (a pending result
becomes final, or a crossing recorded after the old cut-off becomes evidence), and classifying persons
together or one by one gives the same results.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from pipeline.errors import ConfigError

EPOCH = dt.date(1970, 1, 1)

PENDING = -1
"""``long_term`` value of a crossing whose result is not final at the cut-off."""

ANOMALY_NONE = 0
ANOMALY_SAME_DIRECTION = 1
"""Same direction as the person's previous crossing (two arrivals or two departures in a row, also on the same
day): dropped from the evidence; residence before and after = the residence after the previous crossing, not a
long-term migration (final once that residence is)."""
ANOMALY_UNSORTED = 2
"""The input was not in order for this crossing: a crossing of the same person earlier in the input has a later
day, or the crossing starts a second, separate block of rows of a person. The classifier sorts internally (by
person, day and input order), so the crossing is still used; the code only records the broken contract."""
ANOMALY_AFTER_CUTOFF = 3
"""The crossing's day is after the cut-off: not used as evidence (the data after the cut-off are incomplete);
always pending, with ``resolved_day`` = its own day (when it will count); residence before and after = the
residence after the previous crossing."""
ANOMALY_NAMES: dict[int, str] = {
    ANOMALY_NONE: "none",
    ANOMALY_SAME_DIRECTION: "repeated_direction",
    ANOMALY_UNSORTED: "unsorted_input",
    ANOMALY_AFTER_CUTOFF: "after_cutoff",
}
"""Names of the anomaly codes. One code per crossing; when several apply, after-cut-off wins over repeated
direction, which wins over unsorted input."""

_FAR = np.int64(1) << 62
_T = TypeVar("_T", bound=np.generic)


class RuleParamsError(ConfigError, ValueError):
    """The rule's window and threshold are not two integers with ``0 < threshold < window``."""


@dataclass(frozen=True)
class RuleParams:
    """The rule's two parameters in days; ``tn`` and ``ts`` are derived.

    ``RuleParams()`` is the 12/16-month rule (window 487, threshold 365: migrbc's defaults; 16 months =
    16 x 365.25 / 12 = 487 days). :meth:`nine_twelve` is the 9/12-month rule (window 365, threshold 274).

    Raises:
        RuleParamsError: unless ``0 < threshold < window`` (both integers); a :class:`ValueError` too.
    """

    window: int = 487
    threshold: int = 365

    def __post_init__(self) -> None:
        for name in ("window", "threshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise RuleParamsError(f"rule parameter {name} must be an integer number of days, got {value!r}")
        if not 0 < self.threshold < self.window:
            raise RuleParamsError(
                f"rule parameters need 0 < threshold < window (days), got window={self.window}, "
                f"threshold={self.threshold}"
            )

    @property
    def tn(self) -> int:
        """Days on the other side that prove a crossing was not a migration: ``window - threshold``."""
        return int(self.window) - int(self.threshold)

    @property
    def ts(self) -> int:
        """Quick-return horizon: a return within ``2 * tn`` days is at once not a long-term migration."""
        return 2 * self.tn

    @classmethod
    def twelve_sixteen(cls) -> RuleParams:
        """The 12/16-month rule of Stats NZ and the ABS: 365 of 487 days (the default)."""
        return cls(window=487, threshold=365)

    @classmethod
    def nine_twelve(cls) -> RuleParams:
        """The 9/12-month rule: 274 of 365 days.

        migrbc's vignette names it ("the threshold duration is 9 months and the test duration is 12 months")
        without giving days; we convert months to days as migrbc does for 12/16 (365 and 487 days, i.e. a month
        of 365.25 / 12 days, rounded): 12 months = 365 days, 9 months = 273.9, rounded to 274 days. Then
        ``tn`` = 91 days (3 months) and ``ts`` = 182 days.
        """
        return cls(window=365, threshold=274)


@dataclass(frozen=True)
class RuleResult:
    """Results of :func:`classify`, numpy arrays aligned with the input crossings (see the module docstring)."""

    resident_before: npt.NDArray[np.bool_]
    resident_after: npt.NDArray[np.bool_]
    long_term: npt.NDArray[np.int8]
    """1 = long-term migration, 0 = not, -1 = pending."""
    resolved_day: npt.NDArray[np.int32]
    """Days since 1970-01-01: migrbc's ``date_finalised_LTM`` if final, else when it becomes final if no further
    crossing of the person is recorded (after the cut-off)."""
    resident_before_day: npt.NDArray[np.int32]
    """Days since 1970-01-01 when ``resident_before`` is (or, if after the cut-off, will be) final."""
    resident_after_day: npt.NDArray[np.int32]
    """Days since 1970-01-01 when ``resident_after`` is (or, if after the cut-off, will be) final."""
    anomaly: npt.NDArray[np.int8]
    extra: dict[str, int] = field(default_factory=dict, compare=False)
    """Counts for logs: crossings, persons, pending, and per anomaly name."""

    def __len__(self) -> int:
        return int(self.long_term.shape[0])

    @property
    def pending(self) -> npt.NDArray[np.bool_]:
        """True where ``long_term`` is not final."""
        return np.asarray(self.long_term < 0)

    @property
    def provisional_long_term(self) -> npt.NDArray[np.bool_]:
        """The long-term flag as if no further crossing occurs (final or not): residence changed."""
        return np.asarray(self.resident_before != self.resident_after)


def date_to_day(value: dt.date) -> int:
    """Days since 1970-01-01."""
    return (value - EPOCH).days


def day_to_date(value: int) -> dt.date:
    """The date ``value`` days after 1970-01-01."""
    return EPOCH + dt.timedelta(days=int(value))


# ---------------------------------------------------------------------------------------------------------
# Vectorised implementation: many persons at once, numpy only.
# ---------------------------------------------------------------------------------------------------------


def _segment_cummax(values: npt.NDArray[np.int64], segment: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Running maximum of ``values`` restarting at each new ``segment`` (segments non-decreasing, contiguous)."""
    if values.size == 0:
        return values.copy()
    low = values.min()
    span = values.max() - low + 1
    key = segment * span + (values - low)
    return np.maximum.accumulate(key) - segment * span + low


def _starts(group: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """True at the first row of each run of equal ``group`` values."""
    first = np.ones(group.shape[0], dtype=bool)
    first[1:] = group[1:] != group[:-1]
    return first


def _empty_result() -> RuleResult:
    return RuleResult(
        resident_before=np.zeros(0, dtype=bool),
        resident_after=np.zeros(0, dtype=bool),
        long_term=np.zeros(0, dtype=np.int8),
        resolved_day=np.zeros(0, dtype=np.int32),
        resident_before_day=np.zeros(0, dtype=np.int32),
        resident_after_day=np.zeros(0, dtype=np.int32),
        anomaly=np.zeros(0, dtype=np.int8),
        extra={"crossings": 0, "persons": 0, "pending": 0},
    )


@dataclass
class _Sorted:
    """The crossings in internal order (grouped by person, days ascending, ties in input order)."""

    order: npt.NDArray[np.int64] | None  # internal -> input position; None when the input was already in order
    group: npt.NDArray[np.int64]  # 0, 1, 2, ... per person
    day: npt.NDArray[np.int64]
    arrival: npt.NDArray[np.bool_]
    initial: npt.NDArray[np.bool_]  # the person's initial residence, repeated on each crossing
    anomaly: npt.NDArray[np.int8]  # ANOMALY_UNSORTED where the input broke the order, else 0


def _sort(
    person: npt.NDArray[np.int64],
    day: npt.NDArray[np.int64],
    arrival: npt.NDArray[np.bool_],
    initial: npt.NDArray[np.bool_],
) -> _Sorted:
    """Bring the crossings into internal order; sort only if the input is not already in it."""
    n = person.shape[0]
    anomaly = np.zeros(n, dtype=np.int8)
    block_first = _starts(person)
    block = np.cumsum(block_first) - 1
    block_start = np.flatnonzero(block_first)
    back = ~block_first[1:] & (day[1:] < day[:-1])
    split = np.unique(person[block_start]).shape[0] != block_start.shape[0]
    if not back.any() and not split:
        return _Sorted(None, block, day, arrival, initial[block_start][block], anomaly)
    positions = np.arange(n, dtype=np.int64)
    _, first_seen, inverse = np.unique(person, return_index=True, return_inverse=True)
    person_key = first_seen[inverse]  # input position of the person's first crossing
    by_person = np.lexsort((positions, person_key))  # each person's crossings, in input order
    key_p = person_key[by_person]
    day_p = day[by_person]
    seen = _segment_cummax(day_p, np.cumsum(_starts(key_p)) - 1)
    late = np.zeros(n, dtype=bool)
    late[1:] = (key_p[1:] == key_p[:-1]) & (day_p[1:] < seen[:-1])
    earlier = np.zeros(n, dtype=bool)
    earlier[by_person] = late
    second_block = person_key[block_start][block] != block_start[block]
    anomaly[earlier | second_block] = ANOMALY_UNSORTED
    order = np.lexsort((positions, day, person_key))
    return _Sorted(
        order=order,
        group=np.cumsum(_starts(person_key[order])) - 1,
        day=day[order],
        arrival=arrival[order],
        initial=initial[person_key][order],
        anomaly=anomaly[order],
    )


@dataclass
class _Resolved:
    """Results for the crossings used as evidence (aligned with them)."""

    rb: npt.NDArray[np.bool_]
    ra: npt.NDArray[np.bool_]
    long_term: npt.NDArray[np.int8]
    resolved: npt.NDArray[np.int64]
    rb_day: npt.NDArray[np.int64]
    ra_day: npt.NDArray[np.int64]


def _resolve(
    ug: npt.NDArray[np.int64],
    ud: npt.NDArray[np.int64],
    ua: npt.NDArray[np.bool_],
    uinit: npt.NDArray[np.bool_],
    cut: int,
    p: RuleParams,
) -> _Resolved:
    """Apply the rule to alternating crossings (person ``ug``, day ``ud``, arrival ``ua``), at least one.

    Longer than most functions on purpose: its four sections (walks, residence, quick returns, finality) are one
    pass of array algebra over a dozen shared arrays; split, each piece would take and return most of them.
    """
    tw, tm, tn, ts = int(p.window), int(p.threshold), p.tn, p.ts
    m = ug.shape[0]
    idx = np.arange(m, dtype=np.int64)
    first = _starts(ug)
    last = np.ones(m, dtype=bool)
    last[:-1] = ug[:-1] != ug[1:]
    duration = np.empty(m, dtype=np.int64)
    duration[:-1] = ud[1:] - ud[:-1]
    duration[last] = tw

    # Each crossing's walk, as if it were migrating: where M reaches Tm or N exceeds Tn. Durations at even
    # and odd positions are summed separately; crossing j's M side is the one of j's parity. The sums never
    # decrease, so the deciding crossing is found by binary search; the last crossing of a person adds Tw to
    # one side, so the decision always falls within the person.
    even = (idx & 1) == 0
    side_a = np.where(even, duration, 0)
    side_b = duration - side_a
    cum_a = np.cumsum(side_a)
    cum_b = np.cumsum(side_b)
    before_a = cum_a - side_a
    before_b = cum_b - side_b
    m_before = np.where(even, before_a, before_b)
    n_before = np.where(even, before_b, before_a)
    k_m = np.empty(m, dtype=np.int64)
    k_n = np.empty(m, dtype=np.int64)
    k_m[even] = np.searchsorted(cum_a, before_a[even] + tm, side="left")
    k_m[~even] = np.searchsorted(cum_b, before_b[~even] + tm, side="left")
    k_n[even] = np.searchsorted(cum_b, before_b[even] + tn, side="right")
    k_n[~even] = np.searchsorted(cum_a, before_a[~even] + tn, side="right")
    walk_migration = k_m < k_n
    decided = np.minimum(k_m, k_n)
    m_at = np.where(even, cum_a[decided], cum_b[decided]) - m_before
    n_at = np.where(even, cum_b[decided], cum_a[decided]) - n_before
    walk_day = np.where(walk_migration, ud + tm + n_at, ud + tn + m_at)

    # Residence. A crossing whose walk says "migration" leaves the person on its arrival side whatever the
    # residence before (if migrating it flips to it; if not, the person already was on it); otherwise the
    # residence is unchanged. So Rb = the side of the person's last earlier such crossing, else the initial one.
    start = np.maximum.accumulate(np.where(first, idx, 0))
    last_flip = np.maximum.accumulate(np.where(walk_migration, idx, -1))
    prev_flip = np.concatenate(([-1], last_flip[:-1]))
    rb = np.where(prev_flip >= start, ua[np.maximum(prev_flip, 0)], uinit)
    migrating = ua != rb
    ra = np.where(walk_migration, ua, rb)
    own_day = np.where(migrating, walk_day, ud)
    ra_day = _segment_cummax(own_day, ug)  # max(own day, Rb resolved), and Rb resolved = previous Ra resolved
    rb_day = ud.copy()
    rb_day[1:] = np.where(first[1:], ud[1:], np.maximum(ud[1:], ra_day[:-1]))

    # Quick returns: migrating crossing j marks j+1, j+3, ... up to its deciding crossing while their day is
    # before rb_day(j) + Ts. The first (lowest j) mark wins.
    low = int(ud.min())
    span = int(max(ud.max(), rb_day.max())) - low + ts + 2
    key = ug * span + (ud - low)
    mig = np.flatnonzero(migrating)
    horizon = np.searchsorted(key, ug[mig] * span + (rb_day[mig] + ts - low), side="left") - 1
    upper = np.minimum(decided[mig], horizon)
    count = np.where(upper > mig, (upper - mig + 1) // 2, 0)
    marker = np.repeat(mig, count)
    offset = np.arange(marker.shape[0], dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    first_marker = np.full(m, m, dtype=np.int64)
    np.minimum.at(first_marker, marker + 1 + 2 * offset, marker)
    marked = first_marker < m
    quick_day = np.where(marked, np.maximum(ud, rb_day[np.minimum(first_marker, m - 1)]), _FAR)

    # Long-term flag, resolution day, finality. A mark stands once the crossing cannot become a migration:
    # its Ra is final, or its own walk is a final "no", or the crossing before is a final migrating one less
    # than Tm - Tn days earlier.
    migration = migrating & walk_migration
    from_mark = marked & ~migration
    settle = np.minimum(ra_day, np.where(walk_migration, _FAR, walk_day))
    blocks = np.zeros(m, dtype=bool)
    blocks[1:] = ~first[1:] & migrating[:-1] & ((ud[1:] - ud[:-1]) < tm - tn)
    settle[1:] = np.where(blocks[1:], np.minimum(settle[1:], rb_day[:-1]), settle[1:])
    final_day = np.where(from_mark, np.maximum(quick_day, settle), ra_day)
    final = final_day <= cut
    return _Resolved(
        rb=rb,
        ra=ra,
        long_term=np.where(final, migration.astype(np.int8), np.int8(PENDING)).astype(np.int8),
        resolved=np.where(final, np.where(from_mark, quick_day, ra_day), final_day),
        rb_day=rb_day,
        ra_day=ra_day,
    )


def _unsort(values: npt.NDArray[_T], order: npt.NDArray[np.int64]) -> npt.NDArray[_T]:
    """Put values in internal order back into input order."""
    restored = np.empty_like(values)
    restored[order] = values
    return restored


def _dropped(
    s: _Sorted,
    used: npt.NDArray[np.bool_],
    first: npt.NDArray[np.bool_],
    within: npt.NDArray[np.bool_],
    r: _Resolved,
    dropped: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """Residence and resolution day of the crossings not used as evidence: a dropped crossing keeps the residence
    after the person's previous crossing used as evidence and is resolved like a non-migrating crossing: max(its
    day, the day that residence was resolved)."""
    n = used.shape[0]
    positions = np.arange(n, dtype=np.int64)
    prev_used = np.maximum.accumulate(np.where(used, positions, -1))[dropped]
    person_start = np.maximum.accumulate(np.where(first, positions, 0))[dropped]
    has_prev = prev_used >= person_start
    j = (np.cumsum(used) - 1)[np.maximum(prev_used, 0)]
    status = np.where(has_prev, r.ra[j], s.initial[dropped])
    when = np.where(has_prev & within[dropped], np.maximum(s.day[dropped], r.ra_day[j]), s.day[dropped])
    return status, when


def classify(
    person: npt.ArrayLike,
    day: npt.ArrayLike,
    arrival: npt.ArrayLike,
    initial_resident: npt.ArrayLike,
    cutoff: int,
    params: RuleParams | None = None,
) -> RuleResult:
    """Classify the crossings of many persons at once (vectorised; the same results as the per-person reference
    in ``tests/reference/migration_rule.py``).

    Args:
        person: int64 group ids; crossings sorted by person, then day, then within-day order. (Unsorted input is
            sorted internally, stably, and flagged :data:`ANOMALY_UNSORTED`.)
        day: days since 1970-01-01 (int32).
        arrival: True for an arrival, False for a departure.
        initial_resident: bool per crossing; only the value at each person's first crossing (in input order)
            is used: the residence just before that crossing.
        cutoff: the last day of complete data, days since 1970-01-01.
        params: the rule (default 12/16).

    Returns:
        A :class:`RuleResult` aligned with the input. Never raises on odd sequences.

    Raises:
        ValueError: the arrays are not one-dimensional or differ in length.

    About 80 lines of body on purpose: one linear sequence of array steps (check, sort, evidence, resolve, dropped
    crossings, unsort), each commented; none is used elsewhere.
    """
    p = params or RuleParams()
    person_a = np.asarray(person).astype(np.int64, copy=False)
    day_a = np.asarray(day).astype(np.int64, copy=False)
    arr_a = np.asarray(arrival).astype(bool, copy=False)
    init_a = np.asarray(initial_resident).astype(bool, copy=False)
    shapes = {a.shape for a in (person_a, day_a, arr_a, init_a)}
    if len(shapes) != 1 or person_a.ndim != 1:
        raise ValueError(f"person, day, arrival and initial_resident must be 1-D and of equal length, got {shapes}")
    n = person_a.shape[0]
    if n == 0:
        return _empty_result()
    cut = int(cutoff)
    s = _sort(person_a, day_a, arr_a, init_a)
    first = _starts(s.group)

    # Evidence: on or before the cut-off and not repeating the previous crossing's direction (which is then
    # also the direction of the last crossing kept).
    within = s.day <= cut
    repeat = np.zeros(n, dtype=bool)
    repeat[1:] = ~first[1:] & (s.arrival[1:] == s.arrival[:-1])
    used = within & ~repeat
    anomaly = s.anomaly.copy()
    anomaly[within & repeat] = ANOMALY_SAME_DIRECTION
    anomaly[~within] = ANOMALY_AFTER_CUTOFF

    rb = s.initial.copy()
    ra = s.initial.copy()
    long_term = np.where(s.day <= cut, 0, PENDING).astype(np.int8)
    resolved = s.day.copy()
    rb_day = s.day.copy()
    ra_day = s.day.copy()
    u = np.flatnonzero(used)
    if u.size:
        r = _resolve(s.group[u], s.day[u], s.arrival[u], s.initial[u], cut, p)
        rb[u], ra[u], long_term[u], resolved[u], rb_day[u], ra_day[u] = (
            r.rb,
            r.ra,
            r.long_term,
            r.resolved,
            r.rb_day,
            r.ra_day,
        )
        dropped = np.flatnonzero(~used)
        status, when = _dropped(s, used, first, within, r, dropped)
        rb[dropped] = status
        ra[dropped] = status
        long_term[dropped] = np.where(when <= cut, 0, PENDING)
        resolved[dropped] = when
        rb_day[dropped] = when
        ra_day[dropped] = when

    if s.order is not None:
        rb, ra, long_term, resolved, rb_day, ra_day, anomaly = (
            _unsort(rb, s.order),
            _unsort(ra, s.order),
            _unsort(long_term, s.order),
            _unsort(resolved, s.order),
            _unsort(rb_day, s.order),
            _unsort(ra_day, s.order),
            _unsort(anomaly, s.order),
        )
    extra = {"crossings": n, "persons": int(first.sum()), "pending": int((long_term < 0).sum())}
    for code, name in ANOMALY_NAMES.items():
        if code != ANOMALY_NONE:
            extra[name] = int((anomaly == code).sum())
    return RuleResult(
        resident_before=rb.astype(bool),
        resident_after=ra.astype(bool),
        long_term=long_term.astype(np.int8),
        resolved_day=resolved.astype(np.int32),
        resident_before_day=rb_day.astype(np.int32),
        resident_after_day=ra_day.astype(np.int32),
        anomaly=anomaly.astype(np.int8),
        extra=extra,
    )
