"""The 12/16-month rule (pipeline.histories.rule) against Stats NZ's migrbc test vectors, plus properties.

Vectors: DOMAIN.md's table and every scenario of migrbc's testthat files (test-RBC_algorithm_non_residence_rcpp.R,
test-RBC_algorithm_residence_rcpp.R, test-RBC_algorithm_with_IRS.R), restated as data: dates of crossings and,
per crossing, residence before/after, long-term flag and the three resolution dates as "+n days after 2017-01-01"
(migrbc's tests measure them from the first crossing, which is 2017-01-01 in every scenario).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.histories.rule import (
    ANOMALY_AFTER_CUTOFF,
    ANOMALY_NAMES,
    ANOMALY_NONE,
    ANOMALY_SAME_DIRECTION,
    ANOMALY_UNSORTED,
    PENDING,
    RuleParams,
    RuleResult,
    classify,
    date_to_day,
    day_to_date,
)
from tests.reference.migration_rule import CrossingResult, classify_person

D0 = dt.date(2017, 1, 1)
UNLIMITED = dt.date(2035, 1, 1)  # at least Tw days after every crossing below: every result is final
ARR, DEP = True, False

# (residence before, residence after, long-term flag, +days Rb resolved, +days Ra resolved, +days LTM resolved)
Row = tuple[int, int, int, int, int, int]


@dataclass(frozen=True)
class Case:
    """A non-resident's crossings (ISO date, is_arrival) and migrbc's expected rows; mirrored for a resident."""

    crossings: tuple[tuple[str, bool], ...]
    expected: tuple[Row, ...]
    initial_resident: bool = False

    def mirrored(self) -> Case:
        """The same history seen from the other side: directions and residence flipped, dates unchanged."""
        return Case(
            crossings=tuple((d, not a) for d, a in self.crossings),
            expected=tuple((1 - rb, 1 - ra, ltm, b, a, t) for rb, ra, ltm, b, a, t in self.expected),
            initial_resident=not self.initial_resident,
        )


# migrbc tests/testthat/test-RBC_algorithm_non_residence_rcpp.R, scenarios 1-11 (a non-resident, IRS = 0). The
# residence file (test-RBC_algorithm_residence_rcpp.R, IRS = 1) has the same 11 scenarios mirrored, same numbers.
MIGRBC_NON_RESIDENT: dict[str, Case] = {
    "S1-start-of-backseries-returning-is-nonmigrating": Case(
        (("2017-01-01", DEP),),
        ((0, 0, 0, 0, 0, 0),),
    ),
    "S2-migrates": Case(
        (("2017-01-01", ARR),),
        ((0, 1, 1, 0, 365, 365),),
    ),
    "S3-holiday-less-than-8-months": Case(
        (("2017-01-01", ARR), ("2017-01-11", DEP)),
        ((0, 0, 0, 0, 132, 132), (0, 0, 0, 132, 132, 10)),
    ),
    "S4-two-short-return-trips": Case(
        (("2017-01-01", ARR), ("2017-01-11", DEP), ("2017-03-12", ARR), ("2017-04-01", DEP)),
        ((0, 0, 0, 0, 152, 152), (0, 0, 0, 152, 152, 10), (0, 0, 0, 152, 212, 212), (0, 0, 0, 212, 212, 90)),
    ),
    "S5-holiday-8-to-12-months": Case(
        (("2017-01-01", ARR), ("2017-09-08", DEP)),
        ((0, 0, 0, 0, 372, 372), (0, 0, 0, 372, 372, 372)),
    ),
    "S6-there-and-back-same-day": Case(
        (("2017-01-01", ARR), ("2017-01-01", DEP)),
        ((0, 0, 0, 0, 122, 122), (0, 0, 0, 122, 122, 0)),
    ),
    "S7-migrates-after-short-trip": Case(
        (("2017-01-01", ARR), ("2017-01-11", DEP), ("2017-03-12", ARR)),
        ((0, 1, 1, 0, 425, 425), (1, 1, 0, 425, 425, 10), (1, 1, 0, 425, 425, 425)),
    ),
    "S8-migrates-then-returns-and-migrates": Case(
        (("2017-01-01", ARR), ("2018-01-06", DEP)),
        ((0, 1, 1, 0, 365, 365), (1, 0, 1, 370, 735, 735)),
    ),
    "S9-migrates-during-succession-of-trips": Case(
        (
            ("2017-01-01", ARR),
            ("2017-12-17", DEP),
            ("2018-01-06", ARR),
            ("2018-01-26", DEP),
            ("2018-01-27", ARR),
        ),
        (
            (0, 1, 1, 0, 385, 385),
            (1, 1, 0, 385, 493, 493),
            (1, 1, 0, 493, 493, 385),
            (1, 1, 0, 493, 513, 513),
            (1, 1, 0, 513, 513, 391),
        ),
    ),
    "S10-two-trips-long-delay-between": Case(
        (("2017-01-01", ARR), ("2017-01-11", DEP), ("2018-01-06", ARR), ("2018-01-16", DEP)),
        ((0, 0, 0, 0, 132, 132), (0, 0, 0, 132, 132, 10), (0, 0, 0, 370, 502, 502), (0, 0, 0, 502, 502, 380)),
    ),
    "S11-migrates-then-short-trips-long-time-apart": Case(
        (
            ("2017-01-01", ARR),
            ("2018-01-06", DEP),
            ("2018-01-16", ARR),
            ("2018-11-02", DEP),
            ("2018-11-12", ARR),
        ),
        (
            (0, 1, 1, 0, 365, 365),
            (1, 1, 0, 370, 502, 502),
            (1, 1, 0, 502, 502, 380),
            (1, 1, 0, 670, 802, 802),
            (1, 1, 0, 802, 802, 680),
        ),
    ),
}

MIGRBC_CASES: dict[str, Case] = {
    **{f"non_residence-{name}": case for name, case in MIGRBC_NON_RESIDENT.items()},
    **{f"residence-{name}": case.mirrored() for name, case in MIGRBC_NON_RESIDENT.items()},
}

# migrbc tests/testthat/test-RBC_algorithm_with_IRS.R. Scenarios 2 and 4 (IRS date_finalised 2018-05-18, after the
# first crossing) exercise migrbc's override of Rb by a later-finalised initial status; our API takes the status
# just before the first crossing, so they have no counterpart (see the module docstring).
IRS_S3 = MIGRBC_NON_RESIDENT["S11-migrates-then-short-trips-long-time-apart"]
IRS_CASES: dict[str, Case] = {
    "IRS-S1-resident-at-start": IRS_S3.mirrored(),
    "IRS-S3-non-resident-at-start": IRS_S3,
    # Without an IRS row migrbc assumes the opposite of the first direction: pass that explicitly.
    "IRS-S5-no-IRS-first-departure-means-resident": IRS_S3.mirrored(),
    "IRS-S6-no-IRS-first-arrival-means-non-resident": IRS_S3,
}
IRS_S7_PERSON_2 = Case(
    (("2017-01-01", ARR), ("2018-01-16", DEP), ("2018-11-12", ARR)),
    ((1, 1, 0, 0, 0, 0), (1, 1, 0, 380, 802, 802), (1, 1, 0, 802, 802, 802)),
    initial_resident=True,
)

# DOMAIN.md's table (a non-resident; residents departing mirror these).
DOMAIN_CASES: dict[str, Case] = {
    "arrives-never-leaves": MIGRBC_NON_RESIDENT["S2-migrates"],
    "arrives-departs-10-days-later": MIGRBC_NON_RESIDENT["S3-holiday-less-than-8-months"],
    "arrives-departs-8-months-later": MIGRBC_NON_RESIDENT["S5-holiday-8-to-12-months"],
    "arrives-departs-same-day": MIGRBC_NON_RESIDENT["S6-there-and-back-same-day"],
    "two-short-trips": MIGRBC_NON_RESIDENT["S4-two-short-return-trips"],
}


def _plus(value: dt.date) -> int:
    return (value - D0).days


def on(days: int) -> str:
    """The ISO date ``days`` after 2017-01-01."""
    return (D0 + dt.timedelta(days=days)).isoformat()


def _reference(case: Case, cutoff: dt.date = UNLIMITED, params: RuleParams | None = None) -> list[CrossingResult]:
    dates = [dt.date.fromisoformat(d) for d, _ in case.crossings]
    return classify_person(dates, [a for _, a in case.crossings], case.initial_resident, cutoff, params)


def _vectorised(case: Case, cutoff: dt.date = UNLIMITED, params: RuleParams | None = None) -> RuleResult:
    n = len(case.crossings)
    days = np.array([date_to_day(dt.date.fromisoformat(d)) for d, _ in case.crossings], dtype=np.int32)
    arrival = np.array([a for _, a in case.crossings], dtype=bool)
    return classify(
        np.zeros(n, np.int64), days, arrival, np.full(n, case.initial_resident), date_to_day(cutoff), params
    )


def _ref_rows(results: list[CrossingResult]) -> list[Row]:
    return [
        (
            int(r.resident_before),
            int(r.resident_after),
            r.long_term,
            _plus(r.resident_before_resolved),
            _plus(r.resident_after_resolved),
            _plus(r.resolved),
        )
        for r in results
    ]


def _vec_rows(result: RuleResult, base: int = date_to_day(D0)) -> list[Row]:
    return [
        (
            int(result.resident_before[k]),
            int(result.resident_after[k]),
            int(result.long_term[k]),
            int(result.resident_before_day[k]) - base,
            int(result.resident_after_day[k]) - base,
            int(result.resolved_day[k]) - base,
        )
        for k in range(len(result))
    ]


def _outcome(case: Case, **kwargs: object) -> list[tuple[int, int]]:
    """(long_term, resolved +days) per crossing, checked to agree between the two implementations."""
    ref = _ref_rows(_reference(case, **kwargs))  # type: ignore[arg-type]
    assert _vec_rows(_vectorised(case, **kwargs)) == ref  # type: ignore[arg-type]
    return [(r[2], r[5]) for r in ref]


# ------------------------------------------------------------------------------------------------------------
# Published vectors
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["non-resident-arrives", "resident-departs"])
@pytest.mark.parametrize("case", list(DOMAIN_CASES.values()), ids=list(DOMAIN_CASES))
def test_domain_vectors(case: Case, side: str) -> None:
    """DOMAIN.md: long-term flag, resolution date (+days), residence before/after; residents mirror."""
    if side == "resident-departs":
        case = case.mirrored()
    expected = [(rb, ra, ltm, t) for rb, ra, ltm, _, _, t in case.expected]
    ref = [(rb, ra, ltm, t) for rb, ra, ltm, _, _, t in _ref_rows(_reference(case))]
    vec = [(rb, ra, ltm, t) for rb, ra, ltm, _, _, t in _vec_rows(_vectorised(case))]
    assert ref == expected
    assert vec == expected


@pytest.mark.parametrize("case", list(MIGRBC_CASES.values()), ids=list(MIGRBC_CASES))
def test_migrbc_testthat_vectors(case: Case) -> None:
    """Every scenario of migrbc's non-residence and residence test files, all six values per crossing."""
    assert _ref_rows(_reference(case)) == list(case.expected)
    assert _vec_rows(_vectorised(case)) == list(case.expected)


@pytest.mark.parametrize("case", list(IRS_CASES.values()), ids=list(IRS_CASES))
def test_migrbc_irs_vectors(case: Case) -> None:
    assert _ref_rows(_reference(case)) == list(case.expected)
    assert _vec_rows(_vectorised(case)) == list(case.expected)


def test_migrbc_irs_s7_two_persons_in_one_call() -> None:
    """IRS scenario 7: person 1 without IRS (first arrival: non-resident), person 2 an initial resident."""
    person_1 = IRS_CASES["IRS-S6-no-IRS-first-arrival-means-non-resident"]
    rows = [(1, d, a, person_1.initial_resident) for d, a in person_1.crossings]
    rows += [(2, d, a, IRS_S7_PERSON_2.initial_resident) for d, a in IRS_S7_PERSON_2.crossings]
    result = classify(
        np.array([r[0] for r in rows]),
        np.array([date_to_day(dt.date.fromisoformat(r[1])) for r in rows], dtype=np.int32),
        np.array([r[2] for r in rows]),
        np.array([r[3] for r in rows]),
        date_to_day(UNLIMITED),
    )
    assert _vec_rows(result) == list(person_1.expected) + list(IRS_S7_PERSON_2.expected)
    assert result.extra["persons"] == 2


# ------------------------------------------------------------------------------------------------------------
# migrbc's C++ details that its vignette's pseudo code does not show
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("back_on", "expected"),
    [
        # 122 days away is not more than Tn: the walk goes on and the stay makes it a migration.
        (on(222), [(1, 487), (0, 100), (0, 487)]),
        # 123 days away: not a migration, resolved on day + Tn + M = 122 + 100; the return that stays migrates.
        (on(223), [(0, 222), (0, 100), (1, 588)]),
    ],
    ids=["N-equal-Tn-continues", "N-exceeds-Tn-stops"],
)
def test_not_migration_needs_N_strictly_above_tn(back_on: str, expected: list[tuple[int, int]]) -> None:
    """rcpp_algorithm.cpp tests ``accumulatedDaysNoMigration > tn`` (the vignette's pseudo code says >=)."""
    case = Case(((on(0), ARR), (on(100), DEP), (back_on, ARR)), ())
    assert _outcome(case) == expected


@pytest.mark.parametrize(
    ("departs", "expected"),
    [(on(365), [(1, 365), (1, 730)]), (on(364), [(0, 486), (0, 486)])],
    ids=["M-equal-Tm-migrates", "M-one-day-short"],
)
def test_migration_needs_M_at_least_tm(departs: str, expected: list[tuple[int, int]]) -> None:
    case = Case((("2017-01-01", ARR), (departs, DEP)), ())
    assert _outcome(case) == expected


def test_quick_return_horizon_counts_from_rb_resolution() -> None:
    """``date_i_8 = date_RB_i + ts``: the 4th crossing (day 270) is within Ts of the day the 3rd crossing's Rb was
    resolved (382) though not of the 3rd crossing's own day (20), so it is marked at once on day 382 (+392 else).
    """
    case = Case(((on(0), ARR), (on(10), DEP), (on(20), ARR), (on(270), DEP)), ())
    assert _outcome(case) == [(0, 382), (0, 10), (0, 392), (0, 382)]


def test_quick_return_mark_overwritten_by_own_migration_and_pending_until_then() -> None:
    """A return marked 'not a migration' at once (day 243 < Ts) that then stays away: migrbc overwrites the mark.

    With data only up to day 300 that mark must therefore stay pending, not final.
    """
    crossings = ((on(0), ARR), (on(243), DEP), (on(243), ARR), (on(365), DEP))
    assert _outcome(Case(crossings, ())) == [(1, 365), (1, 730), (0, 365), (0, 730)]
    partial = Case(crossings[:3], ())
    cutoff = D0 + dt.timedelta(days=300)
    assert _outcome(partial, cutoff=cutoff) == [(PENDING, 365), (PENDING, 365), (PENDING, 365)]


def test_resolution_dates_never_before_rb_resolved() -> None:
    """``max(..., date_RB_i)``: S9's 3rd crossing is a quick return marked on day 370, reported as 385."""
    case = MIGRBC_NON_RESIDENT["S9-migrates-during-succession-of-trips"]
    assert _outcome(case)[2] == (0, 385)


# ------------------------------------------------------------------------------------------------------------
# Parameters and the 9/12 variant
# ------------------------------------------------------------------------------------------------------------


def test_params_defaults_and_derived() -> None:
    p = RuleParams()
    assert (p.window, p.threshold, p.tn, p.ts) == (487, 365, 122, 244)
    assert RuleParams.twelve_sixteen() == p
    q = RuleParams.nine_twelve()
    assert (q.window, q.threshold, q.tn, q.ts) == (365, 274, 91, 182)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window": 365, "threshold": 365},
        {"window": 300, "threshold": 365},
        {"window": 487, "threshold": 0},
        {"window": 0, "threshold": -1},
        {"window": 487.0, "threshold": 365},
        {"window": True, "threshold": 365},
    ],
    ids=["equal", "threshold-above-window", "zero-threshold", "negative", "float", "bool"],
)
def test_params_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"^rule parameter") as info:
        RuleParams(**kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


NINE_TWELVE = RuleParams.nine_twelve()


@pytest.mark.parametrize(
    ("crossings", "expected"),
    [
        ((("2017-01-01", ARR),), [(1, 274)]),
        ((("2017-01-01", ARR), ("2017-01-11", DEP)), [(0, 101), (0, 10)]),
        (((on(0), ARR), (on(273), DEP)), [(0, 364), (0, 364)]),
        (((on(0), ARR), (on(274), DEP)), [(1, 274), (1, 548)]),
        (((on(0), ARR), (on(300), DEP)), [(1, 274), (1, 574)]),
    ],
    ids=["stays", "10-day-visit", "273-days-short", "274-days-migrates", "300-days-migrates"],
)
def test_nine_twelve_rule(crossings: tuple[tuple[str, bool], ...], expected: list[tuple[int, int]]) -> None:
    case = Case(crossings, ())
    assert _outcome(case, params=NINE_TWELVE) == expected
    assert _outcome(case.mirrored(), params=NINE_TWELVE) == expected


def test_nine_twelve_differs_from_twelve_sixteen() -> None:
    """A 300-day stay is a migration under 9/12 but not under 12/16."""
    case = Case(((on(0), ARR), (on(300), DEP)), ())
    assert _outcome(case)[0] == (0, 422)
    assert _outcome(case, params=NINE_TWELVE)[0] == (1, 274)


# ------------------------------------------------------------------------------------------------------------
# Odd sequences: anomaly codes, never an exception
# ------------------------------------------------------------------------------------------------------------


def _anomalies(case: Case, cutoff: dt.date = UNLIMITED) -> list[int]:
    ref = [r.anomaly for r in _reference(case, cutoff)]
    assert [int(x) for x in _vectorised(case, cutoff).anomaly] == ref
    return ref


@pytest.mark.parametrize(
    ("crossings", "codes", "same_as"),
    [
        (
            (("2017-01-01", ARR), ("2017-02-01", ARR), ("2017-04-11", DEP)),
            [ANOMALY_NONE, ANOMALY_SAME_DIRECTION, ANOMALY_NONE],
            (("2017-01-01", ARR), ("2017-04-11", DEP)),
        ),
        (
            (("2017-01-01", ARR), ("2017-01-11", DEP), ("2017-01-15", DEP), ("2017-03-12", ARR)),
            [ANOMALY_NONE, ANOMALY_NONE, ANOMALY_SAME_DIRECTION, ANOMALY_NONE],
            (("2017-01-01", ARR), ("2017-01-11", DEP), ("2017-03-12", ARR)),
        ),
        (
            (("2017-01-01", ARR), ("2017-03-01", ARR), ("2017-03-01", DEP)),
            [ANOMALY_NONE, ANOMALY_SAME_DIRECTION, ANOMALY_NONE],
            (("2017-01-01", ARR), ("2017-03-01", DEP)),
        ),
        (
            (("2017-01-01", ARR), ("2017-01-01", ARR), ("2017-01-01", ARR)),
            [ANOMALY_NONE, ANOMALY_SAME_DIRECTION, ANOMALY_SAME_DIRECTION],
            (("2017-01-01", ARR),),
        ),
    ],
    ids=["two-arrivals", "two-departures", "same-day-pair-in-wrong-order", "triple-arrival-same-day"],
)
def test_repeated_direction_is_dropped_and_flagged(
    crossings: tuple[tuple[str, bool], ...], codes: list[int], same_as: tuple[tuple[str, bool], ...]
) -> None:
    """migrbc rejects the whole person (unhappy test 'same direction as the previous one'); we drop the repeat."""
    case = Case(crossings, ())
    assert _anomalies(case) == codes
    kept = [r for r, code in zip(_reference(case), codes, strict=True) if code == ANOMALY_NONE]
    assert kept == _reference(Case(same_as, ()))
    dropped = [(r, k) for k, (r, code) in enumerate(zip(_reference(case), codes, strict=True)) if code]
    for r, k in dropped:
        previous = _reference(case)[k - 1]
        assert (r.resident_before, r.resident_after, r.long_term) == (previous.resident_after,) * 2 + (0,)


def test_same_day_pair_in_right_order_is_fine() -> None:
    case = Case((("2017-01-01", ARR), ("2017-03-01", DEP), ("2017-03-01", ARR)), ())
    assert _anomalies(case) == [ANOMALY_NONE] * 3


def test_unsorted_input_is_sorted_and_flagged() -> None:
    """migrbc raises SequenceException (dates going back); we sort stably and flag."""
    sorted_case = MIGRBC_NON_RESIDENT["S4-two-short-return-trips"]
    shuffled = Case(tuple(sorted_case.crossings[k] for k in (0, 2, 1, 3)), ())
    assert _anomalies(shuffled) == [ANOMALY_NONE, ANOMALY_NONE, ANOMALY_UNSORTED, ANOMALY_NONE]
    expected = [sorted_case.expected[k] for k in (0, 2, 1, 3)]
    assert _ref_rows(_reference(shuffled)) == expected
    assert _vec_rows(_vectorised(shuffled)) == expected


def test_person_split_over_two_blocks_is_merged_and_flagged() -> None:
    days = np.array([date_to_day(dt.date(2017, 1, 1)), 17500, date_to_day(dt.date(2017, 1, 11))], dtype=np.int32)
    result = classify(np.array([7, 8, 7]), days, np.array([ARR, ARR, DEP]), np.zeros(3, bool), date_to_day(UNLIMITED))
    assert result.anomaly.tolist() == [ANOMALY_NONE, ANOMALY_NONE, ANOMALY_UNSORTED]
    assert result.long_term.tolist() == [0, 1, 0]
    assert (result.resolved_day[[0, 2]] - date_to_day(D0)).tolist() == [132, 10]


def test_crossings_after_cutoff_are_excluded_and_pending() -> None:
    case = MIGRBC_NON_RESIDENT["S7-migrates-after-short-trip"]
    cutoff = D0 + dt.timedelta(days=20)  # the 3rd crossing (03-12) lies after it
    assert _anomalies(case, cutoff) == [ANOMALY_NONE, ANOMALY_NONE, ANOMALY_AFTER_CUTOFF]
    results = _reference(case, cutoff)
    assert results[:2] == _reference(Case(case.crossings[:2], ()), cutoff)
    assert results[2].long_term == PENDING
    assert results[2].resolved == dt.date(2017, 3, 12)  # its own day: when the person must be recomputed
    everything_late = _vectorised(case, D0 - dt.timedelta(days=1))
    assert everything_late.long_term.tolist() == [PENDING] * 3
    assert everything_late.anomaly.tolist() == [ANOMALY_AFTER_CUTOFF] * 3


def test_empty_and_bad_shapes() -> None:
    empty = classify(np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, bool), np.zeros(0, bool), 0)
    assert len(empty) == 0
    assert classify_person([], [], False, UNLIMITED) == []
    with pytest.raises(ValueError, match="equal length"):
        classify(np.zeros(2, np.int64), np.zeros(3, np.int32), np.zeros(2, bool), np.zeros(2, bool), 0)
    with pytest.raises(ValueError, match="differ in length"):
        classify_person([D0], [True, False], False, UNLIMITED)


def test_anomaly_names_and_counts() -> None:
    assert ANOMALY_NAMES[ANOMALY_SAME_DIRECTION] == "repeated_direction"
    case = Case((("2017-01-01", ARR), ("2017-02-01", ARR), ("2017-04-11", DEP), ("2030-01-01", ARR)), ())
    result = _vectorised(case, dt.date(2020, 1, 1))
    assert result.extra["repeated_direction"] == 1
    assert result.extra["after_cutoff"] == 1
    assert result.extra["pending"] == 1


# ------------------------------------------------------------------------------------------------------------
# Pending results and the cut-off
# ------------------------------------------------------------------------------------------------------------


def test_pending_until_resolution_date_then_as_with_unlimited_data() -> None:
    case = MIGRBC_NON_RESIDENT["S2-migrates"]
    for days, expected in [(100, (PENDING, 365)), (364, (PENDING, 365)), (365, (1, 365)), (900, (1, 365))]:
        results = _reference(case, D0 + dt.timedelta(days=days))
        assert (results[0].long_term, _plus(results[0].resolved)) == expected
        assert results[0].resident_after  # provisional: as if no further crossing occurs
    assert _outcome(case, cutoff=D0 + dt.timedelta(days=364)) == [(PENDING, 365)]


def test_quick_return_final_before_the_arrival_is_resolved() -> None:
    """DOMAIN: a 10-day visit. With data to day 50 the departure is final (+10), the arrival pending (+132)."""
    case = MIGRBC_NON_RESIDENT["S3-holiday-less-than-8-months"]
    assert _outcome(case, cutoff=D0 + dt.timedelta(days=50)) == [(PENDING, 132), (0, 10)]
    assert _outcome(case, cutoff=D0 + dt.timedelta(days=131)) == [(PENDING, 132), (0, 10)]
    assert _outcome(case, cutoff=D0 + dt.timedelta(days=132)) == [(0, 132), (0, 10)]


@pytest.mark.parametrize("case", list(MIGRBC_CASES.values()), ids=list(MIGRBC_CASES))
def test_every_cutoff_final_results_equal_unlimited_data(case: Case) -> None:
    """Day by day, with the data known on that day: a final result is the unlimited-data one; pending ones resolve
    after the cut-off; and a cut-off Tw days after the last crossing leaves nothing pending."""
    dates = [dt.date.fromisoformat(d) for d, _ in case.crossings]
    unlimited = _reference(case)
    last = dates[-1] + dt.timedelta(days=RuleParams().window)
    for offset in range((last - dates[0]).days + 1):
        cutoff = dates[0] + dt.timedelta(days=offset)
        known = Case(
            tuple(c for c, d in zip(case.crossings, dates, strict=True) if d <= cutoff), (), case.initial_resident
        )
        if not known.crossings:
            continue
        result = _vectorised(known, cutoff)
        day = date_to_day(cutoff)
        for k in range(len(result)):
            if result.long_term[k] == PENDING:
                assert result.resolved_day[k] > day
            else:
                assert (int(result.long_term[k]), day_to_date(int(result.resolved_day[k]))) == (
                    unlimited[k].long_term,
                    unlimited[k].resolved,
                )
            if result.resident_after_day[k] <= day:
                assert bool(result.resident_after[k]) == unlimited[k].resident_after
    assert PENDING not in _vectorised(case, last).long_term.tolist()


# ------------------------------------------------------------------------------------------------------------
# Properties (hypothesis)
# ------------------------------------------------------------------------------------------------------------

START = date_to_day(D0)
GAP = st.one_of(
    st.sampled_from([0, 1, 10, 121, 122, 123, 242, 243, 244, 245, 273, 274, 364, 365, 366, 486, 487, 488]),
    st.integers(0, 700),
)


@dataclass(frozen=True)
class Person:
    days: list[int]
    arrivals: list[bool]
    initial: bool


@st.composite
def persons(draw: st.DrawFn, max_crossings: int = 8) -> Person:
    """Mostly alternating crossings with ~10% repeated directions, gaps around the rule's thresholds."""
    n = draw(st.integers(1, max_crossings))
    day = START + draw(st.integers(0, 60))
    arrival = draw(st.booleans())
    days, arrivals = [], []
    for _ in range(n):
        days.append(day)
        arrivals.append(arrival)
        day += draw(GAP)
        arrival = arrival if draw(st.integers(0, 9)) == 0 else not arrival
    return Person(days, arrivals, draw(st.booleans()))


PARAMS = st.sampled_from([RuleParams(), NINE_TWELVE, RuleParams(window=60, threshold=25)])
FIELDS = ("resident_before", "resident_after", "long_term", "resolved_day", "resident_before_day", "resident_after_day")


def _together(group: list[Person], cutoff: int, params: RuleParams) -> RuleResult:
    return classify(
        np.array([k * 3 + 1 for k, p in enumerate(group) for _ in p.days], dtype=np.int64),
        np.array([d for p in group for d in p.days], dtype=np.int32),
        np.array([a for p in group for a in p.arrivals], dtype=bool),
        np.array([p.initial for p in group for _ in p.days], dtype=bool),
        cutoff,
        params,
    )


def _ref_person(person: Person, cutoff: int, params: RuleParams) -> list[tuple[int, ...]]:
    results = classify_person(
        [day_to_date(d) for d in person.days], person.arrivals, person.initial, day_to_date(cutoff), params
    )
    return [
        (
            int(r.resident_before),
            int(r.resident_after),
            r.long_term,
            date_to_day(r.resolved),
            date_to_day(r.resident_before_resolved),
            date_to_day(r.resident_after_resolved),
            r.anomaly,
        )
        for r in results
    ]


def _vec_table(result: RuleResult) -> list[tuple[int, ...]]:
    columns = [getattr(result, f).astype(np.int64).tolist() for f in (*FIELDS, "anomaly")]
    return [tuple(row) for row in zip(*columns, strict=True)]


PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(group=st.lists(persons(), min_size=1, max_size=6), offset=st.integers(0, 2500), params=PARAMS)
def test_property_vectorised_equals_reference(group: list[Person], offset: int, params: RuleParams) -> None:
    cutoff = START + offset
    expected = [row for person in group for row in _ref_person(person, cutoff, params)]
    assert _vec_table(_together(group, cutoff, params)) == expected


@PROPERTY_SETTINGS
@given(group=st.lists(persons(), min_size=2, max_size=6), offset=st.integers(0, 2500), params=PARAMS)
def test_property_persons_together_equal_alone(group: list[Person], offset: int, params: RuleParams) -> None:
    cutoff = START + offset
    alone = [row for person in group for row in _vec_table(_together([person], cutoff, params))]
    assert _vec_table(_together(group, cutoff, params)) == alone


@PROPERTY_SETTINGS
@given(
    person=persons(),
    later=persons(max_crossings=5),
    after=st.integers(0, 400),
    slack=st.integers(0, 600),
    params=PARAMS,
)
def test_property_final_means_final(person: Person, later: Person, after: int, slack: int, params: RuleParams) -> None:
    """Results final at the cut-off (data up to it) do not change when crossings after it arrive."""
    cutoff = person.days[-1] + after
    shift = cutoff + 1 - later.days[0]
    extended = Person(person.days + [d + shift for d in later.days], person.arrivals + later.arrivals, person.initial)
    new_cutoff = extended.days[-1] + slack
    before = _ref_person(person, cutoff, params)
    now = _ref_person(extended, new_cutoff, params)[: len(before)]
    vec_before = _vec_table(_together([person], cutoff, params))
    assert vec_before == before
    for old, new in zip(before, now, strict=True):
        rb, ra, long_term, resolved, rb_day, ra_day, _ = old
        if long_term != PENDING:
            assert resolved <= cutoff
            assert (long_term, resolved) == (new[2], new[3])
        else:
            assert resolved > cutoff
        if ra_day <= cutoff:
            assert (ra, ra_day) == (new[1], new[5])
        if rb_day <= cutoff:
            assert (rb, rb_day) == (new[0], new[4])


@PROPERTY_SETTINGS
@given(person=persons(), params=PARAMS)
def test_property_enough_data_leaves_nothing_pending(person: Person, params: RuleParams) -> None:
    cutoff = person.days[-1] + params.window
    assert PENDING not in [row[2] for row in _ref_person(person, cutoff, params)]


@PROPERTY_SETTINGS
@given(person=persons(), first=st.integers(0, 2000), later=st.integers(0, 800), params=PARAMS)
def test_property_results_change_only_when_a_pending_day_is_reached(
    person: Person, first: int, later: int, params: RuleParams
) -> None:
    """Same data, later cut-off: a person without a pending crossing whose ``resolved_day`` has been reached keeps
    every result. This is what lets nightly runs skip the persons nobody touched (pipeline.histories.build)."""
    cutoff = START + first
    new_cutoff = cutoff + later
    old = _vec_table(_together([person], cutoff, params))
    due = any(row[2] == PENDING and row[3] <= new_cutoff for row in old)
    if not due:
        assert _vec_table(_together([person], new_cutoff, params)) == old
