"""The purpose register: the default file loads, requests no purpose allows are refused in one line naming the
purpose and what was asked, coarser requests pass, bad files are refused in one line naming the field."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

import privacy
from privacy.errors import PrivacyError, PurposeRefused, RegisterError
from privacy.register import DEFAULT_PATH, RETENTION_KINDS, Register, load_register

PUBLIC = "public-migration-statistics"
INTERNAL = "internal-monitoring"
DEFAULT_TEXT = DEFAULT_PATH.read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def _no_register_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MIGRALINK_PURPOSES", raising=False)


@pytest.fixture(scope="module")
def register() -> Register:
    return load_register(DEFAULT_PATH)


def write_variant(tmp_path: Path, old: str, new: str) -> Path:
    """The default register with ``old`` (which must occur once) replaced by ``new``."""
    assert DEFAULT_TEXT.count(old) == 1, old
    path = tmp_path / "purposes.toml"
    path.write_text(DEFAULT_TEXT.replace(old, new), encoding="utf-8")
    return path


def test_the_default_register_loads_with_its_version_and_hash(register: Register) -> None:
    assert register.version == "2026.11.1"
    assert register.sha256 == hashlib.sha256(DEFAULT_PATH.read_bytes()).hexdigest()
    assert register.path == DEFAULT_PATH
    assert [(p.id, p.audience) for p in register.purposes] == [(PUBLIC, "public"), (INTERNAL, "ministry-internal")]
    assert register.summary() == {
        "version": "2026.11.1",
        "sha256": register.sha256,
        "purposes": [{"id": PUBLIC, "audience": "public"}, {"id": INTERNAL, "audience": "ministry-internal"}],
    }
    assert register.citizenship_group("top-origins")[:2] == ("UKR", "SYR")
    assert register.citizenship_group("group:top-origins") == register.citizenship_group("top-origins")


def test_the_default_register_covers_every_statistics_table(register: Register) -> None:
    granted = {g.table for p in register.purposes for g in p.tables}
    assert granted == {"stat_migration_flows", "stat_first_permits", "stat_resident_stock", "stat_overstays"}


def test_the_register_is_a_public_name_of_privacy_and_its_errors_are_privacy_errors() -> None:
    assert privacy.load_register is load_register and privacy.Register is Register
    assert issubclass(privacy.RegisterError, PrivacyError) and issubclass(privacy.PurposeRefused, PrivacyError)


def test_migralink_purposes_names_another_register_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_variant(tmp_path, 'version = "2026.11.1"', 'version = "2026.12.1"')
    monkeypatch.setenv("MIGRALINK_PURPOSES", str(path))
    assert load_register().version == "2026.12.1"
    assert load_register().path == path
    assert load_register(DEFAULT_PATH).version == "2026.11.1"  # an explicit path wins over the environment


REFUSALS = [
    # (id, purpose, table, keyword arguments, the one-line message)
    (
        "table not granted",
        PUBLIC,
        "stat_overstays",
        {},
        f"purpose {PUBLIC} does not allow stat_overstays "
        "(it allows stat_migration_flows, stat_first_permits, stat_resident_stock)",
    ),
    (
        "unknown table",
        INTERNAL,
        "stat_deaths",
        {},
        f"purpose {INTERNAL} does not allow stat_deaths (it allows stat_migration_flows, stat_overstays)",
    ),
    (
        "dimension not granted",
        PUBLIC,
        "stat_migration_flows",
        {"dimensions": {"country_of_birth": "full"}},
        f"purpose {PUBLIC} does not allow the dimension country_of_birth of stat_migration_flows",
    ),
    (
        "finer age",
        PUBLIC,
        "stat_migration_flows",
        {"dimensions": {"age": "5-year"}},
        f"purpose {PUBLIC} allows age of stat_migration_flows at 10-year at the finest, not 5-year",
    ),
    (
        "broad ages where 10-year is granted (they overlap)",
        PUBLIC,
        "stat_migration_flows",
        {"dimensions": {"age": "broad"}},
        f"purpose {PUBLIC} allows age of stat_migration_flows at 10-year only, not broad: ten-year groups and broad "
        "bands overlap, and releasing both would reveal their difference",
    ),
    (
        "single citizenships where a group is granted",
        PUBLIC,
        "stat_resident_stock",
        {"dimensions": {"citizenship": "full"}},
        f"purpose {PUBLIC} allows citizenship of stat_resident_stock at group:top-origins at the finest, not full",
    ),
    (
        "measure not granted",
        INTERNAL,
        "stat_overstays",
        {"measures": ["overstays_1_30"]},
        f"purpose {INTERNAL} does not allow the measure overstays_1_30 of stat_overstays",
    ),
    (
        "unknown detail",
        INTERNAL,
        "stat_migration_flows",
        {"dimensions": {"age": "3-year"}},
        f"purpose {INTERNAL} cannot release age of stat_migration_flows at '3-year': not a detail of age "
        "(5-year, 10-year, broad)",
    ),
    (
        "unknown group",
        INTERNAL,
        "stat_migration_flows",
        {"dimensions": {"citizenship": "group:neighbours"}},
        f"purpose {INTERNAL} cannot release citizenship of stat_migration_flows at group:neighbours: no such "
        "citizenship group in the purpose register 2026.11.1 (top-origins)",
    ),
    (
        "unknown period",
        INTERNAL,
        "stat_overstays",
        {"period": "week"},
        f"purpose {INTERNAL} cannot release stat_overstays per 'week': not a period (month or year)",
    ),
    (
        "unknown purpose",
        "marketing",
        "stat_migration_flows",
        {},
        f"no purpose 'marketing' in the purpose register 2026.11.1 (registered: {PUBLIC}, {INTERNAL})",
    ),
]


@pytest.mark.parametrize(
    ("purpose", "table", "kwargs", "message"),
    [c[1:] for c in REFUSALS],
    ids=[c[0] for c in REFUSALS],
)
def test_a_request_no_purpose_allows_is_refused_in_one_line(
    register: Register, purpose: str, table: str, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(PurposeRefused) as caught:
        register.check_request(purpose, table, **kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)
    assert caught.value.purpose == purpose


def test_a_finer_period_is_refused(tmp_path: Path) -> None:
    path = write_variant(
        tmp_path,
        'table = "stat_resident_stock"\nmeasures = ["residents"]\nfinest_period = "month"',
        'table = "stat_resident_stock"\nmeasures = ["residents"]\nfinest_period = "year"',
    )
    register = load_register(path)
    with pytest.raises(PurposeRefused) as caught:
        register.check_request(PUBLIC, "stat_resident_stock", period="month")
    assert str(caught.value) == f"purpose {PUBLIC} allows stat_resident_stock per year at the finest, not per month"
    assert register.check_request(PUBLIC, "stat_resident_stock", period="year").table == "stat_resident_stock"


ALLOWED = [
    # (id, purpose, table, keyword arguments)
    ("as granted", PUBLIC, "stat_migration_flows", {"dimensions": {"age": "10-year", "sex": "full"}}),
    ("10-year where 5-year is granted", INTERNAL, "stat_migration_flows", {"dimensions": {"age": "10-year"}}),
    ("broad where 5-year is granted", INTERNAL, "stat_migration_flows", {"dimensions": {"age": "broad"}}),
    ("a group where full is granted", INTERNAL, "stat_overstays", {"dimensions": {"citizenship": "group:top-origins"}}),
    ("the granted group", PUBLIC, "stat_first_permits", {"dimensions": {"citizenship": "group:top-origins"}}),
    ("years where months are granted", PUBLIC, "stat_resident_stock", {"period": "year"}),
    ("totals only", PUBLIC, "stat_resident_stock", {}),
    ("granted measures", INTERNAL, "stat_overstays", {"measures": ["overstays", "entries_without_visa"]}),
]


@pytest.mark.parametrize(("purpose", "table", "kwargs"), [c[1:] for c in ALLOWED], ids=[c[0] for c in ALLOWED])
def test_a_request_as_fine_as_granted_or_coarser_is_allowed(
    register: Register, purpose: str, table: str, kwargs: dict[str, object]
) -> None:
    grant = register.check_request(purpose, table, **kwargs)  # type: ignore[arg-type]
    assert grant.table == table


def test_a_group_of_fewer_named_countries_is_coarser_than_its_parent(tmp_path: Path) -> None:
    path = write_variant(
        tmp_path,
        'members = ["UKR", "SYR", "AFG", "TUR", "IND", "CHN", "NGA", "BRA", "USA", "POL"]',
        'members = ["UKR", "SYR", "AFG", "TUR", "IND", "CHN", "NGA", "BRA", "USA", "POL"]\n\n'
        '[citizenship_groups.top-three]\ndescription = "Three"\nmembers = ["UKR", "SYR", "AFG"]\n\n'
        '[citizenship_groups.elsewhere]\ndescription = "Elsewhere"\nmembers = ["UKR", "FRA"]',
    )
    register = load_register(path)
    ask = {"citizenship": "group:top-three"}
    assert register.check_request(PUBLIC, "stat_resident_stock", dimensions=ask).table == "stat_resident_stock"
    with pytest.raises(PurposeRefused, match="at group:top-origins at the finest, not group:elsewhere"):
        register.check_request(PUBLIC, "stat_resident_stock", dimensions={"citizenship": "group:elsewhere"})


BAD_FILES = [
    # (id, text replaced in the default register, replacement, the one-line message after the file name)
    (
        "unknown key",
        'owner = "Migration statistics unit"',
        'owner = "Migration statistics unit"\ncolour = "blue"',
        f"purpose[1].colour ({PUBLIC}): unknown key 'colour' (not in the register schema)",
    ),
    (
        "unknown top-level key",
        'version = "2026.11.1"',
        'version = "2026.11.1"\nsha256 = "00"',
        "sha256: unknown key 'sha256' (not in the register schema)",
    ),
    (
        "missing field",
        'legal_basis = "Aliens Act s. 45 (monitoring of entry and residence)"\n',
        "",
        f"purpose[2].legal_basis ({INTERNAL}): missing (required)",
    ),
    (
        "bad audience",
        'audience = "public"',
        'audience = "everyone"',
        f"purpose[1].audience ({PUBLIC}): Input should be 'public' or 'ministry-internal' (got 'everyone')",
    ),
    (
        "public purpose with threshold 2",
        'method = { name = "cell_key", max_deviation = 2, variance = 1.0, block_small = 2 }',
        'method = { name = "suppression", threshold = 2, protection_level = 1 }',
        f"purpose[1].method.threshold ({PUBLIC}): a public purpose needs a suppression threshold of at least 3, not 2",
    ),
    (
        "cell key block_small 1 on a public purpose",
        "block_small = 2",
        "block_small = 1",
        f"purpose[1].method.block_small ({PUBLIC}): a public purpose must block counts of 1 and 2 "
        "(block_small at least 2, not 1)",
    ),
    (
        "unknown group reference",
        'dimensions = { citizenship = "group:top-origins" }',
        'dimensions = { citizenship = "group:neighbours" }',
        f"purpose[1].tables[3].dimensions.citizenship ({PUBLIC}): no citizenship group 'neighbours' is defined "
        "(top-origins)",
    ),
    (
        "duplicate purpose ids",
        f'id = "{INTERNAL}"',
        f'id = "{PUBLIC}"',
        f"purpose[2].id ({PUBLIC}): {PUBLIC} is registered twice",
    ),
    (
        "variance beyond the deviation",
        "variance = 1.0",
        "variance = 5.0",
        f"purpose[1].method.variance ({PUBLIC}): must be at most max_deviation squared (4), not 5.0",
    ),
    (
        "unknown method",
        'name = "suppression"',
        'name = "noise"',
        f"purpose[2].method.name ({INTERNAL}): unknown name 'noise' (use 'cell_key', 'rr3', 'suppression', 'dp')",
    ),
    (
        "release day past the 28th",
        "day = 15",
        "day = 31",
        f"purpose[1].calendar.day ({PUBLIC}): Input should be less than or equal to 28 (got 31)",
    ),
    (
        "measure of another table",
        'measures = ["first_permits"]',
        'measures = ["permits"]',
        f"purpose[1].tables[2].measures[1] ({PUBLIC}): stat_first_permits has no measure 'permits' (first_permits)",
    ),
    (
        "dimension the table does not hold",
        'reason = "full"',
        'purpose = "full"',
        f"purpose[1].tables[2].dimensions.purpose ({PUBLIC}): stat_first_permits has no dimension 'purpose' "
        "(reason, validity, citizenship, sex, age)",
    ),
    (
        "age in full",
        'age = "10-year"',
        'age = "full"',
        f"purpose[1].tables[1].dimensions.age ({PUBLIC}): 'full' is not a detail of age (5-year, 10-year, broad)",
    ),
    (
        "lowercase country code",
        '"UKR", "SYR"',
        '"ukr", "SYR"',
        "citizenship_groups.top-origins.members[1]: 'ukr' is not an ISO 3166-1 alpha-3 code in capitals, e.g. UKR",
    ),
    (
        "group name not a slug",
        "[citizenship_groups.top-origins]",
        "[citizenship_groups.Top_Origins]",
        "citizenship_groups.Top_Origins: 'Top_Origins' is not a lowercase slug (letters, digits and single hyphens, "
        "e.g. top-origins)",
    ),
    (
        "unknown calendar frequency",
        'calendar = { frequency = "nightly" }',
        'calendar = { frequency = "weekly" }',
        f"purpose[2].calendar.frequency ({INTERNAL}): unknown frequency 'weekly' (use 'nightly', 'monthly', "
        "'quarterly', 'annual')",
    ),
    (
        "country listed twice",
        '"UKR", "SYR"',
        '"UKR", "UKR"',
        "citizenship_groups.top-origins.members[2]: UKR is listed twice",
    ),
    (
        "zero days",
        "{ landing_days = 90, quarantine_days = 180, sealed_identifiers_days = 730",
        "{ landing_days = 0, quarantine_days = 180, sealed_identifiers_days = 730",
        f"purpose[2].retention.landing_days ({INTERNAL}): Input should be greater than or equal to 1 (got 0)",
    ),
    (
        "a number as text",
        "block_small = 2",
        'block_small = "2"',
        f"purpose[1].method.block_small ({PUBLIC}): Input should be a valid integer (got '2')",
    ),
    (
        "id not a slug",
        f'id = "{INTERNAL}"',
        'id = "Internal Monitoring"',
        "purpose[2].id (Internal Monitoring): 'Internal Monitoring' is not a lowercase slug (letters, digits and "
        "single hyphens, e.g. top-origins)",
    ),
    (
        "a table granted twice",
        'table = "stat_overstays"\nmeasures = ["overstays", "entries_without_visa"]',
        'table = "stat_migration_flows"\nmeasures = ["arrivals"]',
        f"purpose[2].tables[2].table ({INTERNAL}): stat_migration_flows is granted twice",
    ),
    (
        "epsilon beyond the budget",
        'name = "suppression", threshold = 5, protection_level = 3',
        'name = "dp", epsilon_per_release = 2.0, budget_per_period = 1.0, period = "month"',
        f"purpose[2].method.epsilon_per_release ({INTERNAL}): must be at most budget_per_period (1.0), not 2.0",
    ),
]


@pytest.mark.parametrize(("old", "new", "message"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_a_bad_register_file_is_refused_in_one_line_naming_the_field(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = write_variant(tmp_path, old, new)
    with pytest.raises(RegisterError) as caught:
        load_register(path)
    assert str(caught.value) == f"{path}: {message}"
    assert caught.value.field == message.split(" ")[0].rstrip(":")


def test_a_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = write_variant(tmp_path, 'version = "2026.11.1"', "version = 2026.11.1")
    with pytest.raises(RegisterError) as caught:
        load_register(path)
    assert str(caught.value).startswith(f"{path}: not valid TOML: ")
    assert "at line 9, column 18" in str(caught.value) and "\n" not in str(caught.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RegisterError, match=r"nope\.toml: cannot read the purpose register"):
        load_register(tmp_path / "nope.toml")


def test_several_problems_are_counted_on_the_one_line(tmp_path: Path) -> None:
    path = write_variant(tmp_path, 'audience = "public"', 'audience = "everyone"\ncolour = "blue"')
    with pytest.raises(RegisterError, match=r"\(and 1 more problem\)$"):
        load_register(path)


CALENDARS = [
    # (id, calendar in TOML, day, releases)
    ("monthly on the 15th", '{ frequency = "monthly", day = 15 }', dt.date(2026, 1, 15), True),
    ("monthly, another day", '{ frequency = "monthly", day = 15 }', dt.date(2026, 1, 16), False),
    ("nightly", '{ frequency = "nightly" }', dt.date(2026, 1, 16), True),
    ("quarterly in a release month", '{ frequency = "quarterly", day = 10 }', dt.date(2026, 7, 10), True),
    ("quarterly in another month", '{ frequency = "quarterly", day = 10 }', dt.date(2026, 8, 10), False),
    (
        "quarterly, other months",
        '{ frequency = "quarterly", day = 1, months = [2, 5, 8, 11] }',
        dt.date(2026, 11, 1),
        True,
    ),
    ("annual past the 28th", '{ frequency = "annual", month = 3, day = 31 }', dt.date(2026, 3, 31), None),
    ("annual", '{ frequency = "annual", month = 3, day = 20 }', dt.date(2026, 3, 20), True),
    ("annual, another day", '{ frequency = "annual", month = 3, day = 20 }', dt.date(2027, 3, 21), False),
]


@pytest.mark.parametrize(("calendar", "day", "releases"), [c[1:] for c in CALENDARS], ids=[c[0] for c in CALENDARS])
def test_release_days_follow_the_calendar(tmp_path: Path, calendar: str, day: dt.date, releases: bool | None) -> None:
    path = write_variant(tmp_path, 'calendar = { frequency = "monthly", day = 15 }', f"calendar = {calendar}")
    if releases is None:  # days past the 28th are refused: every month has them
        with pytest.raises(RegisterError, match=r"purpose\[1\]\.calendar\.day"):
            load_register(path)
        return
    assert load_register(path).is_release_day(PUBLIC, day) is releases


def test_the_default_calendars(register: Register) -> None:
    assert register.is_release_day(PUBLIC, dt.date(2026, 1, 15))
    assert not register.is_release_day(PUBLIC, dt.date(2026, 1, 16))
    assert all(register.is_release_day(INTERNAL, dt.date(2026, 1, 1) + dt.timedelta(days=d)) for d in range(366))


def test_quarterly_months_must_be_three_apart(tmp_path: Path) -> None:
    path = write_variant(
        tmp_path,
        'calendar = { frequency = "monthly", day = 15 }',
        'calendar = { frequency = "quarterly", day = 15, months = [1, 2, 7, 10] }',
    )
    with pytest.raises(RegisterError, match=r"purpose\[1\]\.calendar\.months .*four months three apart"):
        load_register(path)


def test_retention_is_the_longest_period_any_purpose_needs(tmp_path: Path) -> None:
    path = write_variant(
        tmp_path,
        "retention = { landing_days = 90, quarantine_days = 180, sealed_identifiers_days = 730",
        "retention = { landing_days = 120, quarantine_days = 30, sealed_identifiers_days = 730",
    )
    register = load_register(path)
    assert register.retention_days("landing") == 120 and register.retention_purposes("landing") == (INTERNAL,)
    assert register.retention_days("quarantine") == 180 and register.retention_purposes("quarantine") == (PUBLIC,)
    assert register.retention_days("sealed_identifiers") == 1825
    assert register.retention_days("histories") == 3650
    with pytest.raises(ValueError, match="unknown kind of data 'logs'"):
        register.retention_days("logs")


def test_the_default_retention(register: Register) -> None:
    assert {kind: register.retention_days(kind) for kind in RETENTION_KINDS} == {
        "landing": 90,
        "quarantine": 180,
        "sealed_identifiers": 1825,
        "linkage": 1825,
        "histories": 3650,
        "releases": 3650,
    }
    assert register.retention_purposes("landing") == (PUBLIC, INTERNAL)


def test_the_register_knows_the_tables_the_statistics_hold() -> None:
    """The register's measures are those the statistics tables publish (privacy cannot import them itself)."""
    from pipeline.statistics.tables import MEASURES as STATISTICS_MEASURES
    from privacy.register import MEASURES

    assert MEASURES == STATISTICS_MEASURES
