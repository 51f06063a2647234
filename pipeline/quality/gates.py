"""Quality gates: the suites under ``expectations/`` validated by Great Expectations at each stage of the night.

A suite file is a Great Expectations suite (``expectations/<name>.json``) whose ``meta`` names its ``version``,
its ``stage`` (:data:`STAGES`) and its batch (:data:`pipeline.quality.batches.BATCHES`), and whose expectations
each carry ``meta.name`` and ``meta.severity``:

* ``critical``: a failure holds the night at this gate. What the steps before it committed stays (the ingested
  partitions, the links); nothing after it runs, so nothing is released; ``migralink run`` exits 3 with one line
  naming the suite, the expectation and the failing count.
* ``warning``: recorded and shown; the night goes on.

An operator accepts a held expectation for one night (``migralink run --date D --accept SUITE/NAME --reason
TEXT``): the acceptance is kept in ``quality_acceptances`` and the privacy log, and holds for every later run of
that night. Results go to ``quality_results`` (counts and observed numbers only) and, as Great Expectations
validation results, to the Data Docs under ``<warehouse>/quality`` (results stored with no unexpected values:
``partial_unexpected_count`` 0). Batches hold no identifiers in the first place (:mod:`pipeline.quality.batches`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from expectations import SUITES_DIR, import_great_expectations
from pipeline.errors import ConfigError
from pipeline.quality.batches import BATCHES, BatchContext
from pipeline.warehouse.connection import insert_rows, transaction
from privacy.audit.log import append as audit

log = logging.getLogger(__name__)

STAGES = ("raw", "linkage", "statistics", "releases")
SEVERITIES = ("critical", "warning")
QUALITY_DIR = "quality"  # under the warehouse: the Great Expectations project and its Data Docs
KEEP_RESULTS = 7  # validation results kept per suite for the Data Docs (the warehouse keeps every night's counts)
# BASIC: the counts the gates record (element and unexpected counts, observed values), without SUMMARY's tallies of
# unexpected values, which nothing here keeps (a quarter of the validation's time on a night's batches).
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0, "include_unexpected_rows": False}


@dataclass(frozen=True)
class SuiteFile:
    """One suite file, checked: its name, version, stage, batch and expectations (as in the file)."""

    name: str
    version: int
    stage: str
    batch: str
    description: str
    expectations: tuple[dict[str, Any], ...]
    path: Path

    def ids(self) -> list[str]:
        return [f"{self.name}/{e['meta']['name']}" for e in self.expectations]


def load_suites(directory: Path = SUITES_DIR) -> list[SuiteFile]:
    """Every ``*.json`` suite under ``directory``, checked; a bad file raises :class:`ConfigError` naming it."""
    suites = [_load_suite(path) for path in sorted(directory.glob("*.json"))]
    if not suites:
        raise ConfigError(f"no quality suites in {directory}")
    return suites


def _load_suite(path: Path) -> SuiteFile:
    def bad(what: str) -> ConfigError:
        return ConfigError(f"quality suite {path}: {what}")

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise bad(f"not readable JSON ({exc})") from None
    meta = doc.get("meta") or {}
    if doc.get("name") != path.stem:
        raise bad(f"name must be the file's name {path.stem!r}")
    if not isinstance(meta.get("version"), int):
        raise bad("meta.version must be a whole number")
    if meta.get("stage") not in STAGES:
        raise bad(f"meta.stage must be one of {', '.join(STAGES)}")
    if meta.get("batch") not in BATCHES:
        raise bad(f"meta.batch must be one of {', '.join(sorted(BATCHES))}")
    names: set[str] = set()
    for i, expectation in enumerate(doc.get("expectations") or [], start=1):
        e_meta = expectation.get("meta") or {}
        name = e_meta.get("name")
        if not isinstance(name, str) or not name or name in names:
            raise bad(f"expectation {i} needs a unique meta.name")
        names.add(name)
        if e_meta.get("severity") not in SEVERITIES:
            raise bad(f"expectation {name}: meta.severity must be critical or warning")
        if not isinstance(expectation.get("type"), str) or not isinstance(expectation.get("kwargs"), dict):
            raise bad(f"expectation {name}: needs a type and kwargs")
    if not names:
        raise bad("has no expectations")
    return SuiteFile(
        doc["name"],
        meta["version"],
        meta["stage"],
        meta["batch"],
        str(meta.get("description", "")),
        tuple(doc["expectations"]),
        path,
    )


def check_acceptances(accept: Mapping[str, str], directory: Path = SUITES_DIR) -> None:
    """Raise :class:`ConfigError` for an acceptance (expectation id -> reason) that names no expectation of any
    suite or gives no reason."""
    known = {i for suite in load_suites(directory) for i in suite.ids()}
    unknown = sorted(set(accept) - known)
    if unknown:
        raise ConfigError(f"--accept {unknown[0]}: no such expectation (SUITE/NAME, e.g. raw_volume/feed_volume_low)")
    if any(not reason.strip() for reason in accept.values()):
        raise ConfigError("--accept needs --reason: say why the night may go on (it is recorded)")


@dataclass(frozen=True)
class Outcome:
    """One expectation's result tonight: counts and an observed number, never row values."""

    suite: str
    name: str
    expectation_type: str
    severity: str
    success: bool
    element_count: int | None
    unexpected_count: int | None
    observed: float | None
    accepted: bool
    why: str

    @property
    def id(self) -> str:
        return f"{self.suite}/{self.name}"

    def describe(self) -> str:
        """e.g. ``raw_volume/feed_volume_low (critical): 2 of 45 failing: a port ... far below its band``"""
        if self.unexpected_count is not None and self.element_count is not None:
            count = f"{self.unexpected_count:,} of {self.element_count:,} failing"
        elif self.observed is not None:
            count = f"observed {self.observed:g}"
        else:
            count = "failed"
        return f"{self.id} ({self.severity}): {count}: {self.why}"


@dataclass
class GateResult:
    """The outcome of one stage's gate for a night."""

    night: dt.date
    stage: str
    gate_run: str
    outcomes: list[Outcome] = field(default_factory=list)
    docs: Path | None = None

    @property
    def held_by(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "critical" and not o.accepted]

    @property
    def held(self) -> bool:
        return bool(self.held_by)

    @property
    def warnings(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and (o.severity == "warning" or o.accepted)]

    def message(self) -> str:
        """One line: why the night is held, or what the gate found."""
        if self.held:
            first = self.held_by[0]
            more = f" (and {len(self.held_by) - 1} more)" if len(self.held_by) > 1 else ""
            return (
                f"the {self.stage} quality gate held the night of {self.night}: {first.describe()}{more}; to go on "
                f"anyway: migralink run --date {self.night} --accept {first.id} --reason TEXT"
            )
        passed = sum(o.success for o in self.outcomes)
        return f"{self.stage} gate: {passed} of {len(self.outcomes)} expectations met, {len(self.warnings)} warnings"

    def as_dict(self) -> dict[str, object]:
        return {
            "stage": self.stage,
            "held": self.held,
            "expectations": len(self.outcomes),
            "failed": sum(not o.success for o in self.outcomes),
            "held_by": [o.id for o in self.held_by],
            "warnings": [o.id for o in self.warnings],
        }


def run_gate(
    con: duckdb.DuckDBPyConnection,
    warehouse: Path,
    night: dt.date,
    stage: str,
    *,
    accept: Mapping[str, str] | None = None,
    alpha: float = 1e-6,
    holidays: Collection[dt.date] = (),
    suites: Sequence[SuiteFile] | None = None,
) -> GateResult:
    """Validate ``stage``'s suites on tonight's batches, record the results (and acceptances) in one transaction
    and store the validation results for the Data Docs (the night brings them up to date once, after its last
    gate, with :func:`build_docs`); returns the result (the caller decides what a hold means for its run).

    ``accept`` maps expectation ids (``suite/name``) to the operator's reason; acceptances recorded earlier for
    this night apply too.
    """
    if stage not in STAGES:
        raise ConfigError(f"unknown quality stage {stage!r} (one of {', '.join(STAGES)})")
    chosen = [s for s in (suites if suites is not None else load_suites()) if s.stage == stage]
    accept = dict(accept or {})
    ctx = BatchContext(night, alpha, frozenset(holidays))
    earlier = {
        e for (e,) in con.execute("SELECT expectation FROM quality_acceptances WHERE night = ?", [night]).fetchall()
    }
    result = GateResult(night, stage, uuid.uuid4().hex)
    project = warehouse / QUALITY_DIR
    with batches_built_beside(con, ctx, chosen) as frames:
        validated = validate_frames(project, chosen, frames, night, parameters())
    for suite in chosen:
        for expectation, found in zip(suite.expectations, validated[suite.name], strict=True):
            ident = f"{suite.name}/{expectation['meta']['name']}"
            success, elements, unexpected, observed = found
            result.outcomes.append(
                Outcome(
                    suite.name,
                    expectation["meta"]["name"],
                    expectation["type"],
                    expectation["meta"]["severity"],
                    success,
                    elements,
                    unexpected,
                    observed,
                    accepted=not success and (ident in accept or ident in earlier),
                    why=str(expectation["meta"].get("why", "")),
                )
            )
    _record(con, result, {s.name: s.version for s in chosen}, accept, earlier)
    for outcome in result.outcomes:
        if not outcome.success:
            log.warning("quality: %s%s", outcome.describe(), " (accepted)" if outcome.accepted else "")
    return result


class _Batches(Mapping[str, pd.DataFrame]):
    """Each suite's batch, by suite name, as its build finishes (waiting for it when it has not yet)."""

    def __init__(self, builds: dict[str, Future[pd.DataFrame]]) -> None:
        self._builds = builds

    def __getitem__(self, suite: str) -> pd.DataFrame:
        return self._builds[suite].result()

    def __iter__(self) -> Iterator[str]:
        return iter(self._builds)

    def __len__(self) -> int:
        return len(self._builds)


@contextlib.contextmanager
def batches_built_beside(
    con: duckdb.DuckDBPyConnection, ctx: BatchContext, suites: Sequence[SuiteFile]
) -> Iterator[Mapping[str, pd.DataFrame]]:
    """The suites' batches, built in a thread of their own, one after another in the suites' order, while the
    block validates the ones built already.

    A batch is a DuckDB query, which lets go of the GIL, and Great Expectations' validation is Python: built in
    turn, the gates' batches of an increment against 1,000,000 records (0.5-0.8 s) waited for the validations, and
    the validations for them. The batches are read through a cursor of the thread's own (a connection to the same
    database, which sees what the night has committed, as ``con`` does; nothing is written meanwhile). A batch
    that fails raises where the block asks for it; batches not started when the block ends are not built."""
    cursor = con.cursor()
    pool = ThreadPoolExecutor(1, thread_name_prefix="quality-batches")
    try:

        def build(batch: str) -> pd.DataFrame:
            return vectorizable(BATCHES[batch](cursor, ctx))

        yield _Batches({suite.name: pool.submit(build, suite.batch) for suite in suites})
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        cursor.close()


def vectorizable(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its nullable integer columns (DuckDB's ``Int32``/``Int64`` where a column has NULLs) as
    float64, missing values as NaN. Great Expectations' pandas engine compares only numpy ``int``/``float`` columns
    vectorized; on an extension dtype ``expect_column_values_to_be_between`` calls a Python function per value
    (6.3 s instead of 0.8 s for the border batch of a 1M-record night). The counts are the same: NaN is missing
    as NA was, and integers below 2**53 are exact as floats."""
    nullable = [
        c
        for c, dtype in frame.dtypes.items()
        if isinstance(dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_integer_dtype(dtype)
    ]
    if nullable:
        frame = frame.astype({c: "float64" for c in nullable})
    return frame.copy()  # one block per dtype: every expectation's copy of the frame would consolidate it again


def parameters() -> dict[str, object]:
    """The suites' ``$PARAMETER`` values."""
    from pipeline.ingest.countries import known_country_codes

    return {"country_codes": list(known_country_codes())}


Validated = tuple[bool, int | None, int | None, float | None]


def validate_frames(
    project: Path | None,
    suites: Sequence[SuiteFile],
    frames: Mapping[str, pd.DataFrame],
    night: dt.date,
    expectation_parameters: Mapping[str, object],
) -> dict[str, list[Validated]]:
    """Validate each suite on its frame with Great Expectations; per suite, per expectation (in file order):
    (success, element count, unexpected count, observed number). With a ``project`` directory the results are
    stored there for the Data Docs; without, an ephemeral context is used."""
    _gx()
    from great_expectations.exceptions.resource_freshness import ResourceFreshnessAggregateError

    run_time = dt.datetime.now(dt.UTC)
    out: dict[str, list[Validated]] = {}
    for attempt in (1, 2):
        context = _context(project)
        try:
            with configurations_built_once(), row_conditions_applied_once(), config_variables_read_once():
                for suite in (s for s in suites if s.name not in out):  # on the retry, those not validated yet
                    out[suite.name] = _validate_suite(
                        context, project, suite, frames, night, run_time, expectation_parameters
                    )
            break
        except ResourceFreshnessAggregateError:
            # The project's files are not those this process's context and definitions were made from (the
            # warehouse directory restored from a backup, say): made again from the files, once.
            if project is None or attempt == 2:
                raise
            log.info("quality: the Great Expectations project at %s changed on disk; reading it again", project)
            _forget(project)
    return out


def _validate_suite(
    context: Any,
    project: Path | None,
    suite: SuiteFile,
    frames: Mapping[str, pd.DataFrame],
    night: dt.date,
    run_time: dt.datetime,
    expectation_parameters: Mapping[str, object],
) -> list[Validated]:
    """One suite's validation on its frame (see :func:`validate_frames`)."""
    gx = _gx()
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    definition = _definition(context, project, suite, gx, ExpectationConfiguration)
    validation = definition.run(
        batch_parameters={"dataframe": frames[suite.name]},
        expectation_parameters=dict(expectation_parameters),
        result_format=RESULT_FORMAT,
        run_id=RunIdentifier(run_name=f"night {night}", run_time=run_time),
    )
    by_name = {r.expectation_config.meta["name"]: r for r in validation.results}
    return [_summarise(by_name[e["meta"]["name"]]) for e in suite.expectations]


@contextlib.contextmanager
def configurations_built_once() -> Iterator[None]:
    """Within the block, each Great Expectations ``Expectation`` builds its ``configuration`` once.

    The property builds a new ``ExpectationConfiguration`` from the expectation's fields (a pydantic ``dict()`` and
    deep copies) at every read, and a validation reads it once per domain, success and runtime keyword of every
    metric: about 100 times per expectation, 8,000 times for the night's 80 expectations, a third of the gates'
    validation time (2.0 -> 1.3 s, best of 7, on a small night's batches). Nothing changes an expectation's fields
    while it is validated; the results are the same with and without (tests/pipeline/test_quality_gates.py). The
    built configurations are kept for the block only, by the expectation they belong to. The property is replaced
    for the whole process while the block runs: nothing else may validate in another thread meanwhile (a night
    validates in its own thread, one gate after another; its Data Docs are built after its last gate).
    """
    from great_expectations.expectations.expectation import Expectation

    built_each_time = Expectation.__dict__["configuration"]
    built = _KeptWith()

    def configuration(expectation: Any) -> Any:
        return built.get((id(expectation),), expectation, lambda: built_each_time.fget(expectation))

    with _replaced(Expectation, "configuration", property(configuration, doc=built_each_time.__doc__)):
        yield


@contextlib.contextmanager
def row_conditions_applied_once() -> Iterator[None]:
    """Within the block, Great Expectations' pandas engine filters a batch by a row condition once.

    The engine filters the whole batch with ``DataFrame.query`` every time a metric of an expectation with a
    ``row_condition`` asks for its domain's records: 57 queries of about 10 ms each for the suites' 13 such
    expectations (10 conditions) on a night's batches. Within the block the filtered frame is kept by batch and
    condition and handed out again; the engine only reads it (it selects columns and rows into new frames), and the
    results are the same with and without (tests/pipeline/test_quality_gates.py). As for
    :func:`configurations_built_once`, the method is replaced for the whole process while the block runs.
    """
    from great_expectations.execution_engine.pandas_execution_engine import PandasExecutionEngine

    filter_each_time = PandasExecutionEngine.__dict__["_apply_row_condition_filter"]
    filtered = _KeptWith()

    def apply_once(engine: Any, data: pd.DataFrame, row_condition: Any, domain_kwargs: dict[str, Any]) -> Any:
        key = (id(data), repr(row_condition), str(domain_kwargs.get("condition_parser")))
        return filtered.get(key, data, lambda: filter_each_time(engine, data, row_condition, domain_kwargs))

    with _replaced(PandasExecutionEngine, "_apply_row_condition_filter", apply_once):
        yield


@contextlib.contextmanager
def config_variables_read_once() -> Iterator[None]:
    """Within the block, a Great Expectations file context reads its project's ``config_variables.yml`` once.

    Every read of a context variable (the expectations store's name, say) substitutes ``${VARIABLES}`` in it, and
    to do so reads and parses the YAML file again: 112 reads of 1.4 ms for a night's 14 suites (the increment's 14
    validations, replayed: median 0.875 -> 0.789 s of processor time). Nothing writes the file while a night
    validates; the values are kept by provider for the block only. As for :func:`configurations_built_once`, the
    method is replaced for the whole process while the block runs.
    """
    from great_expectations.core.config_provider import _ConfigurationVariablesConfigurationProvider as Provider

    read_each_time = Provider.__dict__["get_values"]
    read = _KeptWith()

    def get_values(provider: Any) -> dict[str, str]:
        values = read.get((id(provider),), provider, lambda: read_each_time(provider))
        return dict(values)  # a copy: the callers update the dictionaries they are given

    with _replaced(Provider, "get_values", get_values):
        yield


class _KeptWith:
    """Results kept for one block by the object they were computed from (its ``id`` first in the key). The object
    is held with its result, so no other object gets its id while the block runs."""

    def __init__(self) -> None:
        self._found: dict[tuple[object, ...], tuple[object, Any]] = {}

    def get(self, key: tuple[object, ...], held: object, compute: Callable[[], Any]) -> Any:
        found = self._found.get(key)
        if found is None:
            found = self._found[key] = (held, compute())
        return found[1]


@contextlib.contextmanager
def _replaced(owner: type, name: str, value: object) -> Iterator[None]:
    """``owner.name`` is ``value`` within the block (for the whole process), and what it was after it."""
    original = owner.__dict__[name]
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


_CONTEXTS: dict[Path, Any] = {}  # one Great Expectations file context per project and process
_DEFINITIONS: dict[tuple[Path, str], tuple[str, Any]] = {}  # (project, suite) -> (suite file's text, definition)


def _context(project: Path | None) -> Any:
    """The project's file context, made once per process (an ephemeral one without a project)."""
    gx = _gx()
    if project is not None and project in _CONTEXTS:
        if (project / "gx" / "great_expectations.yml").exists():
            return _CONTEXTS[project]
        _forget(project)  # the project was removed (with its warehouse directory) since: made again below
    if project is not None:
        context = gx.get_context(mode="file", project_root_dir=str(project))
    else:
        context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = _no_progress_bars()
    try:  # kept with its assets between processes (replacing it would drop them and every definition with them)
        context.data_sources.get("migralink")
    except (KeyError, LookupError, ValueError):
        context.data_sources.add_pandas(name="migralink")
    if project is not None:
        _CONTEXTS[project] = context
    return context


def _forget(project: Path) -> None:
    """Drop this process's context and definitions of ``project`` (its files changed under them)."""
    _CONTEXTS.pop(project, None)
    for key in [key for key in _DEFINITIONS if key[0] == project]:
        del _DEFINITIONS[key]


def _definition(context: Any, project: Path | None, suite: SuiteFile, gx: Any, configuration: Any) -> Any:
    """The validation definition of ``suite`` in ``context``, written to the project once per process and suite
    file (again when the file changes)."""
    text = json.dumps(suite.expectations, sort_keys=True) + str(suite.version)
    cached = _DEFINITIONS.get((project, suite.name)) if project is not None else None
    if cached is not None and cached[0] == text:
        return cached[1]
    if project is not None and _stored_digests(project).get(suite.name) == _digest(text):
        try:  # written by an earlier process from the same suite file: read it back instead of writing it again
            definition = context.validation_definitions.get(suite.name)
        except Exception:  # missing or unreadable (whatever Great Expectations raises): written again below
            definition = None
        if definition is not None:
            _DEFINITIONS[(project, suite.name)] = (text, definition)
            return definition
    expectations = [
        configuration(
            type=e["type"], kwargs=e["kwargs"], meta={**e["meta"], "suite_version": suite.version}
        ).to_domain_obj()
        for e in suite.expectations
    ]
    gx_suite = gx.ExpectationSuite(
        name=suite.name, expectations=expectations, meta={"version": suite.version, "stage": suite.stage}
    )
    source = context.data_sources.get("migralink")
    try:
        asset = source.get_asset(suite.name)
    except LookupError:
        asset = source.add_dataframe_asset(name=suite.name)
    try:
        batch_definition = asset.get_batch_definition("night")
    except (KeyError, LookupError):
        batch_definition = asset.add_batch_definition_whole_dataframe("night")
    gx_suite = context.suites.add_or_update(gx_suite)
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=gx_suite)
    )
    if project is not None:
        _DEFINITIONS[(project, suite.name)] = (text, definition)
        _WRITTEN.add((project, suite.name))
        digests = {**_stored_digests(project), suite.name: _digest(text)}
        (project / DIGESTS).write_text(json.dumps(digests, sort_keys=True, indent=1), encoding="utf-8")
    return definition


DIGESTS = "suite-digests.json"  # in the project: SHA-256 of each suite file as its definition was last written
_WRITTEN: set[tuple[Path, str]] = set()  # (project, suite) whose definition this process wrote: pages to render


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _stored_digests(project: Path) -> dict[str, str]:
    try:
        found = json.loads((project / DIGESTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _summarise(result: Any) -> Validated:
    """(success, element count, unexpected count, observed number) of one expectation's result. An expectation
    that raised (a missing column) is a failure with no counts."""
    info = result.exception_info or {}
    raised = info.get("raised_exception") if isinstance(info, dict) else False
    values = result.result or {}
    observed = values.get("observed_value")
    number = float(observed) if isinstance(observed, int | float) and not isinstance(observed, bool) else None
    if raised:
        return False, None, None, None
    elements = values.get("element_count")
    unexpected = values.get("unexpected_count")
    return (
        bool(result.success),
        int(elements) if elements is not None else None,
        int(unexpected) if unexpected is not None else None,
        number,
    )


def _record(
    con: duckdb.DuckDBPyConnection,
    result: GateResult,
    versions: Mapping[str, int],
    accept: Mapping[str, str],
    earlier: Collection[str],
) -> None:
    """Replace this night's results of the stage, add new acceptances, log a ``quality_gate`` entry per suite."""
    user = getpass.getuser()
    rows = [
        (
            result.night,
            result.gate_run,
            result.stage,
            o.suite,
            versions[o.suite],
            o.name,
            o.expectation_type,
            o.severity,
            o.success,
            o.element_count,
            o.unexpected_count,
            o.observed,
            o.accepted,
        )
        for o in result.outcomes
    ]
    with transaction(con):
        con.execute("DELETE FROM quality_results WHERE night = ? AND stage = ?", [result.night, result.stage])
        insert_rows(con, "quality_results", rows, then="now()")
        for o in result.outcomes:
            if o.accepted and o.id not in earlier:
                con.execute(
                    "INSERT INTO quality_acceptances VALUES (?, ?, ?, ?, now(), ?)",
                    [result.night, o.id, accept[o.id], user, o.unexpected_count],
                )
        for suite in dict.fromkeys(o.suite for o in result.outcomes):
            mine = [o for o in result.outcomes if o.suite == suite]
            failing = [o for o in mine if not o.success]
            held = [o for o in failing if o.severity == "critical" and not o.accepted]
            accepted = [o for o in failing if o.accepted]
            verdict = "held" if held else "accepted" if accepted else "warning" if failing else "passed"
            audit(
                con,
                "quality_gate",
                suite=suite,
                result=verdict,
                failing=len(failing),
                accepted_by=user if accepted and not held else None,
            )


def build_docs(project: Path, night: dt.date) -> Path:
    """Bring the Data Docs up to date after ``night``'s gates and return the index page. Each suite keeps its
    last :data:`KEEP_RESULTS` results (older ones and their pages are removed); only the night's result pages
    and the pages of the suites that changed are rendered (the others are on disk already) and the index is
    rebuilt."""
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    stored = project / "gx" / "uncommitted" / "validations"
    site = project / "gx" / "uncommitted" / "data_docs" / "local_site"
    for suite_dir in sorted(p for p in stored.iterdir() if p.is_dir()) if stored.exists() else ():
        runs = sorted(suite_dir.rglob("*.json"), key=lambda p: p.stat().st_mtime)
        for old in runs[:-KEEP_RESULTS]:
            old.unlink()
            page = site / "validations" / old.relative_to(stored).with_suffix(".html")
            page.unlink(missing_ok=True)
    context = _context(project)
    keys = context.validation_results_store.list_keys()
    tonight: list[Any] = [
        key for key in keys if isinstance(key, ValidationResultIdentifier) and key.run_id.run_name == f"night {night}"
    ]
    suites = {key.expectation_suite_identifier.name for key in tonight}
    tonight += [  # a suite's page only when its definition was written (it changed) or the page is missing
        ExpectationSuiteIdentifier(name)
        for name in sorted(suites)
        if (project, name) in _WRITTEN or not (site / "expectations" / f"{name}.html").exists()
    ]
    context.build_data_docs(resource_identifiers=tonight)
    return site / "index.html"


def docs_index(warehouse: Path) -> Path:
    """Where the Data Docs' index page is (it exists once a gate has run)."""
    return warehouse / QUALITY_DIR / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"


def _no_progress_bars() -> Any:
    from great_expectations.data_context.types.base import ProgressBarsConfig

    return ProgressBarsConfig(globally=False, metric_calculations=False)


@cache
def _gx() -> Any:
    """Great Expectations, imported once, with the project's custom expectations registered."""
    gx = import_great_expectations()

    import expectations.custom  # noqa: F401  (registers the project's expectations)

    return gx
