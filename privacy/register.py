"""The purpose register: which purposes may release which statistics, in what detail, protected how, kept how long.

The register is a versioned TOML file (by default the packaged ``privacy/purposes.toml``; ``MIGRALINK_PURPOSES``
may name another). :func:`load_register` reads it and validates it against the models below; a bad file is
refused with one line naming the file and the field (:class:`~privacy.errors.RegisterError`). A request that no
purpose allows is refused with one line naming the purpose and what was asked
(:class:`~privacy.errors.PurposeRefused`), before anything is written.

Fineness: a purpose grants each dimension at its finest detail; a coarser detail is allowed too.

* age: ``5-year`` (finest), then either ``10-year`` or ``broad`` (0-14, 15-24, 25-44, 45-64, 65+): the two overlap,
  so from a grant of one only that one may be released;
* citizenship and country of birth: ``full`` (every country) < ``group:<name>`` (the group's countries and
  ``other``); a group is at least as coarse as another when its countries are a subset of the other's;
* period: ``month`` < ``year``;
* other dimensions have a single detail, ``full``.

Retention: for each kind of data the register's period is the longest any purpose needs; data is kept while some
registered purpose needs it (:meth:`Register.retention_days`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    model_validator,
)

from privacy.errors import PurposeRefused, RegisterError

DEFAULT_PATH = Path(__file__).with_name("purposes.toml")
ENV_VAR = "MIGRALINK_PURPOSES"

MEASURES: dict[str, tuple[str, ...]] = {
    "stat_migration_flows": ("arrivals", "departures", "net_migration"),
    "stat_first_permits": ("first_permits",),
    "stat_resident_stock": ("residents",),
    "stat_overstays": (
        "overstays",
        "overstays_1_30",
        "overstays_31_90",
        "overstays_91_180",
        "overstays_181_365",
        "overstays_over_365",
        "entries_without_visa",
    ),
}
DIMENSIONS: dict[str, tuple[str, ...]] = {
    "stat_migration_flows": ("citizenship", "country_of_birth", "sex", "age", "authorization_category"),
    "stat_first_permits": ("reason", "validity", "citizenship", "sex", "age"),
    "stat_resident_stock": ("citizenship",),
    "stat_overstays": ("citizenship",),
}
COUNTRY_DIMENSIONS = ("citizenship", "country_of_birth")
AGE_DETAILS = ("5-year", "10-year", "broad")  # finest first
PERIODS = ("month", "year")  # finest first
RETENTION_KINDS = ("landing", "quarantine", "sealed_identifiers", "linkage", "histories", "releases")
GROUP_PREFIX = "group:"

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_COUNTRY = re.compile(r"[A-Z]{3}")


class _Problem(ValueError):
    """A validation failure that names the field below the model it was found in."""

    def __init__(self, where: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.where = where


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise ValueError(f"{value!r} is not a lowercase slug (letters, digits and single hyphens, e.g. top-origins)")
    return value


Slug = Annotated[str, AfterValidator(_slug)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Days = Annotated[int, Field(strict=True, ge=1)]
DayOfMonth = Annotated[int, Field(strict=True, ge=1, le=28)]
Month = Annotated[int, Field(strict=True, ge=1, le=12)]
TableName = Literal["stat_migration_flows", "stat_first_permits", "stat_resident_stock", "stat_overstays"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CitizenshipGroup(_Model):
    """Named countries (ISO 3166-1 alpha-3) published one by one; every other citizenship is published as ``other``."""

    description: Text
    members: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_members(self) -> CitizenshipGroup:
        for i, code in enumerate(self.members):
            if not _COUNTRY.fullmatch(code):
                raise _Problem(("members", i), f"{code!r} is not an ISO 3166-1 alpha-3 code in capitals, e.g. UKR")
            if code in self.members[:i]:
                raise _Problem(("members", i), f"{code} is listed twice")
        return self


class NightlyCalendar(_Model):
    """Releases every day (internal monitoring)."""

    frequency: Literal["nightly"]

    def releases_on(self, day: dt.date) -> bool:
        return True


class MonthlyCalendar(_Model):
    """Releases on ``day`` of every month."""

    frequency: Literal["monthly"]
    day: DayOfMonth

    def releases_on(self, day: dt.date) -> bool:
        return day.day == self.day


class QuarterlyCalendar(_Model):
    """Releases on ``day`` of four months three apart (January, April, July and October by default)."""

    frequency: Literal["quarterly"]
    day: DayOfMonth
    months: tuple[Month, ...] = (1, 4, 7, 10)

    @model_validator(mode="after")
    def _check_months(self) -> QuarterlyCalendar:
        if len(set(self.months)) != 4 or len({m % 3 for m in self.months}) != 1:
            raise _Problem(("months",), "must be four months three apart, e.g. [1, 4, 7, 10]")
        return self

    def releases_on(self, day: dt.date) -> bool:
        return day.month in self.months and day.day == self.day


class AnnualCalendar(_Model):
    """Releases once a year, on ``day`` of ``month``."""

    frequency: Literal["annual"]
    month: Month
    day: DayOfMonth

    def releases_on(self, day: dt.date) -> bool:
        return (day.month, day.day) == (self.month, self.day)


Calendar = Annotated[
    NightlyCalendar | MonthlyCalendar | QuarterlyCalendar | AnnualCalendar, Field(discriminator="frequency")
]


class CellKey(_Model):
    """Cell-key perturbation: each count moves by at most ``max_deviation``; counts 1..``block_small`` never appear."""

    name: Literal["cell_key"]
    max_deviation: Annotated[int, Field(strict=True, ge=1)]
    variance: Annotated[float, Field(strict=True, gt=0)]
    block_small: Annotated[int, Field(strict=True, ge=0)]

    @model_validator(mode="after")
    def _check_variance(self) -> CellKey:
        if self.variance > self.max_deviation**2:
            raise _Problem(
                ("variance",),
                f"must be at most max_deviation squared ({self.max_deviation**2}), not {self.variance}",
            )
        return self


class RoundedToThree(_Model):
    """Random rounding to base 3 (every published count is a multiple of 3)."""

    name: Literal["rr3"]
    base: Literal[3] = 3


class Suppression(_Model):
    """Cells below ``threshold`` are suppressed, with secondary suppression to ``protection_level``."""

    name: Literal["suppression"]
    threshold: Annotated[int, Field(strict=True, ge=1)]
    protection_level: Annotated[int, Field(strict=True, ge=1)]


class DifferentialPrivacy(_Model):
    """Differential privacy: each release spends ``epsilon_per_release`` of ``budget_per_period`` per ``period``."""

    name: Literal["dp"]
    epsilon_per_release: Annotated[float, Field(strict=True, gt=0)]
    budget_per_period: Annotated[float, Field(strict=True, gt=0)]
    period: Literal["month", "year"]

    @model_validator(mode="after")
    def _check_budget(self) -> DifferentialPrivacy:
        if self.epsilon_per_release > self.budget_per_period:
            raise _Problem(
                ("epsilon_per_release",),
                f"must be at most budget_per_period ({self.budget_per_period}), not {self.epsilon_per_release}",
            )
        return self


Method = Annotated[CellKey | RoundedToThree | Suppression | DifferentialPrivacy, Field(discriminator="name")]


class Retention(_Model):
    """Days each kind of data is kept for the purpose."""

    landing_days: Days
    quarantine_days: Days
    sealed_identifiers_days: Days
    linkage_days: Days
    histories_days: Days
    releases_days: Days


class TableGrant(_Model):
    """A statistics table a purpose may release: its measures, its finest period and each dimension's finest detail."""

    table: TableName
    measures: tuple[str, ...] = Field(min_length=1)
    finest_period: Literal["month", "year"]
    dimensions: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_table(self) -> TableGrant:
        for i, measure in enumerate(self.measures):
            if measure not in MEASURES[self.table]:
                raise _Problem(
                    ("measures", i), f"{self.table} has no measure {measure!r} ({', '.join(MEASURES[self.table])})"
                )
            if measure in self.measures[:i]:
                raise _Problem(("measures", i), f"{measure} is listed twice")
        for dimension, detail in self.dimensions.items():
            if dimension not in DIMENSIONS[self.table]:
                raise _Problem(
                    ("dimensions", dimension),
                    f"{self.table} has no dimension {dimension!r} ({', '.join(DIMENSIONS[self.table])})",
                )
            if detail not in _details_of(dimension) and not (
                dimension in COUNTRY_DIMENSIONS and detail.startswith(GROUP_PREFIX)
            ):
                raise _Problem(
                    ("dimensions", dimension), f"{detail!r} is not a detail of {dimension} ({_hint(dimension)})"
                )
        return self


class Purpose(_Model):
    """Why an output exists, for whom, on what legal basis, what it may release, how it is protected and kept."""

    id: Slug
    description: Text
    legal_basis: Text
    owner: Text
    audience: Literal["public", "ministry-internal"]
    calendar: Calendar
    method: Method
    retention: Retention
    tables: tuple[TableGrant, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_purpose(self) -> Purpose:
        if self.audience == "public":
            if isinstance(self.method, Suppression) and self.method.threshold < 3:
                raise _Problem(
                    ("method", "threshold"),
                    f"a public purpose needs a suppression threshold of at least 3, not {self.method.threshold}",
                )
            if isinstance(self.method, CellKey) and self.method.block_small < 2:
                raise _Problem(
                    ("method", "block_small"),
                    f"a public purpose must block counts of 1 and 2 (block_small at least 2, not "
                    f"{self.method.block_small})",
                )
        for i, grant in enumerate(self.tables):
            if any(g.table == grant.table for g in self.tables[:i]):
                raise _Problem(("tables", i, "table"), f"{grant.table} is granted twice")
        return self

    def grant(self, table: str) -> TableGrant | None:
        """The grant for ``table``, or ``None`` when this purpose does not release it."""
        return next((g for g in self.tables if g.table == table), None)


class Register(_Model):
    """The whole register file. Load it with :func:`load_register`, which also sets :attr:`sha256` and :attr:`path`."""

    version: Annotated[str, StringConstraints(pattern=r"^\S+$", max_length=64)]
    citizenship_groups: dict[Slug, CitizenshipGroup] = Field(default_factory=dict)
    purposes: tuple[Purpose, ...] = Field(alias="purpose", min_length=1)

    _sha256: str = PrivateAttr(default="")
    _path: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check_references(self) -> Register:
        for i, purpose in enumerate(self.purposes):
            if any(p.id == purpose.id for p in self.purposes[:i]):
                raise _Problem(("purpose", i, "id"), f"{purpose.id} is registered twice")
            for j, grant in enumerate(purpose.tables):
                for dimension, detail in grant.dimensions.items():
                    name = detail.removeprefix(GROUP_PREFIX)
                    if detail.startswith(GROUP_PREFIX) and name not in self.citizenship_groups:
                        raise _Problem(
                            ("purpose", i, "tables", j, "dimensions", dimension),
                            f"no citizenship group {name!r} is defined "
                            f"({', '.join(self.citizenship_groups) or 'none'})",
                        )
        return self

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the register file's exact bytes (recorded with every release, as is :attr:`version`)."""
        return self._sha256

    @property
    def path(self) -> Path | None:
        """The file the register was read from."""
        return self._path

    def purpose(self, purpose_id: str) -> Purpose:
        """The registered purpose ``purpose_id``.

        Raises:
            PurposeRefused: no such purpose; the message lists the registered ones.
        """
        for purpose in self.purposes:
            if purpose.id == purpose_id:
                return purpose
        raise PurposeRefused(
            f"no purpose {purpose_id!r} in the purpose register {self.version} "
            f"(registered: {', '.join(p.id for p in self.purposes)})",
            purpose=purpose_id,
            asked="purpose",
        )

    def check_request(
        self,
        purpose_id: str,
        table: str,
        *,
        measures: Sequence[str] | None = None,
        dimensions: Mapping[str, str] | None = None,
        period: str = "month",
    ) -> TableGrant:
        """Refuse a release that ``purpose_id`` does not allow; return the grant that allows it.

        A detail or period coarser than the granted finest one is allowed (see the module docstring).

        Args:
            purpose_id: The purpose the release is made for.
            table: A statistics table, e.g. ``stat_migration_flows``.
            measures: The measures to release (default: none checked beyond the table).
            dimensions: Each breakdown and its detail, e.g. ``{"age": "10-year", "citizenship": "group:top-origins"}``.
            period: ``month`` or ``year``.

        Returns:
            The purpose's grant for ``table``.

        Raises:
            PurposeRefused: one line naming the purpose and what was asked.

        Examples:
            >>> from privacy.register import load_register
            >>> load_register().check_request("internal-monitoring", "stat_overstays", period="year").table
            'stat_overstays'
        """
        purpose = self.purpose(purpose_id)
        grant = purpose.grant(table)
        if grant is None:
            allowed = ", ".join(g.table for g in purpose.tables)
            raise _refused(purpose_id, table, f"does not allow {table} (it allows {allowed})")
        for measure in measures or ():
            if measure not in grant.measures:
                raise _refused(purpose_id, f"{table}.{measure}", f"does not allow the measure {measure} of {table}")
        if period not in PERIODS:
            raise _refused(
                purpose_id,
                f"{table} per {period}",
                f"cannot release {table} per {period!r}: not a period (month or year)",
            )
        if PERIODS.index(period) < PERIODS.index(grant.finest_period):
            raise _refused(
                purpose_id,
                f"{table} per {period}",
                f"allows {table} per {grant.finest_period} at the finest, not per {period}",
            )
        for dimension, detail in (dimensions or {}).items():
            granted = grant.dimensions.get(dimension)
            if granted is None:
                raise _refused(
                    purpose_id, f"{table} by {dimension}", f"does not allow the dimension {dimension} of {table}"
                )
            self._check_detail(purpose_id, table, dimension, detail, granted)
        return grant

    def _check_detail(self, purpose_id: str, table: str, dimension: str, detail: str, granted: str) -> None:
        """Refuse ``detail`` of ``dimension`` when it is finer than ``granted`` or not a detail at all."""
        asked = f"{table} by {dimension} at {detail}"
        if dimension in COUNTRY_DIMENSIONS and detail.startswith(GROUP_PREFIX):
            group = self.citizenship_groups.get(detail.removeprefix(GROUP_PREFIX))
            if group is None:
                groups = ", ".join(self.citizenship_groups) or "none"
                raise _refused(
                    purpose_id,
                    asked,
                    f"cannot release {dimension} of {table} at {detail}: no such "
                    f"citizenship group in the purpose register {self.version} ({groups})",
                )
            allowed = granted == "full" or set(group.members) <= set(self.citizenship_group(granted))
        elif dimension == "age" and detail in AGE_DETAILS:
            # Ten-year groups and the broad bands overlap (0-9 and 0-14): publishing both would give 10-14 by
            # subtraction, so from either only itself may be released; from five-year groups, any of them.
            allowed = detail == granted or granted == AGE_DETAILS[0]
        elif dimension != "age" and detail == "full":
            allowed = granted == "full"
        else:
            raise _refused(
                purpose_id,
                asked,
                f"cannot release {dimension} of {table} at {detail!r}: not a detail "
                f"of {dimension} ({_hint(dimension)})",
            )
        if not allowed and dimension == "age" and granted != AGE_DETAILS[0] and detail != AGE_DETAILS[0]:
            raise _refused(
                purpose_id,
                asked,
                f"allows age of {table} at {granted} only, not {detail}: ten-year groups and broad bands overlap, "
                "and releasing both would reveal their difference",
            )
        if not allowed:
            raise _refused(purpose_id, asked, f"allows {dimension} of {table} at {granted} at the finest, not {detail}")

    def is_release_day(self, purpose_id: str, day: dt.date) -> bool:
        """Whether the purpose's calendar releases on ``day`` (nightly: every day)."""
        return self.purpose(purpose_id).calendar.releases_on(day)

    def retention_days(self, kind: str) -> int:
        """Days to keep data of ``kind``: the longest period any purpose needs (data is kept while one needs it).

        Args:
            kind: One of landing, quarantine, sealed_identifiers, linkage, histories, releases.
        """
        return max(self._retention(kind).values())

    def retention_purposes(self, kind: str) -> tuple[str, ...]:
        """The purposes that set :meth:`retention_days` for ``kind`` (those needing the longest period)."""
        periods = self._retention(kind)
        longest = max(periods.values())
        return tuple(pid for pid, days in periods.items() if days == longest)

    def _retention(self, kind: str) -> dict[str, int]:
        if kind not in RETENTION_KINDS:
            raise ValueError(f"unknown kind of data {kind!r}; use one of {', '.join(RETENTION_KINDS)}")
        return {p.id: getattr(p.retention, f"{kind}_days") for p in self.purposes}

    def citizenship_group(self, name: str) -> tuple[str, ...]:
        """The countries of citizenship group ``name`` (``group:`` prefix optional); others are published as other.

        Raises:
            PurposeRefused: no such group.
        """
        group = self.citizenship_groups.get(name.removeprefix(GROUP_PREFIX))
        if group is None:
            raise PurposeRefused(
                f"no citizenship group {name.removeprefix(GROUP_PREFIX)!r} in the purpose register {self.version} "
                f"({', '.join(self.citizenship_groups) or 'none defined'})",
                asked=name,
            )
        return group.members

    def summary(self) -> dict[str, Any]:
        """Version, file hash and purposes with their audience, for manifests and logs."""
        return {
            "version": self.version,
            "sha256": self.sha256,
            "purposes": [{"id": p.id, "audience": p.audience} for p in self.purposes],
        }


def load_register(path: Path | None = None) -> Register:
    """Read and validate the purpose register.

    Args:
        path: The register file. Default: the file named by ``MIGRALINK_PURPOSES``, else the packaged
            ``privacy/purposes.toml``.

    Returns:
        The register, with :attr:`Register.sha256` of the file's bytes and :attr:`Register.path`.

    Raises:
        RegisterError: the file cannot be read, is not TOML, or breaks the schema; one line naming the file and the
            field (purposes and list items counted from 1, e.g. ``purpose[2].method.threshold``).
    """
    if path is None:
        env = os.environ.get(ENV_VAR)
        path = Path(env).expanduser() if env else DEFAULT_PATH
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RegisterError(f"{path}: cannot read the purpose register ({exc.strerror})", path=str(path)) from None
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise RegisterError(f"{path}: not UTF-8 text", path=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise RegisterError(f"{path}: not valid TOML: {exc}", path=str(path)) from None
    try:
        register = Register.model_validate(doc)
    except ValidationError as exc:
        raise _register_error(path, doc, exc) from None
    register._sha256 = hashlib.sha256(data).hexdigest()
    register._path = path
    return register


_TAGS = {"method": "name", "calendar": "frequency"}


def _register_error(path: Path, doc: dict[str, Any], exc: ValidationError) -> RegisterError:
    """The first validation error as one line: file, field path (with the purpose id when known), message."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    raw = first["loc"]
    loc: list[str | int] = [  # without pydantic's key marker and the tag it puts after a method or calendar
        part
        for i, part in enumerate(raw)
        if part != "[key]"
        and not (i >= 3 and raw[i - 1] in _TAGS and isinstance(raw[i - 2], int) and raw[i - 3] == "purpose")
    ]
    message = first["msg"].removeprefix("Value error, ")
    problem = (first.get("ctx") or {}).get("error")
    kind = first["type"]
    if isinstance(problem, _Problem):
        loc.extend(problem.where)
        message = str(problem)
    elif kind == "extra_forbidden":
        message = f"unknown key {loc[-1]!r} (not in the register schema)"
    elif kind == "missing":
        message = "missing (required)"
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = _TAGS.get(str(loc[-1]), "name") if loc else "name"
        loc.append(tag)
        ctx = first.get("ctx") or {}
        message = (
            f"unknown {tag} {ctx.get('tag')!r} (use {ctx.get('expected_tags')})"
            if kind == "union_tag_invalid"
            else "missing (required)"
        )
    elif kind != "value_error" and isinstance(first.get("input"), str | int | float | bool):
        message = f"{message} (got {first['input']!r})"
    field = _dotted(loc)
    if len(loc) > 1 and loc[0] == "purpose" and isinstance(loc[1], int):
        purposes = doc.get("purpose")
        entry = purposes[loc[1]] if isinstance(purposes, list) and loc[1] < len(purposes) else None
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            field = f"{field} ({entry['id']})"
    more = len(errors) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return RegisterError(f"{path}: {field}: {message}{tail}", path=str(path), field=_dotted(loc))


def _dotted(loc: Sequence[str | int]) -> str:
    """``("purpose", 0, "method", "threshold")`` as ``purpose[1].method.threshold`` (items counted from 1)."""
    out = ""
    for part in loc:
        out += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(file)"


def _refused(purpose_id: str, asked: str, what: str) -> PurposeRefused:
    """``purpose <id> <what>``, with the purpose and what was asked as fields."""
    return PurposeRefused(f"purpose {purpose_id} {what}", purpose=purpose_id, asked=asked)


def _details_of(dimension: str) -> tuple[str, ...]:
    return AGE_DETAILS if dimension == "age" else ("full",)


def _hint(dimension: str) -> str:
    if dimension == "age":
        return ", ".join(AGE_DETAILS)
    if dimension in COUNTRY_DIMENSIONS:
        return "full or group:<name>"
    return "full"
