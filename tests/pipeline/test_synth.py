"""Tests of the synthetic landing-zone generator."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from pipeline.synth import ErrorRates, SynthError, generate

CONTRACT = json.loads((Path(__file__).resolve().parents[2] / "pipeline" / "contract.json").read_text())
START, END = date(2023, 1, 1), date(2024, 12, 31)
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
COUNTRY = re.compile(r"^[A-Z]{1,3}$")
KEYED = ("visa", "permit")


def _read(out: Path, source: str) -> pd.DataFrame:
    files = sorted((out / source).glob("*/*.csv"))
    return pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files], ignore_index=True)


def _digest(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*.csv"))}


def _joined(out: Path, sources: tuple[str, ...]) -> pd.DataFrame:
    truth = pd.read_csv(out / "truth.csv", dtype=str, keep_default_na=False)
    persons = pd.read_csv(out / "persons.csv", dtype=str, keep_default_na=False)
    frames = [_read(out, s).assign(source=s) for s in sources]
    records = pd.concat(frames, ignore_index=True)
    merged = records.merge(truth, on=["source", "record_id"]).merge(persons, on="person_id", suffixes=("", "_true"))
    assert len(merged) == len(records)
    return merged


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("landing")
    generate(out, persons=4000, start=START, end=END, seed=11)
    return out


def test_same_seed_gives_identical_files_and_other_seed_differs(tmp_path: Path) -> None:
    kwargs = {"persons": 600, "start": date(2024, 1, 1), "end": date(2024, 6, 30)}
    generate(tmp_path / "a", seed=3, **kwargs)
    generate(tmp_path / "b", seed=3, **kwargs)
    generate(tmp_path / "c", seed=4, **kwargs)
    a, b, c = _digest(tmp_path / "a"), _digest(tmp_path / "b"), _digest(tmp_path / "c")
    assert a == b
    assert a != c


def test_summary_counts_match_files_and_progress_reaches_total(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    summary = generate(
        tmp_path,
        persons=500,
        start=date(2024, 1, 1),
        end=date(2024, 3, 31),
        seed=5,
        progress=lambda done, total: calls.append((done, total)),
    )
    for source in ("border", "visa", "permit"):
        assert summary.records[source] == len(_read(tmp_path, source))
    assert summary.files == len(list(tmp_path.rglob("*.csv")))
    assert calls[-1][0] == calls[-1][1]
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert summary.as_dict()["total_records"] == summary.total_records


@pytest.mark.parametrize("source", ["border", "visa", "permit"])
def test_files_follow_the_contract(landing: Path, source: str) -> None:
    spec = CONTRACT["sources"][source]["columns"]
    for folder in (landing / source).iterdir():
        assert DATE.match(folder.name)
        assert [f.name for f in folder.iterdir()] == [f"{source}-{folder.name}.csv"]
    frame = _read(landing, source)
    assert set(frame.columns) == set(spec)
    assert frame["record_id"].is_unique
    for name, col in spec.items():
        values = frame[name]
        if not col["nullable"]:
            assert (values != "").all(), name
        present = values[values != ""]
        if col["type"] == "enum":
            assert set(present) <= set(col["values"]), name
        elif col["type"] == "date":
            assert present.str.match(DATE.pattern).all(), name
        elif col["type"] == "timestamp":
            assert present.str.match(TIMESTAMP.pattern).all(), name
        elif col["type"] == "country":
            assert present.str.match(COUNTRY.pattern).all(), name
    day_column = {"border": "crossing_time", "visa": "decision_date", "permit": "issue_date"}[source]
    assert (frame[day_column].str[:10] >= START.isoformat()).all()
    assert (frame[day_column].str[:10] <= END.isoformat()).all()


def test_truth_covers_every_record_exactly_once(landing: Path) -> None:
    truth = pd.read_csv(landing / "truth.csv", dtype=str, keep_default_na=False)
    persons = pd.read_csv(landing / "persons.csv", dtype=str, keep_default_na=False)
    written = pd.concat([_read(landing, s)[["record_id"]].assign(source=s) for s in ("border", "visa", "permit")])
    assert not truth.duplicated(["source", "record_id"]).any()
    assert set(map(tuple, truth[["source", "record_id"]].values)) == set(
        map(tuple, written[["source", "record_id"]].values)
    )
    assert set(truth["person_id"]) <= set(persons["person_id"])
    assert set(persons["initial_status"]) == {"RESIDENT", "NON_RESIDENT"}


def test_citizens_have_no_visas_or_permits(landing: Path) -> None:
    joined = _joined(landing, KEYED)
    assert not joined["kind"].str.startswith("citizen").any()


def test_crossings_mostly_alternate_per_person(landing: Path) -> None:
    border = _joined(landing, ("border",)).sort_values(["person_id", "crossing_time"])
    same = (border["direction"] == border.groupby("person_id")["direction"].shift()).sum()
    pairs = len(border) - border["person_id"].nunique()
    assert pairs > 5000
    assert 0 < same / pairs < 0.03


def test_twins_share_family_name_and_birth_date(landing: Path) -> None:
    persons = pd.read_csv(landing / "persons.csv", dtype=str, keep_default_na=False).set_index("person_id")
    twins = persons[persons["twin_of"] != ""]
    assert len(twins) >= 10
    sibling = persons.loc[twins["twin_of"]].set_index(twins.index)
    assert (twins["family_name"] == sibling["family_name"]).all()
    assert (twins["date_of_birth"] == sibling["date_of_birth"]).all()
    assert (twins["nationality"] == sibling["nationality"]).all()
    assert (twins["given_names"].str.split().str[0] != sibling["given_names"].str.split().str[0]).all()


def test_name_frequencies_are_skewed(landing: Path) -> None:
    persons = pd.read_csv(landing / "persons.csv", dtype=str, keep_default_na=False)
    counts = persons["family_name"].value_counts()
    assert counts.iloc[0] >= 50 * counts.median()
    assert (counts == 1).mean() > 0.5
    chinese = persons.loc[persons["nationality"] == "CHN", "family_name"].value_counts(normalize=True)
    assert chinese.index[0] in {"WANG", "LI", "ZHANG"}
    assert chinese.iloc[:3].sum() > 0.25


def test_border_records_have_fewer_name_errors_than_keyed_ones(landing: Path) -> None:
    joined = _joined(landing, ("border", "visa", "permit"))
    plain = joined[joined["family_name_true"].map(str.isascii) & joined["given_names_true"].map(str.isascii)]
    differs = (plain["family_name"] != plain["family_name_true"]) | (plain["given_names"] != plain["given_names_true"])
    rate = differs.groupby(plain["source"]).mean()
    assert rate["border"] < 0.03
    assert rate["visa"] > 3 * rate["border"]
    assert rate["permit"] > 3 * rate["border"]


def _measure(
    tmp_path: Path, field: str, rate: float, sources: tuple[str, ...] = KEYED, machine_read_factor: float = 0.0
) -> pd.DataFrame:
    rates = replace(ErrorRates.none(), machine_read_factor=machine_read_factor, **{field: rate})
    generate(tmp_path, persons=6000, start=START, end=END, seed=21, rates=rates)
    return _joined(tmp_path, sources)


def _swap(dob: pd.Series) -> pd.Series:
    return dob.str[:4] + "-" + dob.str[8:10] + "-" + dob.str[5:7]


@pytest.mark.parametrize(
    ("field", "rate", "eligible", "hit"),
    [
        (
            "name_swap",
            0.2,
            lambda j: j["family_name_true"] != j["given_names_true"],
            lambda j: (j["family_name"] == j["given_names_true"]) & (j["given_names"] == j["family_name_true"]),
        ),
        (
            "dob_day_month_swap",
            0.3,
            lambda j: (
                (j["date_of_birth_true"].str[8:10].astype(int) <= 12)
                & (j["date_of_birth_true"].str[8:10] != j["date_of_birth_true"].str[5:7])
            ),
            lambda j: j["date_of_birth"] == _swap(j["date_of_birth_true"]),
        ),
        ("dob_missing", 0.1, lambda j: j["date_of_birth_true"] != "", lambda j: j["date_of_birth"] == ""),
        (
            "case_changed",
            0.2,
            lambda j: j["family_name_true"].str.len() > 1,
            lambda j: j["family_name"] != j["family_name"].str.upper(),
        ),
        (
            "compound_shortened",
            0.5,
            lambda j: j["family_name_true"].str.contains(" ") & ~j["family_name_true"].isin(["DE LUCA", "DELA CRUZ"]),
            lambda j: ~j["family_name"].str.contains(" "),
        ),
        ("doc_missing_permit", 0.15, lambda j: j["source"] == "permit", lambda j: j["doc_number"] == ""),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_keyed_error_rates_match_configuration(tmp_path: Path, field: str, rate: float, eligible, hit) -> None:
    joined = _measure(tmp_path, field, rate)
    base = joined[eligible(joined)]
    assert len(base) > 100
    measured = hit(base).mean()
    tolerance = 4 * (rate * (1 - rate) / len(base)) ** 0.5
    assert abs(measured - rate) < tolerance, (field, measured)


def test_border_error_rates_are_scaled_down(tmp_path: Path) -> None:
    joined = _measure(tmp_path, "name_swap", 0.3, ("border",), machine_read_factor=0.1)
    base = joined[joined["family_name_true"] != joined["given_names_true"]]
    swapped = (
        (base["family_name"] == base["given_names_true"]) & (base["given_names"] == base["family_name_true"])
    ).mean()
    assert len(base) > 10000
    assert abs(swapped - 0.03) < 0.006


def test_clean_rates_reproduce_true_identities_on_keyed_records(tmp_path: Path) -> None:
    joined = _measure(tmp_path, "name_swap", 0.0)
    for column in ("family_name", "given_names", "date_of_birth", "sex", "nationality"):
        assert (joined[column] == joined[f"{column}_true"]).all(), column


@pytest.mark.parametrize("bad", [{"typo": 1.5}, {"name_swap": -0.1}])
def test_invalid_rates_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(SynthError):
        ErrorRates(**bad)


def test_invalid_window_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SynthError):
        generate(tmp_path, persons=10, start=END, end=START, seed=1)
