"""Per-person histories in the warehouse: classification, stays, overstays, vintages, incremental = full."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkage.schema import ensure_schema as ensure_person_key_schema
from pipeline.cli.main import main
from pipeline.errors import PipelineError
from pipeline.histories.build import EXPORT_COLUMNS, HistoryPolicy, build_histories
from pipeline.histories.rule import RuleParams
from pipeline.warehouse.connection import connect

D0 = dt.date(2017, 1, 1)
POLICY = HistoryPolicy(host_country="UTO", visa_exempt=("GBR",), visa_free_days=90)


class Warehouse:
    """A warehouse filled by hand: records, their person keys and tonight's key assignments."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        ensure_person_key_schema(con)
        con.execute(
            "CREATE TABLE IF NOT EXISTS linkage_clusters (source VARCHAR, record_id VARCHAR, cluster_id BIGINT, "
            "person_key VARCHAR)"
        )
        self.n = 0

    def _key(self, source: str, record_id: str, person: str, night: dt.date) -> None:
        self.con.execute("INSERT INTO linkage_clusters VALUES (?, ?, 0, ?)", [source, record_id, person])
        self.con.execute("INSERT OR REPLACE INTO person_keys VALUES (?, ?, ?, ?)", [source, record_id, person, night])

    def crossing(
        self, person: str, day: dt.date, direction: str, *, nationality: str = "CHN", night: dt.date = D0
    ) -> str:
        self.n += 1
        rid = f"B{self.n:05d}"
        self.con.execute(
            "INSERT INTO border_crossings (record_id, direction, crossing_time, crossing_date, birth_year, sex, "
            "nationality, partition_date, run_id) VALUES (?, ?, ?, ?, 1990, 'F', ?, ?, 'r')",
            [rid, direction, dt.datetime.combine(day, dt.time(12, self.n % 60)), day, nationality, day],
        )
        self._key("border", rid, person, night)
        return rid

    def visa(self, person: str, start: dt.date, until: dt.date, *, night: dt.date = D0, granted: bool = True) -> None:
        self.n += 1
        rid = f"V{self.n:05d}"
        self.con.execute(
            "INSERT INTO visa_decisions (record_id, visa_category, decision, decision_date, valid_from, valid_until, "
            "nationality, partition_date, run_id) VALUES (?, 'WORK', ?, ?, ?, ?, 'CHN', ?, 'r')",
            [rid, "GRANTED" if granted else "REFUSED", start, start, until, start],
        )
        self._key("visa", rid, person, night)

    def permit(
        self, person: str, start: dt.date, until: dt.date | None, kind: str = "TEMPORARY", *, night: dt.date = D0
    ) -> None:
        self.n += 1
        rid = f"P{self.n:05d}"
        self.con.execute(
            "INSERT INTO residence_permits (record_id, permit_type, reason, issue_date, valid_from, valid_until, "
            "country_of_birth, nationality, partition_date, run_id) VALUES (?, ?, 'family', ?, ?, ?, 'VNM', 'VNM', "
            "?, 'r')",
            [rid, kind, start, start, until, start],
        )
        self._key("permit", rid, person, night)

    def crossings(self) -> dict[str, tuple]:
        rows = self.con.execute(
            "SELECT record_id, residence_before, residence_after, long_term_migration, status, resolved_date, "
            "anomaly, authorization_category FROM crossing_classification"
        ).fetchall()
        return {r[0]: r[1:] for r in rows}

    def stay(self, arrival: str) -> dict[str, object]:
        cur = self.con.execute("SELECT * FROM person_stays WHERE arrival_record_id = ?", [arrival])
        names = [d[0] for d in cur.description]
        return dict(zip(names, cur.fetchall()[0], strict=True))


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    return Warehouse(connect(tmp_path / "wh"))


def plus(days: int) -> dt.date:
    return D0 + dt.timedelta(days=days)


def test_long_term_arrival_with_a_visa(wh: Warehouse) -> None:
    arrival = wh.crossing("P1", D0, "ARR")
    wh.visa("P1", dt.date(2016, 12, 1), dt.date(2019, 12, 31))
    build_histories(wh.con, night=dt.date(2018, 6, 30), policy=POLICY)
    assert wh.crossings()[arrival] == ("NON_RESIDENT", "RESIDENT", True, "final", plus(365), None, "WORK")
    stay = wh.stay(arrival)
    assert stay["departure_date"] is None and stay["end_date"] == dt.date(2018, 6, 30)
    assert stay["overstay_days"] == 0 and not stay["entry_without_visa"] and stay["visa_required"]


def test_pending_until_the_resolution_date_then_final_with_a_vintage(wh: Warehouse) -> None:
    arrival = wh.crossing("P1", D0, "ARR")
    wh.visa("P1", D0, dt.date(2019, 12, 31))
    build_histories(wh.con, night=plus(100), policy=POLICY)
    before = wh.crossings()[arrival]
    assert before[3] == "pending" and before[2] is None
    build_histories(wh.con, night=plus(400), policy=POLICY)
    assert wh.crossings()[arrival][2:4] == (True, "final")
    change = wh.con.execute(
        "SELECT change, previous_status, status FROM crossing_vintages WHERE record_id = ? ORDER BY night", [arrival]
    ).fetchall()
    assert change == [("new", None, "pending"), ("final", "pending", "final")]


def test_citizens_and_permanent_permit_holders_start_resident(wh: Warehouse) -> None:
    citizen = wh.crossing("C1", D0, "DEP", nationality="UTO")
    back = wh.crossing("C1", plus(10), "ARR", nationality="UTO")
    settled = wh.crossing("R1", plus(5), "DEP", nationality="VNM")
    wh.permit("R1", dt.date(2010, 1, 1), None, "PERMANENT")
    stranger = wh.crossing("N1", plus(5), "DEP", nationality="VNM")
    build_histories(wh.con, night=plus(600), policy=POLICY)
    got = wh.crossings()
    assert got[citizen][:3] == ("RESIDENT", "RESIDENT", False)
    assert got[back][:3] == ("RESIDENT", "RESIDENT", False)
    assert got[settled][0] == "RESIDENT" and got[stranger][0] == "NON_RESIDENT"
    assert wh.stay(back)["visa_required"] is False and wh.stay(back)["overstay_days"] == 0


def test_overstay_after_the_visa_ends(wh: Warehouse) -> None:
    arrival = wh.crossing("P1", D0, "ARR")
    wh.crossing("P1", dt.date(2017, 5, 10), "DEP")
    wh.visa("P1", D0, dt.date(2017, 3, 31))
    build_histories(wh.con, night=plus(600), policy=POLICY)
    stay = wh.stay(arrival)
    assert stay["covered_until"] == dt.date(2017, 3, 31)
    assert stay["overstay_days"] == 40 and stay["overstay_start"] == dt.date(2017, 4, 1)


def test_entry_without_a_required_visa_and_visa_free_days(wh: Warehouse) -> None:
    undocumented = wh.crossing("P1", D0, "ARR")
    wh.crossing("P1", plus(20), "DEP")
    wh.visa("P1", D0, plus(30), granted=False)  # refused: does not cover
    visitor = wh.crossing("G1", D0, "ARR", nationality="GBR")
    wh.crossing("G1", plus(99), "DEP", nationality="GBR")
    build_histories(wh.con, night=plus(600), policy=POLICY)
    stay = wh.stay(undocumented)
    assert stay["entry_without_visa"] and stay["overstay_days"] == 21 and stay["covered_until"] is None
    stay = wh.stay(visitor)
    assert not stay["entry_without_visa"] and not stay["visa_required"]
    assert stay["covered_until"] == plus(89) and stay["overstay_days"] == 10


def test_a_change_of_visa_policy_recomputes_existing_stays(wh: Warehouse) -> None:
    visitor = wh.crossing("G1", D0, "ARR", nationality="GBR")
    wh.crossing("G1", plus(99), "DEP", nationality="GBR")
    build_histories(wh.con, night=plus(600), policy=POLICY)
    assert wh.stay(visitor)["overstay_days"] == 10  # 90 visa-free days
    longer = HistoryPolicy(host_country="UTO", visa_exempt=("GBR",), visa_free_days=180)
    summary = build_histories(wh.con, night=plus(600), policy=longer)
    assert (summary.mode, summary.reason) == ("full", "the visa policy changed")
    assert wh.stay(visitor)["overstay_days"] == 0
    exempt_no_more = HistoryPolicy(host_country="UTO", visa_exempt=(), visa_free_days=180)
    assert build_histories(wh.con, night=plus(600), policy=exempt_no_more).mode == "full"
    stay = wh.stay(visitor)
    assert stay["visa_required"] and stay["entry_without_visa"]
    assert build_histories(wh.con, night=plus(600), policy=exempt_no_more).mode == "incremental"


def test_two_arrivals_in_a_row_are_counted_not_fatal(wh: Warehouse) -> None:
    first = wh.crossing("P1", D0, "ARR")
    second = wh.crossing("P1", plus(50), "ARR")
    wh.visa("P1", D0, dt.date(2019, 1, 1))
    summary = build_histories(wh.con, night=plus(600), policy=POLICY)
    assert wh.crossings()[second][5] == "repeated_direction"
    assert summary.anomalies == 1
    stay = wh.stay(first)
    assert stay["departure_missing"] and stay["departure_record_id"] is None and stay["end_date"] == plus(50)


def test_stay_authorizations_clip_to_the_stay(wh: Warehouse) -> None:
    arrival = wh.crossing("P1", D0, "ARR")
    wh.crossing("P1", plus(200), "DEP")
    wh.visa("P1", dt.date(2016, 6, 1), plus(99))
    wh.permit("P1", plus(90), dt.date(2020, 1, 1))
    build_histories(wh.con, night=plus(600), policy=POLICY)
    rows = wh.con.execute(
        "SELECT source, valid_from, valid_until FROM stay_authorizations WHERE stay_id = ? ORDER BY valid_from",
        ["S" + arrival],
    ).fetchall()
    assert rows == [("visa", D0, plus(99)), ("permit", plus(90), plus(200))]
    assert wh.stay(arrival)["overstay_days"] == 0
    spells = wh.con.execute(
        "SELECT location, spell_start, spell_end FROM person_spells WHERE person_key = 'P1' ORDER BY spell_start"
    ).fetchall()
    assert spells == [("in", D0, plus(200)), ("out", plus(200), None)]
    documents = wh.con.execute(
        "SELECT source, decision FROM person_authorizations WHERE person_key = 'P1' ORDER BY decided_on"
    ).fetchall()
    assert documents == [("visa", "GRANTED"), ("permit", "GRANTED")]


def test_a_key_held_twice_is_refused_although_no_index_holds_it(wh: Warehouse) -> None:
    """The history tables' keys are checked by the step, not by a PRIMARY KEY (its deletes would cost seconds a
    night): rows a person's rebuild would duplicate are refused, with counts and no key in the message."""
    arrival = wh.crossing("P1", D0, "ARR")
    build_histories(wh.con, night=plus(10), policy=POLICY)
    keys = wh.con.execute(
        "SELECT count(*) FROM duckdb_constraints() WHERE table_name IN ('crossing_classification', 'person_stays') "
        "AND constraint_type = 'PRIMARY KEY'"
    ).fetchall()
    assert keys == [(0,)]
    # a row left behind under another person key (as if that person's rows had not been removed)
    wh.con.execute(
        "INSERT INTO crossing_classification SELECT * REPLACE ('GHOST' AS person_key) FROM crossing_classification"
    )
    wh.crossing("P1", plus(20), "DEP", night=plus(20))  # P1 is touched: the rebuild inserts its rows again
    with pytest.raises(
        PipelineError, match=r"^histories: 1 record_id values held by more than one row of crossing_cl"
    ) as err:
        build_histories(wh.con, night=plus(20), policy=POLICY)
    assert arrival not in str(err.value)


def test_nine_twelve_rule_from_settings(wh: Warehouse) -> None:
    arrival = wh.crossing("P1", D0, "ARR")
    wh.crossing("P1", plus(300), "DEP")
    wh.visa("P1", D0, dt.date(2019, 1, 1))
    build_histories(wh.con, night=plus(700), policy=POLICY)
    assert wh.crossings()[arrival][2] is False  # 300 days: not 12 of 16 months
    nine = RuleParams(window=365, threshold=274)
    summary = build_histories(
        wh.con, night=plus(700), policy=HistoryPolicy(host_country="UTO", params=nine, visa_exempt=("GBR",))
    )
    assert summary.mode == "full"  # the rule changed: everybody is recomputed
    assert wh.crossings()[arrival][2] is True


def test_export_crossings_follows_the_contract(wh: Warehouse, tmp_path: Path) -> None:
    wh.crossing("P1", D0, "ARR")
    wh.crossing("P1", plus(10), "DEP")
    wh.crossing("P2", plus(500), "ARR")
    build_histories(wh.con, night=plus(600), policy=POLICY)
    wh.con.close()
    out = tmp_path / "crossings.csv"
    assert main(["export", "crossings", "--warehouse", str(tmp_path / "wh"), "--out", str(out)]) == 0
    with out.open(encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == EXPORT_COLUMNS
        rows = list(reader)
    assert len(rows) == 3
    assert {r["residence_before"] for r in rows} | {r["residence_after"] for r in rows} <= {"RESIDENT", "NON_RESIDENT"}
    assert {r["long_term_migration"] for r in rows} == {"false", "pending"}
    assert {r["direction"] for r in rows} == {"ARR", "DEP"}
    for r in rows:
        dt.date.fromisoformat(r["crossing_date"])
        dt.date.fromisoformat(r["resolved_date"])


# --- incremental recompute equals full recompute --------------------------------------------------------------

TABLES = {
    "crossing_classification": "SELECT * EXCLUDE (computed_on) FROM crossing_classification ORDER BY record_id",
    "person_stays": "SELECT * FROM person_stays ORDER BY stay_id",
    "stay_authorizations": "SELECT * FROM stay_authorizations ORDER BY ALL",
}

event = st.tuples(
    st.integers(0, 5),  # person
    st.integers(0, 900),  # day
    st.sampled_from(["ARR", "DEP", "VISA", "PERMIT"]),
    st.integers(0, 3),  # the night it arrives
)


@pytest.mark.slow  # forty generated cases of four nights each
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    events=st.lists(event, min_size=1, max_size=40),
    merges=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(1, 3)), max_size=3),
)
def test_incremental_equals_full(tmp_path_factory: pytest.TempPathFactory, events: list, merges: list) -> None:
    root = tmp_path_factory.mktemp("prop")
    wh = Warehouse(connect(root / "wh"))
    nights = [plus(200 + 150 * i) for i in range(4)]
    modes: list[str] = []
    try:
        for n, night in enumerate(nights):
            for person, day, kind, when in sorted(events, key=lambda e: (e[3], e[1])):
                if when != n:
                    continue
                key, nat = f"K{person}", "UTO" if person == 0 else ("GBR" if person == 1 else "CHN")
                if kind in ("ARR", "DEP"):
                    wh.crossing(key, plus(day), kind, nationality=nat, night=night)
                elif kind == "VISA":
                    wh.visa(key, plus(day), plus(day + 120), night=night)
                else:
                    wh.permit(key, plus(day), None if day % 3 == 0 else plus(day + 400), night=night)
            for a, b, when in merges:  # tonight person b's records join person a (merge), or half of them (split)
                if when != n or a == b:
                    continue
                split = (a + b + when) % 2 == 0
                target = f"K{b}x{n}" if split else f"K{a}"
                moved = wh.con.execute(
                    "UPDATE linkage_clusters SET person_key = ? WHERE person_key = ? "
                    + ("AND hash(record_id) % 2 = 0 " if split else "")
                    + "RETURNING source, record_id",
                    [target, f"K{b}"],
                ).fetchall()
                for source, record_id in moved:
                    wh.con.execute(
                        "INSERT OR REPLACE INTO person_keys VALUES (?, ?, ?, ?)", [source, record_id, target, night]
                    )
                if moved:
                    wh.con.execute(
                        "INSERT INTO person_key_history VALUES (?, ?, ?, ?, ?)",
                        [night, f"K{b}", target, "split" if split else "merge", len(moved)],
                    )
            modes.append(build_histories(wh.con, night=night, policy=POLICY).mode)
        assert modes == ["full", "incremental", "incremental", "incremental"]
        incremental = {name: wh.con.execute(sql).fetchall() for name, sql in TABLES.items()}
        build_histories(wh.con, night=nights[-1], policy=POLICY, full=True)
        full = {name: wh.con.execute(sql).fetchall() for name, sql in TABLES.items()}
        assert incremental == full
    finally:
        wh.con.close()
