"""Splink 5 settings for linking pseudonymized border, visa and permit records into persons.

The three sources are unioned into one input with a ``source`` column and deduplicated (``dedupe_only``):
every source holds repeats of its own people (a traveller crosses many times, a permit is renewed), so
within-source pairs must be scored as well as cross-source pairs, and ``link_and_dedupe`` over three tables
would score exactly the same pairs while making the input three registrations instead of one.

Every comparison works on keyed tokens only (equality of HMAC pseudonyms, overlap of token lists, Dice of
the balanced Bloom-filter encodings ``clk_family`` and ``clk_given`` of each name field, and ``clk_name`` of the
full name) and on clear coarse attributes (sex, nationality, issuing country). Custom levels are SQL over
Splink's ``_l``/``_r`` columns.
"""

from __future__ import annotations

from typing import Any

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator, block_on
from splink.internals.blocking_rule_creator import BlockingRuleCreator
from splink.internals.comparison_creator import ComparisonCreator
from splink.internals.comparison_level_creator import ComparisonLevelCreator

from privacy.bloom import dice_sql

CLK_BANDS = (0.92, 0.85)  # full-name encodings: same name 1.0, one typo ~0.9-0.97, unrelated ~0.65-0.8
FIELD_CLK = {"family_name": "clk_family", "given_names": "clk_given"}  # each name field's own encoding
FIELD_CLK_BAND = 0.85  # per-field encodings: below it random pairs pass ten times as often (bench_bloom.py)
# The Dice levels of each name comparison, in order: (encoding column, lower bound). The full-name bands come
# first (near-equal full names are far rarer by chance than a near-equal field); the field's own band then catches
# a typo in that field when the other field is replaced or very different. Chosen by measurement on FEBRL4,
# see docs/bloom-filters.md ("Per-field filters").
CLK_LEVELS: dict[str, tuple[tuple[str, float], ...]] = {
    part: (*(("clk_name", band) for band in CLK_BANDS), (column, FIELD_CLK_BAND)) for part, column in FIELD_CLK.items()
}


def _either_null(column: str) -> str:
    return f'"{column}_l" IS NULL OR "{column}_r" IS NULL'


def equal_sql(column: str, other: str | None = None) -> str:
    """``column_l = other_r`` (``other`` defaults to ``column``)."""
    return f'"{column}_l" = "{other or column}_r"'


def overlap_sql(column: str) -> str:
    """True when two token lists share at least one token."""
    return f'list_has_any("{column}_l", "{column}_r")'


def clk_dice_sql(column: str = "clk_name") -> str:
    """Dice similarity of the two Bloom-filter encodings in ``column`` (the full name by default)."""
    return dice_sql(f'"{column}_l"', f'"{column}_r"')


def swapped_dob_sql() -> str:
    """Day and month exchanged on one side (the swapped token is made under the date-of-birth purpose)."""
    return f"({equal_sql('tok_dob_swapped', 'tok_dob')} OR {equal_sql('tok_dob', 'tok_dob_swapped')})"


def dob_parts_agreeing_sql() -> str:
    """Number of agreeing date-of-birth parts (year, month, day)."""
    terms = [f"coalesce({equal_sql(c)}, false)::INTEGER" for c in ("tok_dob_year", "tok_dob_month", "tok_dob_day")]
    return "(" + " + ".join(terms) + ")"


def _frequency_adjusted(level: ComparisonLevelCreator, column: str) -> ComparisonLevelCreator:
    """``level`` adjusted by the frequency of the value in ``column`` (Splink's term-frequency adjustment).

    An exact level weighs ``m / tf``; a fuzzy level keeps its own m/u, scaled by how much more common than average
    the value is (the frequency against the exact level's u). Splink takes the larger frequency of the two sides,
    so a typo of NGUYEN weighs like NGUYEN.
    """
    return level.configure(tf_adjustment_column=column)


def name_comparison(part: str) -> cl.CustomComparison:
    """Family or given names: exact, swapped, a shared part, phonetic, then the Dice levels of
    :data:`CLK_LEVELS` (full-name and per-field encodings), else. Every level that asserts agreement is adjusted
    by the frequency of the name (:func:`_frequency_adjusted`).

    Before the first level on the field's own encoding comes a second null level: when that encoding is
    missing on a side (a warehouse migrated but not re-keyed yet) and nothing above agreed, the pair has no
    evidence either way rather than the ``else`` weight.
    """
    full, parts, phonetic = f"tok_{part}", f"tok_{part.split('_')[0]}_parts", f"tok_{part.split('_')[0]}_phonetic"
    levels: list[ComparisonLevelCreator | dict[str, Any]] = [
        cll.CustomLevel(_either_null(full), "null").configure(is_null_level=True),
        _frequency_adjusted(cll.CustomLevel(equal_sql(full), "exact"), full),
        _frequency_adjusted(cll.CustomLevel(equal_sql("tok_name_set"), "same name set (swapped)"), full),
        _frequency_adjusted(cll.CustomLevel(overlap_sql(parts), "a shared part"), full),
        _frequency_adjusted(cll.CustomLevel(overlap_sql(phonetic), "phonetic agreement"), full),
    ]
    field, field_null = FIELD_CLK[part], False
    for column, band in CLK_LEVELS[part]:
        if column == field and not field_null:
            missing = _either_null(field)
            if part == "given_names":  # the initials below do not need the encoding: let them through
                missing = f"({missing}) AND NOT coalesce({equal_sql('tok_given_initials')}, false)"
            levels.append(cll.CustomLevel(missing, "no encoding to compare").configure(is_null_level=True))
            field_null = True
        label = f"{'full name' if column == 'clk_name' else part} CLK Dice >= {band}"
        levels.append(_frequency_adjusted(cll.CustomLevel(f"{clk_dice_sql(column)} >= {band}", label), full))
    if part == "given_names":  # abbreviated or partly recorded given names (J P for JOHN PAUL)
        levels.append(_frequency_adjusted(cll.CustomLevel(equal_sql("tok_given_initials"), "same initials"), full))
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(levels, output_column_name=part, comparison_description=f"{part} tokens")


def dob_comparison() -> cl.CustomComparison:
    """Date of birth: exact and day/month swapped (both adjusted by the date's frequency, so a defaulted 1 January
    counts for little), 2 of 3 parts (one keying error), year only, else.

    "Year only" is its own level, trained like the others: the same year with another day *and* month is not one
    keying error, and among true matches it is rare (a defaulted date against a full one), among namesakes of one
    age cohort common, so its weight comes out negative.
    """
    levels: list[ComparisonLevelCreator | dict[str, Any]] = [
        cll.CustomLevel(_either_null("tok_dob"), "null").configure(is_null_level=True),
        _frequency_adjusted(cll.CustomLevel(equal_sql("tok_dob"), "exact"), "tok_dob"),
        _frequency_adjusted(cll.CustomLevel(swapped_dob_sql(), "day and month swapped"), "tok_dob"),
        cll.CustomLevel(f"{dob_parts_agreeing_sql()} >= 2", "two of year, month, day"),
        cll.CustomLevel(equal_sql("tok_dob_year"), "year only"),
        cll.ElseLevel(),
    ]
    return cl.CustomComparison(levels, output_column_name="dob", comparison_description="date of birth tokens")


def exact_comparison(column: str, description: str, tf_key: str | None = None) -> cl.CustomComparison:
    """Null / equal / different; with ``tf_key``, equality is adjusted by the value's frequency."""
    exact: ComparisonLevelCreator = cll.CustomLevel(equal_sql(column), "exact")
    if tf_key:
        exact = exact.configure(tf_adjustment_column=tf_key, disable_tf_exact_match_detection=True)
    levels: list[ComparisonLevelCreator | dict[str, Any]] = [
        cll.CustomLevel(_either_null(column), "null").configure(is_null_level=True),
        exact,
        cll.ElseLevel(),
    ]
    return cl.CustomComparison(levels, output_column_name=column, comparison_description=description)


def document_comparison() -> cl.CustomComparison:
    """Document number and issuing country: exact, at most one keying error apart, another document of the same
    issuing country, else (another issuer: no evidence of its own, fixed at weight 0).

    Another document of the same issuer is a renewal or another person; its weight is what training measures.
    Whether the two documents were in use at the same time (which a renewal never is) changes as records arrive,
    so it is checked by the cluster constraints (:mod:`linkage.cluster`), not in the pair's weight.
    """
    levels: list[ComparisonLevelCreator | dict[str, Any]] = [
        cll.CustomLevel(_either_null("tok_document"), "null").configure(is_null_level=True),
        cll.CustomLevel(equal_sql("tok_document"), "exact"),
        cll.CustomLevel(overlap_sql("tok_document_edits"), "one keying error apart"),
        cll.CustomLevel(equal_sql("doc_issuing_country"), "another document of the same issuer"),
        # Another issuer: a dual national's other passport or a travel document of another state. It comes with
        # another nationality, which the nationality comparison already weighs: no evidence of its own (fixed).
        cll.ElseLevel().configure(m_probability=0.5, u_probability=0.5, fix_m_probability=True, fix_u_probability=True),
    ]
    return cl.CustomComparison(
        levels, output_column_name="tok_document", comparison_description="document number and issuing country"
    )


def comparisons() -> list[ComparisonCreator | dict[str, Any]]:
    """All comparisons of the model, in output order."""
    return [
        name_comparison("family_name"),
        name_comparison("given_names"),
        dob_comparison(),
        exact_comparison("sex", "sex"),
        # Nationality weighs less where the names agreeing with it are concentrated in it (NGUYEN among
        # Vietnamese): see linkage.term_frequencies.
        exact_comparison("nationality", "nationality", tf_key="tfk_name_nationality"),
        document_comparison(),
    ]


def prediction_blocking_rules() -> list[BlockingRuleCreator | dict[str, Any]]:
    """Blocking rules of prediction, chosen with Splink's blocking analysis (docs/linkage.md)."""
    return [
        block_on("tok_document"),
        block_on("tok_name_set", "tok_dob_year"),
        block_on("tok_dob", "tok_family_name"),
        block_on("tok_dob", "tok_given_names"),
        block_on("tok_slk581"),
        # Unknown sex pairs with unknown sex (sources that do not record it still get this rule).
        block_on("tok_dob", "coalesce(sex, '-')", "nationality"),
        # Records without a usable birth date are otherwise blocked by document or name set and year only.
        {"blocking_rule": "l.tok_name_set = r.tok_name_set AND (l.tok_dob IS NULL OR r.tok_dob IS NULL)"},
    ]


def training_blocking_rules() -> list[BlockingRuleCreator]:
    """Blocking rules of the EM passes; each leaves the other comparisons free to be estimated.

    A rule that finds no pairs in the data (a source without sex or documents) is skipped by training, which
    then adds :func:`fallback_training_blocking_rules`.
    """
    return [block_on("tok_dob", "sex"), block_on("tok_document")]


def fallback_training_blocking_rules() -> list[BlockingRuleCreator]:
    """EM passes used only when a primary one was skipped: the birth date alone (data without sex) trains the
    names, and the names train the birth-date levels (data without documents)."""
    return [block_on("tok_dob"), block_on("tok_name_set")]


def deterministic_rules() -> list[str | BlockingRuleCreator]:
    """Near-certain rules used to estimate the prior probability that two records match."""
    return [
        "l.tok_document = r.tok_document AND l.tok_dob = r.tok_dob",
        # Sex unknown on either side (some sources do not record it) does not count against the rule.
        "l.tok_name_set = r.tok_name_set AND l.tok_dob = r.tok_dob "
        "AND (l.sex = r.sex OR l.sex IS NULL OR r.sex IS NULL)",
    ]


def linkage_settings() -> SettingsCreator:
    """The untrained Splink settings."""
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons(),
        blocking_rules_to_generate_predictions=prediction_blocking_rules(),
        additional_columns_to_retain=["entity_id"],
        retain_intermediate_calculation_columns=True,  # mw_<comparison>: the reviewers' agreement pattern
        retain_matching_columns=False,
    )
