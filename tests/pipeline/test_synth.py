"""Tests of the synthetic landing-zone generator."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pytest

from pipeline.synth import ErrorRates, SynthError, generate
from pipeline.synth.concentration import name_concentration
from pipeline.synth.generator import COLUMNS
from pipeline.synth.kinds import KIND_AGES, REALISTIC_KIND_AGES, Kind
from pipeline.synth.name_cohorts import COHORT_DECADES, PEAKS, fashion_factors
from pipeline.synth.names import FREQUENCIES, build_pool
from pipeline.synth.population import build_population, draw_names

CONTRACT = json.loads((Path(__file__).resolve().parents[2] / "pipeline" / "ingest" / "contract.json").read_text())
START, END = date(2023, 1, 1), date(2024, 12, 31)
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
COUNTRY = re.compile(r"^[A-Z]{1,3}$")
KEYED = ("visa", "permit")
# sha256 over (relative path, bytes) of every file of the small run in `test_legacy_name_mix_output_is_unchanged`,
# recorded with the generator as it was before the realistic name mix existed.
LEGACY_DIGEST = "c4c7fa0523167be8729bf66061fa13371314c6032285e2ec63e63cd724c1f348"


def _read(out: Path, source: str) -> pd.DataFrame:
    """Every daily file of ``source`` in day order, every column as text (empty fields as empty strings). One
    Arrow read of the files, not one pandas read per file (a 6,000-person landing zone has 2,100 of them)."""
    files = sorted((out / source).glob("*/*.csv"))
    names = COLUMNS[source]
    text = pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False)
    dataset = ds.dataset([str(f) for f in files], format=ds.CsvFileFormat(convert_options=text))
    return dataset.to_table(columns=list(names)).to_pandas()


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


def _tree_digest(out: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(out.rglob("*.csv")):
        digest.update(str(path.relative_to(out)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_legacy_name_mix_output_is_unchanged(tmp_path: Path) -> None:
    kwargs = {"persons": 400, "start": date(2024, 1, 1), "end": date(2024, 6, 30), "seed": 7}
    generate(tmp_path / "default", **kwargs)
    generate(tmp_path / "legacy", name_mix="legacy", **kwargs)
    assert _tree_digest(tmp_path / "default") == LEGACY_DIGEST
    assert _tree_digest(tmp_path / "legacy") == LEGACY_DIGEST


def test_realistic_mix_same_seed_gives_identical_files(tmp_path: Path) -> None:
    kwargs = {"persons": 500, "start": date(2024, 1, 1), "end": date(2024, 3, 31), "seed": 3, "name_mix": "realistic"}
    a = generate(tmp_path / "a", **kwargs)
    generate(tmp_path / "b", **kwargs)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _tree_digest(tmp_path / "a") != LEGACY_DIGEST
    assert a.name_mix == "realistic"
    assert a.as_dict()["name_mix"] == "realistic"


def test_unknown_name_mix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SynthError, match="name mix"):
        generate(tmp_path, persons=10, start=START, end=END, seed=1, name_mix="census")


@pytest.fixture(scope="module")
def realistic_names() -> pd.DataFrame:
    """40,000 male and 40,000 female name draws of each tradition of the realistic mix."""
    pool = build_pool("realistic")
    per = 40_000
    tradition = np.repeat(np.arange(len(pool.traditions)), 2 * per)
    sex = np.tile(np.repeat([0, 1], per), len(pool.traditions)).astype(np.int8)
    family1, _, given1, given2 = draw_names(pool, tradition, sex, np.random.default_rng(5))
    given = pool.strings[given1].copy()
    has = given2 >= 0
    given[has] = given[has] + " " + pool.strings[given2[has]]
    return pd.DataFrame(
        {
            "tradition": np.array(pool.traditions, dtype=object)[tradition],
            "sex": sex,
            "family_name": pool.strings[family1],
            "given_names": given,
        }
    )


@pytest.mark.parametrize(
    ("tradition", "sex", "column", "names", "low", "high"),
    [
        ("vi", None, "family_name", ["NGUYEN"], 0.35, 0.42),  # 38.4 % (Vietnamese name studies)
        ("vi", None, "family_name", ["NGUYEN", "TRAN", "LE"], 0.57, 0.63),
        ("vi", 0, "given_names", ["VAN"], 0.27, 0.33),  # middle name VAN: first word of the given names
        ("vi", 1, "given_names", ["THI"], 0.47, 0.53),
        ("ko", None, "family_name", ["KIM"], 0.20, 0.23),  # 21.5 % (2015 census)
        ("ko", None, "family_name", ["KIM", "LEE", "PARK"], 0.43, 0.47),  # 44.6 %
        ("zh", None, "family_name", ["WANG"], 0.068, 0.077),  # 7.25 % (2007 household registry)
        ("zh", None, "family_name", ["WANG", "LI", "ZHANG", "LIU", "CHEN"], 0.30, 0.32),
        ("tr", 0, "given_names", ["MEHMET"], 0.027, 0.034),  # 3.0 % of men (population register)
        ("tr", None, "family_name", ["YILMAZ"], 0.012, 0.016),
        ("hi", 1, "family_name", ["DEVI"], 0.10, 0.12),  # Indian women's DEVI
        ("hi", 0, "family_name", ["KUMAR", "SINGH"], 0.09, 0.10),
        ("ar", 0, "given_names", ["MOHAMMED"], 0.10, 0.12),  # first of the given names
        ("pt", 1, "given_names", ["MARIA"], 0.11, 0.13),  # 11.8 % of women (2022 census)
        ("es", None, "family_name", ["GARCÍA"], 0.027, 0.033),  # 2.98 % (INE)
        ("en", None, "family_name", ["SMITH"], 0.008, 0.012),
    ],
)
def test_realistic_mix_reproduces_published_shares(
    realistic_names: pd.DataFrame,
    tradition: str,
    sex: int | None,
    column: str,
    names: list[str],
    low: float,
    high: float,
) -> None:
    rows = realistic_names[realistic_names["tradition"] == tradition]
    if sex is not None:
        rows = rows[rows["sex"] == sex]
    values = rows[column].str.split(" ").str[0] if column == "given_names" else rows[column]
    share = values.isin(names).mean()
    assert low <= share <= high, (tradition, names, share)


def test_arabic_family_names_are_often_a_fathers_given_name(realistic_names: pd.DataFrame) -> None:
    arabic = realistic_names[realistic_names["tradition"] == "ar"]
    assert 0.05 <= (arabic["family_name"] == "MOHAMMED").mean() <= 0.065  # half of them patronymic x 11 %


def _given_draws(tradition: str, sex: int, years: np.ndarray | None, seed: int = 11) -> pd.Series:
    """First given names of persons of one tradition and sex of the realistic mix, by birth year or over all ages."""
    pool = build_pool("realistic")
    n = 40_000 if years is None else len(years)
    t = np.full(n, pool.tradition_index(tradition))
    _, _, given1, _ = draw_names(pool, t, np.full(n, sex, np.int8), np.random.default_rng(seed), years)
    return pd.Series(pool.strings[given1])


@pytest.mark.parametrize(
    ("tradition", "sex", "year", "fashionable", "old"),
    [
        ("zh", 0, 1985, "WEI", "JIANGUO"),  # 伟 of the 1980s, 建国 of the 1950s (name reports by decade)
        ("zh", 1, 1985, "JING", "XIUYING"),
        ("vi", 1, 2005, "THI VY", "THI LOAN"),
        ("ko", 1, 2003, "SEOYEON", "YOUNGHEE"),
        ("tr", 1, 2005, "ZEYNEP", "HANİFE"),
    ],
)
def test_cohort_effect_raises_the_names_of_the_birth_decade(
    tradition: str, sex: int, year: int, fashionable: str, old: str
) -> None:
    everyone = _given_draws(tradition, sex, None)
    cohort = _given_draws(tradition, sex, np.full(40_000, year))
    assert (cohort == fashionable).mean() > 1.5 * (everyone == fashionable).mean()
    assert (cohort == old).mean() < 0.5 * (everyone == old).mean()
    # the commonest names of the decade take more of it than the commonest names over all ages take of all
    assert cohort.value_counts(normalize=True).iloc[:5].sum() > everyone.value_counts(normalize=True).iloc[:5].sum()


def test_cohort_effect_keeps_the_published_shares_over_all_decades() -> None:
    years = np.tile(np.array(COHORT_DECADES) + 5, 10_000)
    assert 0.027 <= (_given_draws("tr", 0, years) == "MEHMET").mean() <= 0.034  # 3.0 % of men
    assert 0.11 <= _given_draws("pt", 1, years).str.startswith("MARIA").mean() <= 0.13  # 11.8 % of women
    assert 0.47 <= _given_draws("vi", 1, years).str.startswith("THI ").mean() <= 0.53  # middle names unchanged


def test_fashion_factors_average_one_and_classic_names_swing_less() -> None:
    factors = fashion_factors("en", "male", ["JAMES", "JASON"], [0.033, 0.0066])
    assert factors.mean(axis=0) == pytest.approx([1.0, 1.0])
    assert factors[:, 0].max() < factors[:, 1].max()  # JAMES (3.3 %) is a classic, JASON a fashion of the 1970s
    assert factors[:, 1].argmax() == COHORT_DECADES.index(1970)


def test_peak_tables_name_only_listed_given_names() -> None:
    for (tradition, role), table in PEAKS.items():
        listed = {name for name, _ in getattr(FREQUENCIES[tradition], role)}
        assert set(table) <= listed, (tradition, role, set(table) - listed)
        assert set(table.values()) <= set(COHORT_DECADES)


def test_realistic_workers_are_younger_and_legacy_ages_unchanged() -> None:
    start = int(np.datetime64("2023-01-01", "D").astype(np.int64))
    ages = {}
    for name, table in (("legacy", KIND_AGES), ("realistic", REALISTIC_KIND_AGES)):
        people = build_population(20_000, start, start + 730, build_pool(name), np.random.default_rng(4), table)
        workers = people.kind == int(Kind.WORKER)
        ages[name] = (start - people.dob[workers]) / 365.25
    assert 34 <= np.median(ages["legacy"]) <= 37
    assert 30 <= np.median(ages["realistic"]) <= 33  # labour migrants: most aged 20-40
    assert ((ages["realistic"] >= 20) & (ages["realistic"] < 41)).mean() > 0.8
    assert {k: v for k, v in REALISTIC_KIND_AGES.items() if k != Kind.WORKER} == {
        k: v for k, v in KIND_AGES.items() if k != Kind.WORKER
    }


def test_concentration_of_a_hand_made_person_table() -> None:
    persons = pd.DataFrame(
        [
            ("NGUYEN", "VAN AN", 1990, 0, "VNM", "vi"),
            ("NGUYEN", "VAN AN", 1990, 0, "VNM", "vi"),
            ("NGUYEN", "VAN AN", 1990, 0, "VNM", "vi"),
            ("NGUYEN", "VAN AN", 1991, 0, "VNM", "vi"),  # other birth year
            ("NGUYEN", "VAN AN", 1990, 1, "VNM", "vi"),  # other sex
            ("TRAN", "THI HUONG", 1985, 1, "VNM", "vi"),
            ("ZHANG", "WEI", 1980, 0, "CHN", "zh"),
            ("ZHANG", "WEI", 1980, 0, "CHN", "zh"),
            ("ZHANG", "WEI", 1980, 0, "UTO", "zh"),  # other nationality
            ("LI", "NA", 1982, 1, "CHN", "zh"),
        ],
        columns=["family_name", "given_names", "birth_year", "sex", "nationality", "tradition"],
    )
    c = name_concentration(persons)
    assert (c.persons, c.lookalike_persons, c.groups, c.largest_group) == (10, 5, 2, 3)
    assert c.lookalike_share == pytest.approx(0.5)
    assert c.largest_key == ("NGUYEN", "VAN AN", 1990, 0, "VNM")
    vi, zh = c.traditions["vi"], c.traditions["zh"]
    assert (vi.persons, vi.top_family, vi.top_family_share, vi.top3_family_share) == (6, "NGUYEN", 5 / 6, 1.0)
    assert (vi.top_name, vi.top_name_share) == ("NGUYEN VAN AN", 5 / 6)
    assert (vi.lookalike_share, vi.largest_group) == (0.5, 3)
    assert (zh.top_family_share, zh.top_name, zh.top_name_share) == (0.75, "ZHANG WEI", 0.75)
    assert (zh.lookalike_share, zh.largest_group) == (0.5, 2)
    figures = c.as_dict()
    assert figures["lookalike_persons"] == 5
    assert "NGUYEN" not in json.dumps(figures)


def test_summary_carries_concentration_without_names(tmp_path: Path) -> None:
    summary = generate(tmp_path, persons=800, start=date(2024, 1, 1), end=date(2024, 2, 29), seed=9)
    figures = summary.as_dict()["concentration"]
    assert isinstance(figures, dict)
    assert figures["persons"] == 800
    assert 0 <= figures["lookalike_persons"] <= 800
    persons = pd.read_csv(tmp_path / "persons.csv", dtype=str, keep_default_na=False)
    assert not set(persons["family_name"]) & set(json.dumps(figures).replace('"', " ").split())
