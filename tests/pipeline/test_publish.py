"""Publishing under the purpose register: refusals, protection by each purpose's method, SDMX-CSV files with a
manifest, the ledger, atomic writing and the differencing guard."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest

from pipeline.cli.main import main
from pipeline.warehouse.connection import DB_FILE

NIGHT = "2024-06-30"
PUBLIC, INTERNAL = "public-migration-statistics", "internal-monitoring"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse of 3,000 generated persons run up to 2024-06-30 (statistics computed, nothing published)."""
    from privacy.keys import write_new_key_file

    root = tmp_path_factory.mktemp("publish")
    window = ["--start", "2024-01-01", "--end", "2024-06-30", "--seed", "5", "--names", "realistic"]
    assert main(["synth", "--out", str(root / "landing"), "--persons", "3000", *window]) == 0
    write_new_key_file(root / "key")
    run = ["run", "--date", NIGHT, "--landing", str(root / "landing"), "--warehouse", str(root / "wh")]
    assert main([*run, "--key-file", str(root / "key"), "--quiet"]) in (0, 4)
    shutil.rmtree(root / "wh" / "published", ignore_errors=True)  # the night released the internal purpose
    con = duckdb.connect(str(root / "wh" / DB_FILE))
    con.execute("DELETE FROM release_ledger; DELETE FROM release_cells; DELETE FROM release_refusals")
    con.close()
    return root / "wh"


@pytest.fixture
def warehouse(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "wh"
    shutil.copytree(built, copy)
    return copy


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def query(warehouse: Path, sql: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(warehouse / DB_FILE), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def publish(warehouse: Path, *args: str) -> int:
    return main(["publish", "--date", NIGHT, "--warehouse", str(warehouse), *args])


def test_a_release_is_sdmx_csv_with_a_manifest_and_in_the_ledger(
    warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pysdmx.io import read_sdmx

    from privacy.register import load_register

    assert publish(warehouse, "--reason", "first publication of the series") == 0
    out = capsys.readouterr().out
    assert f"released {PUBLIC} (public)" in out and "off the calendar" in out
    register = load_register()
    for purpose in (PUBLIC, INTERNAL):
        folder = warehouse / "published" / NIGHT / purpose
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["purpose"] == purpose and manifest["audience"] == register.purpose(purpose).audience
        assert manifest["register"] == {"version": register.version, "sha256": register.sha256}
        assert manifest["vintage"] == NIGHT and manifest["data_cutoff"] == NIGHT
        files = sorted(p.name for p in folder.iterdir())
        assert files == sorted(["manifest.json", *(t["file"] for t in manifest["tables"])])
        for table in manifest["tables"]:
            data = (folder / table["file"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == table["sha256"]
            assert table["method"] == register.purpose(purpose).method.name and table["parameters"]
            message = read_sdmx(str(folder / table["file"]))
            (dataset,) = message.data
            assert dataset.short_urn == f"Dataflow={table['structure_id']}"
            assert {"FREQ", "MEASURE", "TIME_PERIOD", "OBS_VALUE", "OBS_STATUS", "CONF_STATUS"} <= set(dataset.data)
            assert set(dataset.data["OBS_STATUS"]) <= {"A", "P"} and set(dataset.data["CONF_STATUS"]) <= {"F", "A", "D"}
    ledger = query(
        warehouse, "SELECT purpose, count(*), bool_and(off_calendar) FROM release_ledger GROUP BY 1 ORDER BY 1"
    )
    assert ledger == [(INTERNAL, 2, False), (PUBLIC, 3, True)]  # nightly monitoring is always on its calendar
    assert query(warehouse, "SELECT count(*) FROM release_cells")[0][0] > 1000
    assert main(["status", "--warehouse", str(warehouse)]) == 0
    assert "latest release per purpose" in capsys.readouterr().out
    assert (warehouse / "reports" / f"release-{NIGHT}-{PUBLIC}.html").exists()


def test_a_public_release_never_shows_1_or_2_and_asking_again_gives_the_same_noise(warehouse: Path) -> None:
    assert publish(warehouse, "--purpose", PUBLIC, "--reason", "r") == 0
    folder = warehouse / "published" / NIGHT / PUBLIC
    first = {p.name: p.read_bytes() for p in folder.glob("*.csv")}
    counts = [
        int(r["OBS_VALUE"]) for name in first for r in rows(folder / name) if r["MEASURE"] != "NET" and r["OBS_VALUE"]
    ]
    assert len(counts) > 500 and min(counts) >= 0 and not {1, 2} & set(counts)
    assert publish(warehouse, "--purpose", PUBLIC, "--reason", "asked again") == 0
    assert {p.name: p.read_bytes() for p in folder.glob("*.csv")} == first  # the same persons, the same noise
    perturbed = query(
        warehouse,
        "SELECT sum(perturbed), sum(cells), max(mean_abs_deviation) FROM release_ledger WHERE purpose = ?",
        [PUBLIC],
    )[0]
    assert 0 < perturbed[0] < perturbed[1] and 0 < perturbed[2] <= 2  # bounded by the maximum deviation


def test_suppressed_cells_cannot_be_narrowed_by_the_intruders_lp(warehouse: Path) -> None:
    """Solve the intruder's LP on the released internal flows: per measure, dimension and year, the table of
    categories by months with its published margins; every primary cell keeps an interval of the protection
    level."""
    from privacy.disclosure.suppression import intruder_intervals, two_way_table

    assert publish(warehouse, "--purpose", INTERNAL) == 0
    released = query(
        warehouse,
        """SELECT c.measure, c.dimension, c.category, c.period_type, c.period, c.released, c.conf_status, s.value
           FROM release_cells c JOIN (
               SELECT 'arrivals' AS measure, period_type, period,
                      CASE WHEN dimension = 'age_5y' THEN 'age' ELSE dimension END AS dimension, category,
                      arrivals AS value
               FROM stat_migration_flows WHERE vintage = ? AND dimension <> 'age_band') s
           USING (measure, period_type, period, dimension, category)
           WHERE c.table_name = 'stat_migration_flows'""",
        [NIGHT],
    )
    assert released and any(r[6] == "A" for r in released) and any(r[6] == "D" for r in released)
    totals = {(r[3], r[4]): r for r in released if r[1] == "total"}
    checked = 0
    for dimension in {r[1] for r in released if r[1] != "total"}:
        cells = [r for r in released if r[1] == dimension]
        categories = sorted({r[2] for r in cells})
        months = sorted({r[4] for r in cells if r[3] == "month"})
        grid = np.zeros((len(categories), len(months)), dtype=np.int64)
        withheld = np.zeros((len(categories) + 1, len(months) + 1), dtype=bool)
        primary = np.zeros_like(withheld)
        for _m, _d, category, period_type, period, value, conf, true in cells:
            row = categories.index(category)
            col = months.index(period) if period_type == "month" else len(months)
            if period_type == "month":
                grid[row, col] = true
            withheld[row, col], primary[row, col] = value is None, conf == "A"
        for period_type, period in totals:
            col = months.index(period) if period_type == "month" else len(months)
            withheld[-1, col] = totals[(period_type, period)][5] is None
        table = two_way_table(grid)  # one half-year: months and their year, categories and their total
        mask = withheld.ravel()
        cells_primary = np.flatnonzero(primary.ravel())
        lo, hi = intruder_intervals(table, mask, cells_primary)
        values = table.values[cells_primary]
        assert np.all(hi[cells_primary] >= values + 3), dimension
        assert np.all(lo[cells_primary] <= values - np.minimum(3, values)), dimension
        checked += cells_primary.size
    assert checked > 20
    shown = [r for r in released if r[5] is not None]
    assert all(r[5] == r[7] for r in shown) and not any(0 < r[5] < 5 for r in shown)  # true values, none small


def test_tables_protected_before_get_the_same_withheld_cells_without_the_solvers(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import privacy.disclosure.suppression as suppression

    assert publish(warehouse, "--purpose", INTERNAL) == 0
    remembered = query(
        warehouse, "SELECT count(*), count(DISTINCT memo_key), min(first_used) FROM release_suppression_memo"
    )
    assert remembered[0][0] == remembered[0][1] > 10 and str(remembered[0][2]) == NIGHT

    def solved(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a remembered table was solved again")

    monkeypatch.setattr(suppression, "secondary_suppress", solved)
    monkeypatch.setattr(suppression, "protection_shortfalls", solved)
    assert publish(warehouse, "--purpose", INTERNAL) == 0
    releases = query(
        warehouse,
        """SELECT list(struct_pack(table_name, measure, period_type, period, dimension, category, released, conf_status)
                   ORDER BY table_name, measure, period_type, period, dimension, category)
           FROM release_cells WHERE purpose = ? GROUP BY release_id""",
        [INTERNAL],
    )
    assert len(releases) == 2 and releases[0] == releases[1]
    assert any(cell["conf_status"] == "D" for cell in releases[0][0])  # secondary suppression was remembered
    assert query(warehouse, "SELECT count(*) FROM release_suppression_memo")[0][0] == remembered[0][0]


def test_a_request_no_purpose_allows_is_refused_in_one_line_and_nothing_is_written(
    warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [
        (["--purpose", PUBLIC, "--table", "stat_overstays", "--reason", "r"], "does not allow stat_overstays"),
        (
            ["--purpose", PUBLIC, "--table", "stat_migration_flows", "--detail", "age=5-year", "--reason", "r"],
            "allows age of stat_migration_flows at 10-year at the finest, not 5-year",
        ),
        (
            ["--purpose", PUBLIC, "--table", "stat_migration_flows", "--detail", "country_of_birth=full"],
            "does not allow the dimension country_of_birth",
        ),
        (["--purpose", PUBLIC], f"purpose {PUBLIC} does not release on {NIGHT} (frequency monthly, day 15)"),
        (["--purpose", "press-office"], "no purpose 'press-office' in the purpose register"),
    ]
    for args, message in cases:
        assert publish(warehouse, *args) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert not (warehouse / "published").exists()
    assert query(warehouse, "SELECT count(*) FROM release_ledger") == [(0,)]
    refused = query(warehouse, "SELECT purpose, asked FROM release_refusals ORDER BY refused_at")
    assert len(refused) == len(cases) and refused[0] == (PUBLIC, "stat_overstays")


def test_a_coarser_detail_than_granted_is_released(warehouse: Path) -> None:
    args = ["--purpose", INTERNAL, "--table", "stat_migration_flows", "--detail", "age=broad", "--period", "year"]
    assert publish(warehouse, *args) == 0
    table = rows(warehouse / "published" / NIGHT / INTERNAL / "stat_migration_flows.csv")
    assert {r["FREQ"] for r in table} == {"A"}
    assert {r["AGE"] for r in table} == {"_T", "Y0T14", "Y15T24", "Y25T44", "Y45T64", "Y_GE65", "_U"} - (
        {"_U"} - {r["AGE"] for r in table}
    )
    assert {r["CITIZENSHIP"] for r in table} == {"_T"}  # only the dimension asked for


def test_a_failure_between_files_leaves_the_previous_release_and_no_partial_directory(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.publish.release as release

    assert publish(warehouse, "--purpose", PUBLIC, "--reason", "r") == 0
    folder = warehouse / "published" / NIGHT / PUBLIC
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    written = []
    original = release.write_file

    def fail_on_second(directory: Path, name: str, data: bytes) -> str:
        written.append(name)
        if len(written) == 2:
            raise OSError(28, "No space left on device", str(directory / name))
        return original(directory, name, data)

    monkeypatch.setattr(release, "write_file", fail_on_second)
    assert publish(warehouse, "--purpose", PUBLIC, "--reason", "again") == 1
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in (warehouse / "published").iterdir()) == [NIGHT]  # no hidden leftovers
    assert query(warehouse, "SELECT count(DISTINCT release_id) FROM release_ledger") == [(1,)]


def test_the_differencing_guard_withholds_a_cell_that_moved_by_fewer_than_the_threshold(warehouse: Path) -> None:
    """A cell released before as 40 and now 41 would isolate one person against that release."""
    import pandas as pd

    from pipeline.publish.protect import differencing_guard

    con = duckdb.connect(str(warehouse / DB_FILE))
    try:
        con.execute(
            """INSERT INTO release_ledger VALUES ('r0', ?, 'ministry-internal', 'stat_overstays', DATE '2024-06-29',
               TIMESTAMP '2024-06-29 03:00', DATE '2024-06-29', DATE '2024-06-29', 'v', 'h', 'suppression', '{}',
               3, 0, 0, 0, NULL, NULL, 'f', 's', false, NULL, 'u')""",
            [INTERNAL],
        )
        con.execute(
            """INSERT INTO release_cells VALUES
               ('r0', ?, 'stat_overstays', 'overstays', 'month', '2024-05', 'total', 'total', 40, 'F'),
               ('r0', ?, 'stat_overstays', 'overstays', 'month', '2024-04', 'total', 'total', 40, 'F'),
               ('r0', ?, 'stat_overstays', 'overstays', 'month', '2024-03', 'total', 'total', NULL, 'A')""",
            [INTERNAL] * 3,
        )
        cells = pd.DataFrame(
            {
                "measure": ["overstays"] * 4,
                "period_type": ["month"] * 4,
                "period": ["2024-05", "2024-04", "2024-03", "2024-02"],
                "dimension": ["total"] * 4,
                "category": ["total"] * 4,
                "value": [41, 47, 2, 9],
            }
        )
        assert differencing_guard(con, cells, INTERNAL, "stat_overstays", 5).tolist() == [True, False, False, False]
        assert differencing_guard(con, cells, PUBLIC, "stat_overstays", 5).tolist() == [False] * 4  # other purpose
    finally:
        con.close()


def test_the_nightly_run_publishes_the_purposes_whose_calendar_day_it_is(built: Path, tmp_path: Path) -> None:
    """The nightly internal purpose is released by the night itself; the monthly public one waits for the 15th."""
    from pipeline.nightly.settings import load_settings
    from pipeline.nightly.steps import publish_step

    warehouse = tmp_path / "wh"
    shutil.copytree(built, warehouse)
    summary = publish_step(load_settings(None, warehouse=warehouse), dt.date(2024, 6, 30), due_only=True)
    assert summary is not None and [r.purpose for r in summary.released] == [INTERNAL]
    assert summary.not_due == [PUBLIC]
    again = publish_step(load_settings(None, warehouse=warehouse), dt.date(2024, 6, 30), due_only=True)
    assert again is not None and again.released == []  # released once per calendar day


RETENTION = (
    "retention = { landing_days = 90, quarantine_days = 180, sealed_identifiers_days = 730, linkage_days = 730, "
    "histories_days = 1825, releases_days = 1825 }"
)


def test_a_differential_privacy_purpose_spends_its_budget_exactly_and_is_refused_when_it_is_spent(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    register = tmp_path / "purposes.toml"
    register.write_text(
        """version = "test-dp"

[[purpose]]
id = "research-dp"
description = "Research extracts under differential privacy"
legal_basis = "Statistics Act s. 15"
owner = "Research data centre"
audience = "ministry-internal"
calendar = { frequency = "nightly" }
method = { name = "dp", epsilon_per_release = 0.3, budget_per_period = 0.9, period = "month" }
RETENTION

[[purpose.tables]]
table = "stat_migration_flows"
measures = ["arrivals", "departures"]
finest_period = "year"
dimensions = { sex = "full" }
""".replace("RETENTION", RETENTION),
        encoding="utf-8",
    )
    monkeypatch.setenv("MIGRALINK_PURPOSES", str(register))
    for _ in range(3):  # 0.3 + 0.3 + 0.3 = 0.9 exactly: three releases fit the month
        assert publish(warehouse) == 0
    assert publish(warehouse) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "research-dp" in err[-1] and "release refused" in err[-1], err
    spent = query(warehouse, "SELECT budget_spent, budget_period FROM release_ledger ORDER BY released_at")
    assert spent == [("3/10", "2024-06")] * 3
    assert query(warehouse, "SELECT count(*) FROM release_refusals WHERE purpose = 'research-dp'") == [(1,)]
    table = rows(warehouse / "published" / NIGHT / "research-dp" / "stat_migration_flows.csv")
    assert table and all(r["OBS_VALUE"] and int(r["OBS_VALUE"]) >= 0 for r in table)


def test_a_purpose_rounding_to_base_3_releases_multiples_of_3_the_same_on_every_asking(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = (Path(__file__).resolve().parents[2] / "privacy" / "purposes.toml").read_text(encoding="utf-8")
    rounded = tmp_path / "purposes.toml"
    old = 'method = { name = "suppression", threshold = 5, protection_level = 3 }'
    assert old in default
    rounded.write_text(default.replace(old, 'method = { name = "rr3" }'), encoding="utf-8")
    monkeypatch.setenv("MIGRALINK_PURPOSES", str(rounded))
    assert publish(warehouse, "--purpose", INTERNAL) == 0
    folder = warehouse / "published" / NIGHT / INTERNAL
    first = {p.name: p.read_bytes() for p in folder.glob("*.csv")}
    values = [int(r["OBS_VALUE"]) for name in first for r in rows(folder / name) if r["MEASURE"] != "NET"]
    assert len(values) > 500 and all(v % 3 == 0 and v >= 0 for v in values)
    assert publish(warehouse, "--purpose", INTERNAL) == 0
    assert {p.name: p.read_bytes() for p in folder.glob("*.csv")} == first


def _jobs(warehouse: Path, night: str = NIGHT) -> tuple[list[object], dict[str, bytes]]:
    from pipeline.publish.presolve import presolve_jobs
    from pipeline.publish.suppress import SuppressionMemo
    from privacy.register import load_register

    con = duckdb.connect(str(warehouse / DB_FILE), read_only=True)
    try:
        register = load_register()
        jobs = presolve_jobs(con, register, dt.date.fromisoformat(night), [p.id for p in register.purposes])
        return list(jobs), SuppressionMemo.load(con).known
    finally:
        con.close()


def test_the_helper_process_finds_the_patterns_the_release_would_find_and_sends_only_data(warehouse: Path) -> None:
    """The tables of the due suppression purposes cross to the helper and back as JSON and Arrow; the helper's
    answer is the in-process solution, pattern for pattern."""
    from pipeline.publish.presolve import Presolver, decode_jobs, decode_mask, encode_jobs, encode_mask, solve
    from pipeline.publish.suppress import SuppressionMemo, suppress_cells

    jobs, _remembered = _jobs(warehouse)
    known = {}  # as if nothing were remembered: every table is solved
    assert [job.table_name for job in jobs] == ["stat_migration_flows", "stat_overstays"]  # internal: nightly
    payload = encode_jobs(jobs, known)
    assert b"pickle" not in payload and payload.split(b"\n", 1)[1][:4] == b"\xff\xff\xff\xff"  # Arrow IPC
    back, known_back = decode_jobs(payload)
    assert known_back == known
    for job, copy in zip(jobs, back, strict=True):
        assert (job.table_name, job.period, job.threshold, job.protection_level) == (
            copy.table_name,
            copy.period,
            copy.threshold,
            copy.protection_level,
        )
        assert job.cells.reset_index(drop=True).equals(copy.cells) and (job.guarded == copy.guarded).all()
    emitted: list[str] = []
    here = solve(jobs, known, lambda key, _mask: emitted.append(key))
    assert len(here) > 10 and emitted == list(here)  # each sent as soon as it is found
    for key, mask in here.items():
        assert decode_mask(encode_mask(key, mask))[0] == key and (decode_mask(encode_mask(key, mask))[1] == mask).all()
    forwards = SuppressionMemo({})  # the release's order finds the same patterns
    for job in jobs:
        suppress_cells(
            job.cells, job.table_name, job.period, job.threshold, job.protection_level, job.guarded, forwards
        )
    assert forwards.new.keys() == here.keys() and all((forwards.new[k] == here[k]).all() for k in here)
    assert list(forwards.new) != list(here)  # ... in another order
    presolver = Presolver()
    presolver.submit(jobs, known)
    there = presolver.found()
    assert there.keys() == here.keys() and all((there[key] == here[key]).all() for key in here)
    assert presolver._process is None  # finished, then stopped


def test_the_release_takes_what_the_helper_has_sent_so_far_and_solves_only_the_rest(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Half way: the helper (last table first) has sent half of its patterns; the release (first table first)
    takes them when it gets there, solves the others, and withholds the cells it withholds alone."""
    import privacy.disclosure.suppression as suppression
    from pipeline.publish.presolve import solve
    from pipeline.publish.suppress import SuppressionMemo, suppress_cells

    jobs, _remembered = _jobs(warehouse)
    everything = solve(jobs, {})
    sent = dict(list(everything.items())[: len(everything) // 2])
    half = len(sent)

    def protect(memo: SuppressionMemo) -> list[tuple[np.ndarray, np.ndarray]]:
        return [
            suppress_cells(
                job.cells, job.table_name, job.period, job.threshold, job.protection_level, job.guarded, memo
            )
            for job in jobs
        ]

    alone = protect(SuppressionMemo({}))
    solved = suppression.secondary_suppress
    calls: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return solved(*args, **kwargs)

    monkeypatch.setattr(suppression, "secondary_suppress", counted)
    memo = SuppressionMemo({})
    memo.offer(sent)
    helped = protect(memo)
    assert len(calls) == len(everything) - half > 0 and half > 0 and not sent  # each sent pattern taken once
    assert memo.new.keys() == everything.keys()  # all saved as found tonight
    for (withheld, sensitive), (withheld_alone, sensitive_alone) in zip(helped, alone, strict=True):
        assert (withheld == withheld_alone).all() and (sensitive == sensitive_alone).all() and withheld.any()


def test_a_helper_that_died_answers_nothing_and_the_release_solves_its_tables(
    warehouse: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from pipeline.publish.presolve import Presolver

    jobs, known = _jobs(warehouse)
    presolver = Presolver()
    process = presolver._process
    assert process is not None
    process.kill()
    process.wait()
    presolver.submit(jobs, known)
    assert presolver.found() == {}
    assert "the release solves what it left" in caplog.text and presolver._process is None
    unused = Presolver()  # given nothing: nothing to wait for, and stopped
    assert unused.found() == {} and unused._process is None


def test_the_helper_starts_only_for_large_suppression_releases_and_never_fails_the_night(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.publish.presolve as presolve

    def cannot(*_args: object, **_kwargs: object) -> None:
        raise OSError("no such file")

    class Given:
        def __init__(self) -> None:
            self.jobs: list[object] = []

        def submit(self, jobs: list[object], _known: object) -> None:
            self.jobs = jobs

    given = Given()
    con = duckdb.connect(str(warehouse / DB_FILE), read_only=True)
    try:
        assert not presolve.worth_it(con)  # no release yet
        assert presolve.hand_over(given, con, dt.date.fromisoformat(NIGHT)) == 2 == len(given.jobs)  # type: ignore[arg-type]
        with monkeypatch.context() as patch:
            patch.setattr(presolve, "presolve_jobs", cannot)
            assert presolve.hand_over(Given(), con, dt.date.fromisoformat(NIGHT)) == 0  # type: ignore[arg-type]
    finally:
        con.close()
    assert publish(warehouse, "--purpose", INTERNAL) == 0
    cells = query(warehouse, "SELECT sum(cells) FROM release_ledger WHERE purpose = ?", [INTERNAL])[0][0]
    con = duckdb.connect(str(warehouse / DB_FILE), read_only=True)
    try:
        monkeypatch.setattr(presolve, "WORTH_CELLS", cells)
        assert presolve.worth_it(con)
        monkeypatch.setattr(presolve, "WORTH_CELLS", cells + 1)
        assert not presolve.worth_it(con)
    finally:
        con.close()
    with presolve.presolving(False) as nothing:
        assert nothing is None

    monkeypatch.setattr(presolve.subprocess, "Popen", cannot)
    with presolve.presolving(True) as nothing:  # a helper that cannot start does not stop the night
        assert nothing is None


def test_a_night_with_the_helper_releases_what_a_night_without_it_releases_without_solving_in_its_own_process(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The night after ``built`` (no new records, a new vintage, nothing remembered): with the helper started, the
    statistics' tables are handed to it and the release takes its patterns; the release files are those of a night
    without it."""
    import pipeline.nightly.steps as steps
    import privacy.disclosure.suppression as suppression
    from pipeline.nightly.settings import load_settings
    from pipeline.nightly.steps import run_nightly

    night, landing, key = dt.date(2024, 7, 1), built.parent / "landing", built.parent / "key"
    released: dict[bool, dict[str, str]] = {}
    for helper in (False, True):
        warehouse = tmp_path / f"wh-{helper}"
        shutil.copytree(built, warehouse)
        con = duckdb.connect(str(warehouse / DB_FILE))
        con.execute("DELETE FROM release_suppression_memo")  # every table is solved tonight
        con.close()
        settings = load_settings(None, landing=landing, warehouse=warehouse, key_file=key)
        with monkeypatch.context() as patch:
            patch.setattr(steps, "worth_presolving", lambda _con, helper=helper: helper)
            if helper:  # the release waits for the helper here (a night takes what has arrived and goes on)
                publish_step = steps.publish_step

                def after_the_helper(*args: Any, presolved: Any = None, **kwargs: Any) -> Any:
                    assert presolved is not None and presolved.found()
                    return publish_step(*args, presolved=presolved, **kwargs)

                patch.setattr(steps, "publish_step", after_the_helper)

                def solved(*_args: object, **_kwargs: object) -> None:
                    raise AssertionError("a table the helper was given was solved in the night's own process")

                patch.setattr(suppression, "secondary_suppress", solved)
                patch.setattr(suppression, "protection_shortfalls", solved)
            result = run_nightly(settings, night, complete_through=night)
        assert result.releases is not None and [r.purpose for r in result.releases.released] == [INTERNAL]
        folder = warehouse / "published" / night.isoformat() / INTERNAL
        manifest = json.loads((folder / "manifest.json").read_text())
        released[helper] = {table["file"]: table["sha256"] for table in manifest["tables"]}
        memo = query(warehouse, "SELECT count(*) FROM release_suppression_memo WHERE first_used = ?", [night])
        assert memo[0][0] > 10  # the patterns found tonight (by the helper or not) are remembered
    assert released[True] == released[False] and len(released[True]) == 2
