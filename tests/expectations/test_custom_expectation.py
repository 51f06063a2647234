"""The custom expectation expect_column_values_to_not_look_like_personal_data and its plain rule functions."""

from __future__ import annotations

import json
from typing import Any

from expectations import import_great_expectations

gx = import_great_expectations()

import numpy as np
import pandas as pd
import pytest
from great_expectations.core.batch_definition import BatchDefinition
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
from great_expectations.expectations.registry import get_expectation_impl

import expectations.custom  # registers the expectation and its metric
from expectations.custom import (
    NAME_WORDS_FILE,
    ExpectColumnValuesToNotLookLikePersonalData,
    looks_like_birth_date,
    looks_like_document_number,
    looks_like_name,
    looks_like_personal_data,
    name_words,
)

EXPECTATION_TYPE = "expect_column_values_to_not_look_like_personal_data"
PERSON_KEY = "P" + "0123456789abcdef" * 2

# Values of the analyst and linkage zones that must never count as personal data.
CLEAN = [
    "ARR",
    "DEP",
    "M",
    "F",
    "X",
    "DEU",
    "D",
    "GBD",
    "UTO",
    "C",
    "TOURIST",
    "WORK",
    "FAMILY",
    "STUDY",
    "EMPLOYMENT",
    "HUMANITARIAN",
    "final",
    "pending",
    "resident",
    "non-resident",
    "repeated arrival",
    PERSON_KEY,
    PERSON_KEY.upper(),
    "B000123",
    "B000000123",
    "V-2024-000123",
    "GRANTED",
    "REFUSED",
    "TEMPORARY",
    "PERMANENT",
    "PROTECTION",
    "education",
    "remunerated activities",
    "other",
    "SHORT_STAY",
    "UTO-CAP-AIR",
    "UTO-HARBOUR",
    "CAPITAL",
    "HIGHLANDS",
    "Hong Kong",
    "Costa Rica",
    "2024-03",
    "2024",
    "12345",
    "RP-0001",
]
MISSING = ["", "   ", None, np.nan]

DATES = [
    "1990-05-17",
    "1990/05/17",
    "17.05.1990",
    "17/05/1990",
    "17-05-1990",
    "19900517",
    "1990-05-17T10:00:00",
    "1990-05-17 10:00",
    "2024-03-01T14:05:00+01:00",
    "1.2.1965",
    "2000-02-29",
]
NOT_DATES = [
    "1990-02-30",
    "1899-12-31",
    "2031-01-01",
    "2024-13-01",
    "19901317",
    "1990-05-17x",
    "17.05.90",
    "2023-02-29",
]
DOCUMENTS = ["X1234567", "C01X00T47", "123456789", "AB 123 456 7", "V998877", "L1234567A", "UV000000123", "PA1234567"]
NOT_DOCUMENTS = [
    "B000123",
    "B000000123",
    "V-2024-000123",
    PERSON_KEY,
    "ABCDE1234567890",
    "AB1234",
    "12 34",
    "X-123-4567",
]
NAMES = [
    "Müller",
    "MÜLLER",
    "José María García",
    "Nguyễn Văn An",
    "NGUYEN VAN AN",
    "VAN AN",
    "Mohammed Al-Hassan",
    "O'Brien",
    "O'Neil",
    "O’Neil",
    "Jean-Luc",
    "Maria Garcia Lopez",
    "HANS PETER",
    "Иванов",
    "Ольга Петрова",
    "Ahmet Yılmaz",
    "  anna  ",
]
NOT_NAMES = ["Maria1", "Maria.Garcia", "J. Smith", "ANNA MARIA LISA SARA EVA EMMA", "ALI", "UTO-NORTH-AIR"]
PERSONAL = DATES + DOCUMENTS + NAMES
RULES = [looks_like_birth_date, looks_like_document_number, looks_like_name, looks_like_personal_data]


def flagged(rule, values: list) -> list:
    """The values that `rule` flags."""
    series = pd.Series(values, dtype=object)
    result = rule(series)
    return series[result.to_numpy()].tolist()


# --- plain rule functions --------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
def test_no_rule_flags_vocabulary_codes_keys_record_ids_or_missing_values(rule):
    assert flagged(rule, CLEAN + MISSING) == []


def test_birth_dates_in_every_format_are_flagged():
    assert flagged(looks_like_birth_date, DATES) == DATES
    assert flagged(looks_like_birth_date, NOT_DATES) == []


def test_document_numbers_are_flagged():
    assert flagged(looks_like_document_number, DOCUMENTS) == DOCUMENTS
    assert flagged(looks_like_document_number, NOT_DOCUMENTS) == []


def test_names_in_several_scripts_and_forms_are_flagged():
    assert flagged(looks_like_name, NAMES) == NAMES
    assert flagged(looks_like_name, NOT_NAMES) == []


def test_personal_data_is_the_or_of_the_rules():
    values = CLEAN + MISSING + PERSONAL
    series = pd.Series(values, dtype=object)
    either = looks_like_birth_date(series) | looks_like_document_number(series) | looks_like_name(series)
    assert looks_like_personal_data(series).equals(either)
    assert flagged(looks_like_personal_data, values) == PERSONAL


def test_result_is_a_boolean_series_on_the_input_index():
    series = pd.Series(["ARR", "Müller", None, "X1234567"], index=[7, 7, 3, 1], dtype=object)
    for rule in RULES:
        result = rule(series)
        assert result.dtype == bool
        assert result.index.equals(series.index)
    assert looks_like_personal_data(series).tolist() == [False, True, False, True]


def test_string_and_non_string_dtypes_are_accepted():
    assert looks_like_personal_data(pd.Series(["Müller", pd.NA, "ARR"], dtype="string")).tolist() == [
        True,
        False,
        False,
    ]
    assert looks_like_document_number(pd.Series([123456789, 42])).tolist() == [True, False]
    assert not looks_like_personal_data(pd.Series([], dtype=object)).any()


def test_ignore_values_never_count():
    series = pd.Series(["HAGEN", "Hagen Berg", "X1234567", "LARS"], dtype=object)
    assert looks_like_personal_data(series).all()
    ignored = looks_like_personal_data(series, ignore_values=["hagen", " x1234567 "])
    assert ignored.tolist() == [False, True, False, True]
    assert looks_like_name(series, ignore_values=["HAGEN"]).tolist() == [False, True, False, True]


def test_name_list_is_casefolded_ascii_without_vocabulary_words():
    words = NAME_WORDS_FILE.read_text(encoding="ascii").split()
    assert len(words) == len(set(words)) > 1000
    assert words == sorted(words)
    assert all(word.isascii() and word.isalpha() and word.islower() and len(word) >= 3 for word in words)
    vocabulary = {"work", "study", "family", "final", "pending", "resident", "tourist", "arr", "dep", "the", "long"}
    assert not vocabulary & name_words()
    assert {"muller", "garcia", "nguyen", "mohammed", "jean", "ivanov"} <= name_words()


# --- Great Expectations ---------------------------------------------------------------------------------------

SUMMARY = {"result_format": "SUMMARY", "partial_unexpected_count": 0}
JSON_FORM: dict[str, Any] = {"type": EXPECTATION_TYPE, "kwargs": {"column": "value"}, "meta": {"severity": "critical"}}


@pytest.fixture(scope="module")
def batch_definition() -> BatchDefinition:
    """A whole-dataframe batch definition of a pandas data source in one ephemeral context for the module."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_pandas("personal_data_tests")
    asset = source.add_dataframe_asset("values")
    return asset.add_batch_definition_whole_dataframe("whole")


def frame(values: list) -> pd.DataFrame:
    return pd.DataFrame({"value": pd.Series(values, dtype=object)})


CLEAN_100 = [CLEAN[i % len(CLEAN)] for i in range(100)]
DIRTY = ["Maria Garcia Lopez", "X1234567", "1990-05-17"]


def test_expectation_is_registered_under_its_snake_case_type():
    assert (
        expectations.custom.ExpectColumnValuesToNotLookLikePersonalData is ExpectColumnValuesToNotLookLikePersonalData
    )
    assert get_expectation_impl(EXPECTATION_TYPE) is ExpectColumnValuesToNotLookLikePersonalData
    assert ExpectColumnValuesToNotLookLikePersonalData(column="value").expectation_type == EXPECTATION_TYPE


def test_expectation_is_built_from_its_json_form():
    expectation = ExpectationConfiguration(**JSON_FORM).to_domain_obj()
    assert isinstance(expectation, ExpectColumnValuesToNotLookLikePersonalData)
    assert expectation.column == "value"
    assert expectation.mostly == 1
    assert expectation.ignore_values is None
    assert expectation.meta == {"severity": "critical"}
    assert expectation.configuration.to_json_dict()["type"] == EXPECTATION_TYPE


def test_clean_values_pass(batch_definition):
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame(CLEAN_100)})
    for expectation in (
        ExpectColumnValuesToNotLookLikePersonalData(column="value"),
        ExpectationConfiguration(**JSON_FORM).to_domain_obj(),
    ):
        result = batch.validate(expectation, result_format=SUMMARY)
        assert result.success
        assert result.result["unexpected_count"] == 0


def test_personal_values_fail_and_never_leak_into_results(batch_definition):
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame(CLEAN_100 + DIRTY)})
    for expectation in (
        ExpectColumnValuesToNotLookLikePersonalData(column="value"),
        ExpectationConfiguration(**JSON_FORM).to_domain_obj(),
    ):
        result = batch.validate(expectation, result_format=SUMMARY)
        assert not result.success
        assert result.result["unexpected_count"] == 3
        assert result.result["partial_unexpected_list"] == []
        dumped = json.dumps(result.to_json_dict())
        assert not any(value in dumped for value in DIRTY)


def test_suite_loaded_from_json_validates(batch_definition):
    suite_json = json.dumps({"name": "personal_data", "expectations": [JSON_FORM]})
    suite = gx.ExpectationSuite(**json.loads(suite_json))
    assert [type(e) for e in suite.expectations] == [ExpectColumnValuesToNotLookLikePersonalData]
    clean = batch_definition.get_batch(batch_parameters={"dataframe": frame(CLEAN_100)})
    assert clean.validate(suite, result_format=SUMMARY).success
    dirty = batch_definition.get_batch(batch_parameters={"dataframe": frame(CLEAN_100 + DIRTY)})
    result = dirty.validate(suite, result_format=SUMMARY)
    assert not result.success
    assert result.results[0].result["unexpected_count"] == 3
    assert result.results[0].result["partial_unexpected_list"] == []


def test_mostly_counts_non_missing_values_and_ignore_values_apply(batch_definition):
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame(CLEAN_100 + DIRTY + [None] * 10)})
    result = batch.validate(
        ExpectColumnValuesToNotLookLikePersonalData(column="value", mostly=0.97), result_format=SUMMARY
    )
    assert result.success  # 3 unexpected of 103 non-missing values: 97.1 % pass
    assert result.result["missing_count"] == 10
    assert result.result["unexpected_count"] == 3
    strict = batch.validate(
        ExpectColumnValuesToNotLookLikePersonalData(column="value", mostly=0.98), result_format=SUMMARY
    )
    assert not strict.success
    ignoring = ExpectationConfiguration(
        type=EXPECTATION_TYPE, kwargs={"column": "value", "ignore_values": ["x1234567"]}
    ).to_domain_obj()
    assert batch.validate(ignoring, result_format=SUMMARY).result["unexpected_count"] == 2
