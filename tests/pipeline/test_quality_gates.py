"""Quality gates: every suite passes on good data and fails for its named reason on bad data; a night with a
source empty, a source at 10 % and a port missing is held before anything is linked or released; an accepted
hold goes on and is recorded; two generated years of normal nights hold nothing; Data Docs build."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import logging
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from expectations import SUITES_DIR
from pipeline.cli.main import main
from pipeline.errors import ConfigError
from pipeline.ingest.contract import load_contract
from pipeline.nightly.settings import Settings
from pipeline.nightly.steps import ingest_step, run_nightly
from pipeline.quality.bands import count_band_rows, share_band
from pipeline.quality.gates import (
    STAGES,
    check_acceptances,
    configurations_built_once,
    docs_index,
    load_suites,
    parameters,
    row_conditions_applied_once,
    validate_frames,
    vectorizable,
)
from pipeline.quality.volume import simulate_feeds, simulated_holidays
from pipeline.warehouse.connection import DB_FILE
from privacy.audit.heads import new_signing_key_file
from privacy.audit.log import entries
from tests.conftest import query

pytestmark = pytest.mark.quality_gates

NIGHT = dt.date(2024, 6, 5)


# --- suite files -------------------------------------------------------------------------------------------


def test_every_suite_file_loads_with_a_stage_a_batch_and_severities() -> None:
    suites = load_suites()
    assert {s.stage for s in suites} == set(STAGES)
    ids = [i for s in suites for i in s.ids()]
    assert len(ids) == len(set(ids))
    for suite in suites:
        severities = {e["meta"]["severity"] for e in suite.expectations}
        assert severities <= {"critical", "warning"}, suite.name
        assert all(e["meta"]["why"] for e in suite.expectations), suite.name


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d["meta"].update(stage="nightly"), "meta.stage"),
        (lambda d: d["meta"].update(batch="nowhere"), "meta.batch"),
        (lambda d: d["expectations"][0]["meta"].update(severity="fatal"), "severity"),
        (lambda d: d["expectations"][1]["meta"].update(name=d["expectations"][0]["meta"]["name"]), "unique"),
        (lambda d: d.update(name="other"), "name"),
    ],
)
def test_a_bad_suite_file_is_refused_in_one_line_naming_it(change: object, named: str, tmp_path: Path) -> None:
    doc = json.loads((SUITES_DIR / "raw_border.json").read_text())
    change(doc)  # type: ignore[operator]
    (tmp_path / "raw_border.json").write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=named) as raised:
        load_suites(tmp_path)
    assert "raw_border.json" in str(raised.value) and "\n" not in str(raised.value)


def test_accepting_an_unknown_expectation_is_refused() -> None:
    check_acceptances({"raw_volume/feed_volume_low": "port closed for works"})
    with pytest.raises(ConfigError, match="no such expectation"):
        check_acceptances({"raw_volume/no_such_thing": "port closed for works"})
    with pytest.raises(ConfigError, match="needs --reason"):
        check_acceptances({"raw_volume/feed_volume_low": " "})


# --- a passing and a failing fixture for every suite ---------------------------------------------------------


def _raw(n: int = 200, **columns: object) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "record_id": [f"R{i}" for i in range(n)],
            "partition_date": pd.Timestamp(NIGHT),
            "partition_rows": n,
            "sex": "F",
            "nationality": "DEU",
            "doc_issuing_country": "DEU",
            "days_before_partition": 0,
            "age": 35,
            "quarantine_reason": None,
            "direction": "ARR",
            "decision": "GRANTED",
            "visa_category": "C",
            "valid_days": 90,
            "permit_type": "WORK",
            "country_of_birth": "DEU",
        }
    )
    for name, value in columns.items():
        frame[name] = value
    return _with_big(frame)


def _with_big(frame: pd.DataFrame) -> pd.DataFrame:
    """The batch's *_big columns, as the raw batch's SQL makes them (every fixture partition counts as big)."""
    frame = frame.copy()
    for column in ("record_id", "days_before_partition", "age", "valid_days"):
        frame[f"{column}_big"] = frame[column]
    frame["quarantined_big"] = frame["quarantine_reason"].notna()
    return frame


def _bad(frame: pd.DataFrame, column: str, value: object, rows: int) -> pd.DataFrame:
    frame = frame.copy()
    frame[column] = frame[column].astype(object)
    frame.loc[: rows - 1, column] = value
    return _with_big(frame) if "quarantine_reason" in frame.columns else frame


def _bands(kind: str, measure: str, observed: float, low: float, high: float) -> dict[str, object]:
    return {
        "kind": kind,
        "measure": measure,
        "day": NIGHT,
        "observed": observed,
        "low": low,
        "high": high,
        "expected": (low + high) / 2,
        "note": "",
    }


def _measures(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows).astype({"observed": "float64", "low": "float64", "high": "float64"})


GOOD_VOLUMES = [_bands("source", "border", 100, 60, 140), _bands("feed", "border/P1", 30, 10, 60)]
LINKAGE = ["merged_keys", "split_keys", "largest_person_records", "persons_incompatible_birth_dates"]
PSEUDONYMS = pd.DataFrame(
    {
        "source": "border",
        "key_version": 1,
        "has_pseudonyms": True,
        "clk_name_bits": 1024,
        "clk_family_bits": 512,
        "clk_given_bits": 512,
        "has_family_name": True,
        "has_birth_date": True,
        "has_document": True,
        "key_version_known": True,
        "key_version_current": True,
    },
    index=range(100),
)

# suite -> (good frame, bad frame, the expectations the bad frame must fail)
CASES: dict[str, tuple[pd.DataFrame, pd.DataFrame, set[str]]] = {
    "raw_border": (
        _raw(),
        _bad(_bad(_raw(), "direction", "SIDEWAYS", 1), "record_id", "R10", 5),
        {"direction_values", "record_id_unique", "record_id_unique_strict"},
    ),
    "raw_visa": (_raw(), _bad(_raw(), "valid_days", -30, 2), {"valid_period", "valid_period_strict"}),
    "raw_permit": (
        _raw(),
        _bad(_bad(_raw(), "quarantine_reason", "date_of_birth: not a date", 80), "country_of_birth", "XXXX", 1),
        {"quarantine_share", "quarantine_share_critical", "birth_country_codes"},
    ),
    "raw_volume": (
        _measures(GOOD_VOLUMES),
        _measures([_bands("source", "border", 0, 60, 140), _bands("feed", "border/P1", 90, 10, 60)]),
        {"source_volume_low", "feed_volume_high"},
    ),
    "pseudonyms": (
        PSEUDONYMS,
        _bad(_bad(PSEUDONYMS, "key_version_known", False, 1), "has_birth_date", False, 60),
        {"key_version_known", "birth_date_present", "birth_date_present_critical"},
    ),
    "no_personal_data": (
        pd.DataFrame({"table_name": "t", "column_name": "c", "value": ["ARR", "DEP", "DEU", "final", "WORK"] * 4}),
        pd.DataFrame({"table_name": "t", "column_name": "c", "value": ["ARR", "1980-02-03", "X1234567", "DEU"]}),
        {"no_personal_data"},
    ),
    "linkage_measures": (
        _measures(
            [_bands("linkage", m, 2, 0, 10) for m in LINKAGE]
            + [_bands("share", "joined_existing_share", 0.3, 0.2, 0.4)]
        ),
        _measures(
            [_bands("linkage", m, 50 if m == "merged_keys" else 2, 0, 10) for m in LINKAGE]
            + [_bands("share", "joined_existing_share", 0.05, 0.2, 0.4)]
        ),
        {"merges_within_band", "joined_share_low"},
    ),
    "linkage_persons": (
        pd.DataFrame({"birth_year_span": [0] * 99 + [1], "documents": 1}),
        pd.DataFrame({"birth_year_span": [0] * 97 + [12] * 3, "documents": [1] * 99 + [9]}),
        {"birth_years_one_apart", "birth_years_one_apart_critical", "documents_per_person"},
    ),
    "history_crossings": (
        pd.DataFrame({"continues_residence": True, "alternates_or_flagged": True}, index=range(10)),
        pd.DataFrame({"continues_residence": [True] * 9 + [False], "alternates_or_flagged": True}),
        {"residence_continues"},
    ),
    "history_stays": (
        pd.DataFrame({"stay_days": [3, 400], "departure_days": [3, None], "overstay_days": [0, 10]}),
        pd.DataFrame({"stay_days": [3, -2], "departure_days": [3, -2], "overstay_days": [0, 0]}),
        {"stay_ends_after_start", "departure_after_arrival"},
    ),
    "history_measures": (
        _measures([_bands("share", "pending_share", 0.2, 0.1, 0.3), _bands("share", "anomaly_share", 0.01, 0, 0.02)]),
        _measures([_bands("share", "pending_share", 0.2, 0.1, 0.3), _bands("share", "anomaly_share", 0.2, 0, 0.02)]),
        {"anomaly_share_high"},
    ),
    "statistics_cells": (
        pd.DataFrame({"table_name": "t", "measure": "m", "dimension": "total", "value": [0, 5, 9]}),
        pd.DataFrame({"table_name": "t", "measure": "m", "dimension": "total", "value": [0, -5, 9]}),
        {"no_negative_counts"},
    ),
    "statistics_margins": (
        pd.DataFrame({"table_name": "t", "measure": "m", "dimension": "sex", "difference": [0, 0]}),
        pd.DataFrame({"table_name": "t", "measure": "m", "dimension": "sex", "difference": [0, 3]}),
        {"margins_add_up"},
    ),
    "release_cells": (
        pd.DataFrame({"method": "rr3", "measure": "arrivals", "conf_status": "F", "obeys_rule": [True, True]}),
        pd.DataFrame({"method": "rr3", "measure": "arrivals", "conf_status": "F", "obeys_rule": [True, False]}),
        {"disclosure_rule"},
    ),
}


def test_every_suite_has_a_passing_and_a_failing_fixture() -> None:
    assert set(CASES) == {s.name for s in load_suites()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_suite_passes_on_good_data_and_fails_for_the_named_reason(name: str) -> None:
    suite = next(s for s in load_suites() if s.name == name)
    good, bad, failing = CASES[name]
    validated = validate_frames(None, [suite], {name: good}, NIGHT, parameters())[name]
    assert [e["meta"]["name"] for e, v in zip(suite.expectations, validated, strict=True) if not v[0]] == []
    validated = validate_frames(None, [suite], {name: bad}, NIGHT, parameters())[name]
    failed = {e["meta"]["name"] for e, v in zip(suite.expectations, validated, strict=True) if not v[0]}
    assert failed == failing
    counts = [v[2] for e, v in zip(suite.expectations, validated, strict=True) if not v[0]]
    assert all(c is None or c > 0 for c in counts)


def test_a_later_process_reads_the_definitions_back_and_renders_only_changed_suite_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The project keeps each suite's definition between processes: a process that finds it written from the same
    suite file reads it back (writing the project's files again cost about 0.6 s a night); a changed suite is
    written again, and only its page of the Data Docs is rendered again."""
    from pipeline.quality import gates

    chosen = [s for s in load_suites() if s.name in ("raw_volume", "release_cells")]
    frames = {s.name: CASES[s.name][0] for s in chosen}
    project = tmp_path / "quality"

    def new_process() -> None:
        monkeypatch.setattr(gates, "_CONTEXTS", {})
        monkeypatch.setattr(gates, "_DEFINITIONS", {})
        monkeypatch.setattr(gates, "_WRITTEN", set())

    def pages() -> dict[str, float]:
        site = project / "gx" / "uncommitted" / "data_docs" / "local_site" / "expectations"
        return {p.stem: p.stat().st_mtime_ns for p in site.glob("*.html")}

    first = validate_frames(project, chosen, frames, NIGHT, parameters())
    gates.build_docs(project, NIGHT)
    before = pages()
    assert set(before) == {"raw_volume", "release_cells"}

    new_process()
    stored = json.loads((project / gates.DIGESTS).read_text(encoding="utf-8"))
    assert set(stored) == {"raw_volume", "release_cells"}
    assert validate_frames(project, chosen, frames, NIGHT + dt.timedelta(days=1), parameters()) == first
    assert not gates._WRITTEN  # read back, not written
    gates.build_docs(project, NIGHT + dt.timedelta(days=1))
    assert pages() == before  # no suite page rendered again

    new_process()
    changed = dataclasses.replace(chosen[0], version=chosen[0].version + 1)
    validate_frames(project, [changed, chosen[1]], frames, NIGHT + dt.timedelta(days=2), parameters())
    written = gates._WRITTEN
    assert written == {(project, changed.name)}
    gates.build_docs(project, NIGHT + dt.timedelta(days=2))
    after = pages()
    assert after[changed.name] != before[changed.name] and after[chosen[1].name] == before[chosen[1].name]


def test_a_project_removed_or_restored_under_a_running_process_is_read_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A process keeps its Great Expectations context and definitions between nights. When the warehouse directory
    is removed and made again, or restored from a backup taken before a suite changed, the next validation in the
    same process reads the project from its files again instead of failing on what it kept."""
    chosen = [s for s in load_suites() if s.name in ("raw_volume", "release_cells")]
    frames = {s.name: CASES[s.name][0] for s in chosen}
    project = tmp_path / "quality"
    first = validate_frames(project, chosen, frames, NIGHT, parameters())

    shutil.rmtree(project)
    assert validate_frames(project, chosen, frames, NIGHT, parameters()) == first

    shutil.copytree(project, tmp_path / "backup")
    changed = [chosen[1], dataclasses.replace(chosen[0], version=chosen[0].version + 1)]
    validate_frames(project, changed, frames, NIGHT, parameters())
    shutil.rmtree(project)
    shutil.copytree(tmp_path / "backup", project)

    def results() -> dict[str, int]:
        stored = project / "gx" / "uncommitted" / "validations"
        return {s.name: len(list((stored / s.name).rglob("*.json"))) for s in chosen}

    before = results()
    with caplog.at_level(logging.INFO, logger="pipeline.quality.gates"):
        assert validate_frames(project, changed, frames, NIGHT, parameters()) == first
    assert "changed on disk; reading it again" in caplog.text
    assert results() == {name: count + 1 for name, count in before.items()}  # each suite's result stored


@pytest.mark.parametrize("name", sorted(CASES))
def test_nullable_integer_columns_as_floats_give_the_same_results(name: str) -> None:
    """The frames the gates validate have DuckDB's nullable integer columns as float64 (vectorized in Great
    Expectations): every suite's fixtures, good and bad, with NULLs put into their integer columns, give the same
    results either way."""
    suite = next(s for s in load_suites() if s.name == name)
    for frame in CASES[name][:2]:
        nullable = frame.copy()
        for column in nullable.columns:
            if pd.api.types.is_integer_dtype(nullable[column]) and not pd.api.types.is_bool_dtype(nullable[column]):
                nullable[column] = nullable[column].astype("Int64")
                nullable.loc[nullable.index[::3], column] = pd.NA
        converted = vectorizable(nullable)
        assert not any(isinstance(t, pd.api.extensions.ExtensionDtype) and t.kind in "iu" for t in converted.dtypes)
        for data in (frame, nullable):
            assert validate_frames(None, [suite], {name: data}, NIGHT, parameters()) == validate_frames(
                None, [suite], {name: vectorizable(data)}, NIGHT, parameters()
            )


@pytest.mark.parametrize("name", sorted(CASES))
def test_validation_shortcuts_give_the_same_results(name: str) -> None:
    """Great Expectations' whole validation results of every suite's good and bad fixture (each expectation's
    configuration, success, counts, observed values and exception) are the same with each expectation's
    configuration built once, and each row condition's records filtered once, as with the library's own property
    and method, which are put back after the block."""
    from great_expectations.execution_engine.pandas_execution_engine import PandasExecutionEngine
    from great_expectations.expectations.expectation import Expectation
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    from pipeline.quality import gates

    own = Expectation.__dict__["configuration"]
    suite = next(s for s in load_suites() if s.name == name)
    context = gates._context(None)
    definition = gates._definition(context, None, suite, gates._gx(), ExpectationConfiguration)

    def results(frame: pd.DataFrame) -> list[dict[str, object]]:
        validation = definition.run(
            batch_parameters={"dataframe": vectorizable(frame)},
            expectation_parameters=parameters(),
            result_format=gates.RESULT_FORMAT,
        )
        return [r.to_json_dict() for r in validation.results]

    filter_own = PandasExecutionEngine.__dict__["_apply_row_condition_filter"]
    for frame in CASES[name][:2]:
        each_time = results(frame)
        with configurations_built_once(), row_conditions_applied_once():
            assert Expectation.__dict__["configuration"] is not own
            assert PandasExecutionEngine.__dict__["_apply_row_condition_filter"] is not filter_own
            once = results(frame)
        assert Expectation.__dict__["configuration"] is own
        assert PandasExecutionEngine.__dict__["_apply_row_condition_filter"] is filter_own
        assert once == each_time
        assert [r["success"] for r in once] == [r["success"] for r in each_time]
    with pytest.raises(RuntimeError), configurations_built_once(), row_conditions_applied_once():
        raise RuntimeError("a validation that fails")
    assert Expectation.__dict__["configuration"] is own
    assert PandasExecutionEngine.__dict__["_apply_row_condition_filter"] is filter_own


# --- bands ---------------------------------------------------------------------------------------------------


def test_two_generated_years_of_normal_nights_hold_nothing() -> None:
    """The volume suite over every night of two simulated years of realistic feeds (weekday profiles, trend,
    summer peak, holidays, big and tiny feeds): every band row of every night, validated at once. Nothing is
    held; with this seed one Saturday of the small permit feed (15 against an expected 1.7) raises the
    feed_volume_high warning."""
    days = 730
    holidays = simulated_holidays(days)
    feeds = simulate_feeds(days, seed=7)
    start = min(day for history in feeds.values() for day, _n in history)
    nights = [start + dt.timedelta(days=i) for i in range(14, days)]
    by_name = {f"{i}": list(history) for i, history in enumerate(feeds.values())}
    rows = count_band_rows(by_name, nights, alpha=1e-6, kind="feed", holidays=holidays)
    rows += count_band_rows({"all": _total(feeds)}, nights, alpha=1e-6, kind="source", holidays=holidays)
    suite = next(s for s in load_suites() if s.name == "raw_volume")
    frame = _measures(rows)
    validated = validate_frames(None, [suite], {"raw_volume": frame}, NIGHT, parameters())["raw_volume"]
    assert len(frame) == (len(feeds) + 1) * len(nights)
    outcomes = list(zip(suite.expectations, validated, strict=True))
    assert [e["meta"]["name"] for e, v in outcomes if not v[0] and e["meta"]["severity"] == "critical"] == []
    # A warning (a high night of a small feed) may come up, rarely: at most one in 5,000 feed-nights.
    warned = sum(v[2] or 0 for e, v in outcomes if not v[0])
    assert warned <= len(frame) / 5000


def _total(feeds: dict[object, list[tuple[dt.date, int]]]) -> list[tuple[dt.date, int]]:
    total: dict[dt.date, int] = {}
    for history in feeds.values():
        for day, n in history:
            total[day] = total.get(day, 0) + n
    return sorted(total.items())


def test_a_share_band_is_wide_for_few_records_and_narrow_for_many() -> None:
    history = [(2000, 600 + d) for d in range(-10, 10)]
    narrow = share_band(history, 2000, 1e-6)
    wide = share_band(history, 20, 1e-6)
    assert narrow[0] < 0.3 < narrow[1] and narrow[1] - narrow[0] < 0.12
    assert wide[1] - wide[0] > 0.5
    assert share_band(history[:5], 2000, 1e-6)[:2] == (0.0, 1.0)


# --- a held night, end to end ---------------------------------------------------------------------------------

PORTS = ("P1", "P2", "P3", "P4")
FAMILY = [f"FAMILY{chr(65 + i)}{chr(65 + j)}" for i in range(20) for j in range(20)]
GIVEN = [f"GIVEN{chr(65 + i)}{chr(65 + j)}" for i in range(20) for j in range(20)]


def _write_day(landing: Path, day: dt.date, rng: np.random.Generator, volumes: dict[str, float]) -> None:
    """One day's partitions: border (four ports), visa and permit rows with Poisson counts around ``volumes``
    (a source or port missing from ``volumes`` writes nothing), of persons drawn from a pool of 3,000."""
    contract = load_contract()
    for source in ("border", "visa", "permit"):
        rows = []
        keys = [k for k in volumes if k.split("/")[0] == source]
        for key in keys:
            for _ in range(int(rng.poisson(volumes[key]))):
                i = int(rng.integers(3000))  # a pool of persons who come back: linkage has matches to learn from
                birth = dt.date(1950, 1, 1) + dt.timedelta(days=(i * 7919) % 20000)
                person = {
                    "family_name": FAMILY[i % 400],
                    "given_names": GIVEN[(i // 400) % 400],
                    "date_of_birth": birth.isoformat(),
                    "sex": "MF"[i % 2],
                    "nationality": "DEU",
                    "doc_number": f"X{i:09d}",
                    "doc_issuing_country": "DEU",
                }
                if source == "border":
                    rows.append(
                        {
                            "record_id": f"B{day:%Y%m%d}{len(rows)}",
                            "direction": ("ARR", "DEP")[(day.toordinal() + i) % 2],
                            "crossing_time": f"{day}T10:00:00",
                            "port": key.split("/")[1],
                            "doc_type": "P",
                            **person,
                        }
                    )
                elif source == "visa":
                    rows.append(
                        {
                            "record_id": f"V{day:%Y%m%d}{len(rows)}",
                            "visa_number": f"V{i}",
                            "visa_category": "C",
                            "decision": "GRANTED",
                            "decision_date": day.isoformat(),
                            "valid_from": day.isoformat(),
                            "valid_until": _later(day, 90),
                            **person,
                        }
                    )
                else:
                    rows.append(
                        {
                            "record_id": f"R{day:%Y%m%d}{len(rows)}",
                            "permit_number": f"R{i}",
                            "permit_type": "WORK",
                            "reason": "EMPLOYMENT",
                            "issue_date": day.isoformat(),
                            "valid_from": day.isoformat(),
                            "valid_until": _later(day, 365),
                            "country_of_birth": "DEU",
                            "region": "NORTH",
                            **person,
                        }
                    )
        if not rows:
            continue
        folder = landing / source / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "part.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(contract[source].names))
            writer.writeheader()
            writer.writerows(rows)


def _later(day: dt.date, days: int) -> str:
    return (day + dt.timedelta(days=days)).isoformat()


NORMAL = {**{f"border/{p}": 40.0 for p in PORTS}, "visa": 60.0, "permit": 40.0}


@pytest.fixture(scope="module")
def held_night(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    """35 normal days ingested as the history, then a night with permit empty, visa at 10 % and port P3 missing:
    the night is run once and held at the raw gate."""
    root = tmp_path_factory.mktemp("held")
    rng = np.random.default_rng(11)
    for i in range(35):
        _write_day(root / "landing", NIGHT - dt.timedelta(days=35 - i), rng, NORMAL)
    tonight = {k: v for k, v in NORMAL.items() if k not in ("permit", "border/P3")} | {"visa": 6.0}
    _write_day(root / "landing", NIGHT, rng, tonight)
    from privacy.keys import write_new_key_file

    write_new_key_file(root / "k.key")
    new_signing_key_file(root / "k.key.audit.pem")
    settings = Settings(landing=root / "landing", warehouse=root / "wh", key_file=root / "k.key")
    ingest_step(settings, NIGHT - dt.timedelta(days=1))
    return settings, root


def _gate_entries(warehouse: Path) -> list[tuple[str, str]]:
    con = duckdb.connect(str(warehouse / DB_FILE), read_only=True)
    try:
        return [(e["suite"], e["result"]) for _i, e, _h in entries(con) if e["kind"] == "quality_gate"]
    finally:
        con.close()


@pytest.mark.slow
def test_a_night_with_a_source_empty_one_at_ten_percent_and_a_port_missing_is_held_then_accepted(
    held_night: tuple[Settings, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    settings, _root = held_night
    assert settings.warehouse is not None
    result = run_nightly(settings, NIGHT)
    gate = result.held
    assert gate is not None and gate.stage == "raw"
    assert {o.id for o in gate.held_by} == {"raw_volume/source_volume_low", "raw_volume/feed_volume_low"}
    low = next(o for o in gate.held_by if o.name == "source_volume_low")
    assert low.unexpected_count == 2  # visa at 10 %, permit empty
    # Port P3, and visa category C and permit type WORK with their sources.
    assert next(o for o in gate.held_by if o.name == "feed_volume_low").unexpected_count == 3
    message = gate.message()
    assert "raw_volume/source_volume_low" in message and "2 of" in message and "\n" not in message
    # What was ingested stays; nothing was linked or released.
    wh = settings.warehouse
    assert query(wh, f"SELECT count(*) FROM meta_partitions WHERE partition_date = DATE '{NIGHT}'")[0][0] == 2
    assert query(wh, "SELECT count(*) FROM person_keys")[0][0] == 0
    assert query(wh, "SELECT count(*) FROM release_ledger")[0][0] == 0
    assert not (wh / ".night-snapshot.duckdb").exists()
    assert ("raw_volume", "held") in _gate_entries(wh)

    # The command line says the same in one line and exits 3; --accept needs a reason.
    where = ["--landing", str(settings.landing), "--warehouse", str(wh), "--key-file", str(settings.key_file)]
    capsys.readouterr()
    assert main(["run", "--date", str(NIGHT), *where, "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "held" in err and "raw_volume/source_volume_low" in err
    assert main(["run", "--date", str(NIGHT), *where, "--accept", "raw_volume/source_volume_low"]) == 2

    # Accepted (with the reason), the night goes on to linkage, statistics and the nightly release.
    accept = ["--accept", "raw_volume/source_volume_low", "--accept", "raw_volume/feed_volume_low"]
    code = main(["run", "--date", str(NIGHT), *where, *accept, "--reason", "permit system migration", "--quiet"])
    out = capsys.readouterr()
    assert code == 4, out.err  # complete, with the accepted failures shown as warnings
    assert "quality gate raw: passed with warnings" in out.out and "2 accepted" in out.out
    assert sorted(query(wh, "SELECT expectation, reason FROM quality_acceptances")) == [
        ("raw_volume/feed_volume_low", "permit system migration"),
        ("raw_volume/source_volume_low", "permit system migration"),
    ]
    assert query(wh, "SELECT count(*) FROM person_keys")[0][0] > 0
    assert query(wh, f"SELECT count(DISTINCT purpose) FROM release_ledger WHERE release_date = DATE '{NIGHT}'")[0][0]
    stages = query(wh, f"SELECT DISTINCT stage FROM quality_results WHERE night = DATE '{NIGHT}'")
    assert {s for (s,) in stages} == set(STAGES)
    assert ("raw_volume", "accepted") in _gate_entries(wh)

    # The status shows the gates; the Data Docs exist, are linked from the statistics report, and hold no
    # identifier of the landing zone.
    assert main(["status", "--warehouse", str(wh)]) == 0
    assert "last quality gates" in capsys.readouterr().out
    index = docs_index(wh)
    assert index.exists() and "raw_volume" in index.read_text(encoding="utf-8")
    report = next((wh / "reports").glob("statistics-*.html")).read_text(encoding="utf-8")
    assert "data_docs/local_site/index.html" in report
    everything = " ".join(p.read_text(encoding="utf-8", errors="replace") for p in index.parent.rglob("*.html"))
    everything += " ".join(p.read_text(encoding="utf-8") for p in (wh / "quality").rglob("*.json"))
    assert not any(name in everything for name in ("FAMILYAB", "GIVENAB", "X0000"))


def test_the_batches_are_built_in_order_in_a_thread_beside_the_validation_and_a_failing_one_raises(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A gate's batches are DuckDB queries built one after another in a thread of their own, through a cursor, while
    the validation (Python) reads the ones built; a batch that fails raises where it is asked for, and no thread is
    left behind."""
    import threading

    from pipeline.quality import gates
    from pipeline.quality.batches import BatchContext

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("CREATE TABLE t AS SELECT range AS x FROM range(5)")
    built: list[tuple[str, str]] = []

    def batch(name: str, sql: str):
        def build(cursor: duckdb.DuckDBPyConnection, ctx: BatchContext) -> pd.DataFrame:
            built.append((name, threading.current_thread().name))
            return cursor.execute(sql).df()

        return build

    monkeypatch.setitem(gates.BATCHES, "first", batch("first", "SELECT x FROM t WHERE x < 2"))
    monkeypatch.setitem(gates.BATCHES, "second", batch("second", "SELECT count(*)::INTEGER AS n FROM t"))
    monkeypatch.setitem(gates.BATCHES, "broken", batch("broken", "SELECT * FROM no_such_table"))
    suite = gates.SuiteFile("s", 1, "raw", "first", "", (), tmp_path / "s.json")
    suites = [dataclasses.replace(suite, name=n, batch=b) for n, b in (("a", "first"), ("b", "second"))]
    ctx = BatchContext(dt.date(2024, 1, 1))
    with gates.batches_built_beside(con, ctx, suites) as frames:
        assert list(frames) == ["a", "b"]
        assert frames["a"]["x"].tolist() == [0, 1] and frames["b"]["n"].tolist() == [5]
    assert [name for name, _ in built] == ["first", "second"]
    assert {thread for _, thread in built} != {threading.current_thread().name}
    assert all(thread.startswith("quality-batches") for _, thread in built)

    failing = [*suites[:1], dataclasses.replace(suite, name="c", batch="broken")]
    with (
        pytest.raises(duckdb.CatalogException, match="no_such_table"),
        gates.batches_built_beside(con, ctx, failing) as frames,
    ):
        for name in frames:
            frames[name]
    assert not any(t.name.startswith("quality-batches") for t in threading.enumerate())
    con.close()
