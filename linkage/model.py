"""Training, saving and loading the linkage model.

``train_model`` estimates u by random sampling and m by expectation maximisation over several blocking rules
(each pass estimates the comparisons its rule leaves free), on the entity input of :mod:`linkage.input`. The
prior (probability that two random records match) comes from near-certain deterministic rules. With the same
data and seed the parameters are the same: u sampling is seeded and EM sampling is a deterministic hash filter.

Models are kept in the versioned table ``linkage_models`` (Splink's JSON settings plus a training summary and
the two thresholds link and review use), so a nightly run can reuse yesterday's model or retrain. A model is saved
either promoted (in use at once: ``migralink model train``, a first night's model) or as a ``candidate``, which
:mod:`linkage.promotion` compares with the current model and promotes only when it is not worse. The current
model, the one nightly linkage uses, is the last one promoted.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from splink import DuckDBAPI, Linker
from splink.internals.exceptions import EMTrainingException

from linkage.errors import EmptyInputError, ModelNotFoundError
from linkage.input import INPUT_TABLE, RECORDS_TABLE, build_input, input_counts
from linkage.schema import ensure_schema
from linkage.settings import (
    deterministic_rules,
    fallback_training_blocking_rules,
    linkage_settings,
    training_blocking_rules,
)

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)

LINK_THRESHOLD = 6.0  # match weight above which two entities may be merged (cluster constraints permitting)
M_FLOOR = 5e-4  # smallest m of a level: caps a single disagreement at about -11 bits
U_FLOOR = 1e-6  # smallest u of a level
REVIEW_THRESHOLD = 0.0  # pairs between this weight and LINK_THRESHOLD go to clerical review
CANDIDATE, PROMOTED = "candidate", "promoted"  # a model's status (linkage_models.status)
TRAIN_RECORDS = "__train_records"  # training's own copies of the record and entity tables
TRAIN_INPUT = "__train_input"


@dataclass(frozen=True)
class TrainingSummary:
    """What a model was trained on and how (counts and timings only)."""

    records: int
    entities: int
    seed: int
    u_max_pairs: float
    em_max_pairs: float
    em_rules: list[str]
    em_iterations: list[int]
    em_pairs: list[int]
    prior: float
    seconds: float
    em_rules_skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LinkageModel:
    """A trained model: Splink settings (JSON-ready dict) and the thresholds it is used with."""

    settings: dict[str, Any]
    summary: TrainingSummary
    link_threshold: float = LINK_THRESHOLD
    review_threshold: float = REVIEW_THRESHOLD
    model_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    version: int = 0
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None))
    status: str = PROMOTED  # candidate until promoted (see linkage.promotion)
    trained_for: str | None = None  # the run that trained it (a DAG run), so that a re-run reuses it


def make_linker(con: duckdb.DuckDBPyConnection, settings: Any, table: str = INPUT_TABLE) -> Linker:
    """A Splink linker over ``table`` (default: the entity input) on ``con``; the table must exist."""
    return make_linker_with_db(con, settings, table)[1]


def make_linker_with_db(
    con: duckdb.DuckDBPyConnection, settings: Any, table: str = INPUT_TABLE, *, check_columns: bool = True
) -> tuple[DuckDBAPI, Linker]:
    """Like :func:`make_linker`, also returning Splink's database API (to register more tables on it).

    ``check_columns=False`` leaves out Splink's check that every column the settings name is in ``table``
    (``validate_settings``), for a trained model's settings, checked when it was trained: the check only logs, and
    it parses every comparison level's SQL again (0.2-0.3 s a night, whatever the night's size). The settings are
    still parsed and built as always.

    Splink's messages go to the ``splink`` logger and from there wherever the application's logging sends them, at
    the level it sets (``log_level=None``). By default Splink sets its logger to INFO and, where the application
    configured no logging (a benchmark, a notebook), adds its own handler on standard error: its training
    progress, a hundred lines on a first night, would be printed there."""
    db = DuckDBAPI(con)
    linker = Linker(
        db.register(table, dataset_display_name=table), settings, log_level=None, validate_settings=check_columns
    )
    return db, linker


def drop_splink_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Drop Splink's scratch tables (``__splink__*``) from ``con``."""
    rows = con.execute(
        "SELECT table_name, table_type FROM information_schema.tables WHERE table_name LIKE '\\_\\_splink\\_\\_%' "
        "ESCAPE '\\'"
    ).fetchall()
    for name, kind in rows:
        con.execute(f'DROP {"VIEW" if kind == "VIEW" else "TABLE"} IF EXISTS "{name}"')


def _em_iterations(session: Any) -> int:
    return len(getattr(session, "_core_model_settings_history", None) or [])


def train_model(
    con: duckdb.DuckDBPyConnection,
    *,
    seed: int,
    max_pairs: float = 1e6,
    em_max_pairs: float = 2e6,
    rebuild_input: bool = True,
) -> LinkageModel:
    """Train a linkage model on the warehouse behind ``con``.

    Args:
        con: Warehouse connection (``identity_tokens`` and the record tables).
        seed: Seed of the u sampling; the same data and seed give the same model.
        max_pairs: Pairs sampled to estimate u (a million: five times more changed F1 by 0.0003 at 1M records
            and took 19 s instead of 5 s at 100,000).
        em_max_pairs: Upper bound of the blocked pairs each EM pass uses.
        rebuild_input: Build training's own copy of the input (default); False trains on the linked warehouse's
            record table as it is.

    Returns:
        The trained, unsaved model (``version`` 0 until :func:`save_model`).
    """
    began = time.perf_counter()
    if rebuild_input:  # scratch copies: the linked warehouse's own entity tables stay as they are
        records, entities = build_input(con, records_table=TRAIN_RECORDS, input_table=TRAIN_INPUT)
        table = TRAIN_RECORDS
    else:
        records, entities = input_counts(con)
        table = RECORDS_TABLE
    settings, frequencies = split_term_frequencies(linkage_settings().get_settings("duckdb").as_dict())
    linker = make_linker(con, settings, table)
    recall = 0.8
    linker.training.estimate_probability_two_random_records_match(deterministic_rules(), recall=recall)
    linker.training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=seed)
    rules: list[str] = []
    iterations: list[int] = []
    pairs: list[int] = []
    skipped: list[str] = []
    primary = training_blocking_rules()
    for i, rule in enumerate([*primary, *fallback_training_blocking_rules()]):
        if i == len(primary) and not skipped:
            break  # every primary rule trained: no fallback pass
        # Splink's EM session removes its rule's comparisons from the linker's settings (and replaces the prior)
        # before it finds out that the rule yields no pairs; a skipped pass must leave the model as it was.
        saved = linker._settings_obj.core_model_settings.copy()
        try:
            session = linker.training.estimate_parameters_using_expectation_maximisation(
                rule, max_pairs=em_max_pairs, estimate_without_term_frequencies=True
            )
        except EMTrainingException:
            # A source without, say, sex gives this rule no pairs; the other rules still train the model.
            linker._settings_obj.core_model_settings = saved
            skipped.append(str(rule.get_blocking_rule("duckdb").blocking_rule_sql))
            log.warning("EM blocking rule skipped: it finds no pairs in this data")
            continue
        rules.append(session._blocking_rule_for_training.blocking_rule_sql)
        iterations.append(_em_iterations(session))
        pairs.append(_blocked_pairs(session))
    if not rules:
        raise EmptyInputError("no EM blocking rule finds pairs in this data; the model cannot be trained")
    settings = floor_probabilities(join_term_frequencies(linker.misc.save_model_to_json(), frequencies))
    drop_splink_tables(con)
    for scratch in (TRAIN_RECORDS, TRAIN_INPUT):
        con.execute(f"DROP TABLE IF EXISTS {scratch}")
    summary = TrainingSummary(
        records=records,
        entities=entities,
        seed=seed,
        u_max_pairs=max_pairs,
        em_max_pairs=em_max_pairs,
        em_rules=rules,
        em_iterations=iterations,
        em_pairs=pairs,
        em_rules_skipped=skipped,
        prior=float(settings["probability_two_random_records_match"]),
        seconds=round(time.perf_counter() - began, 3),
    )
    log.info("trained a linkage model on %d records (%d entities) in %.1f s", records, entities, summary.seconds)
    return LinkageModel(settings=settings, summary=summary)


TF_KEYS = ("tf_adjustment_column", "tf_adjustment_weight", "tf_minimum_u_value", "disable_tf_exact_match_detection")


def split_term_frequencies(settings: dict[str, Any]) -> tuple[dict[str, Any], dict[tuple[int, int], dict[str, Any]]]:
    """``settings`` without term-frequency adjustments, and those adjustments by (comparison, level) position.

    Training needs none (u by random sampling and EM without term frequencies), and Splink's u sampling joins the
    frequency tables to every sampled chunk if the settings have them: about a quarter of its time.
    """
    stripped = copy.deepcopy(settings)
    taken: dict[tuple[int, int], dict[str, Any]] = {}
    for i, comparison in enumerate(stripped["comparisons"]):
        for j, level in enumerate(comparison["comparison_levels"]):
            found = {key: level.pop(key) for key in TF_KEYS if key in level}
            if found:
                taken[(i, j)] = found
    return stripped, taken


def join_term_frequencies(
    settings: dict[str, Any], frequencies: dict[tuple[int, int], dict[str, Any]]
) -> dict[str, Any]:
    """Put the adjustments of :func:`split_term_frequencies` back into trained ``settings`` (changed in place)."""
    for (i, j), found in frequencies.items():
        settings["comparisons"][i]["comparison_levels"][j].update(found)
    return settings


def floor_probabilities(settings: dict[str, Any], m_floor: float = M_FLOOR, u_floor: float = U_FLOOR) -> dict[str, Any]:
    """Give every non-null level an m of at least ``m_floor`` and a u of at least ``u_floor``.

    A level never seen among the training matches (a sex disagreement, a date of birth that differs in
    every part) would otherwise get no m or an m of zero, that is a weight of minus infinity: one keying
    error would then forbid a link whatever else agrees. Data other than the training data has other errors.
    """
    for comparison in settings["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            for key, floor in (("m_probability", m_floor), ("u_probability", u_floor)):
                value = level.get(key)
                level[key] = floor if value is None else max(float(value), floor)
    return settings


def _blocked_pairs(session: Any) -> int:
    """Pairs the EM pass used (Splink's estimate after sampling; -1 when it did not sample)."""
    info = getattr(session, "_sample_info", None) or {}
    value = info.get("expected_pairs_after_sampling", info.get("estimated_total_pairs"))
    return int(value) if isinstance(value, int | float) else -1


def save_model(
    con: duckdb.DuckDBPyConnection, model: LinkageModel, *, candidate: bool = False, trained_for: str | None = None
) -> LinkageModel:
    """Store ``model`` as the next version in ``linkage_models``; returns it with its version and status set.

    Promoted (the default) it is the current model at once, as ``migralink model train`` and a first night's model
    are; with ``candidate`` it waits for :func:`linkage.promotion.promote`. ``trained_for`` names the run that
    trained it (see :func:`linkage.promotion.candidate_of_run`).
    """
    ensure_schema(con)
    version = int(con.execute("SELECT coalesce(max(version), 0) + 1 FROM linkage_models").fetchall()[0][0])
    status = CANDIDATE if candidate else PROMOTED
    con.execute(
        """INSERT INTO linkage_models (model_id, version, created_at, settings, summary, link_threshold,
               review_threshold, status, promoted_at, trained_for)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            model.model_id,
            version,
            model.created_at,
            json.dumps(model.settings),
            json.dumps(asdict(model.summary)),
            model.link_threshold,
            model.review_threshold,
            status,
            None if candidate else dt.datetime.now(dt.UTC).replace(tzinfo=None),
            trained_for,
        ],
    )
    return replace(model, version=version, status=status, trained_for=trained_for)


MODEL_COLUMNS = (
    "model_id, version, created_at, settings, summary, link_threshold, review_threshold, status, trained_for"
)
# The current model: the last one promoted (ties, models promoted in one instant by a migration: the newest version).
CURRENT_SQL = f"""SELECT {MODEL_COLUMNS} FROM linkage_models WHERE status = '{PROMOTED}'
    ORDER BY promoted_at DESC, version DESC LIMIT 1"""


def load_model(con: duckdb.DuckDBPyConnection, model_id: str | None = None) -> LinkageModel:
    """Load one model from ``linkage_models``: ``model_id``, or the current model (the last promoted) when None.

    Raises:
        ModelNotFoundError: no such model (or no promoted model at all).
    """
    ensure_schema(con)
    if model_id is None:
        rows = con.execute(CURRENT_SQL).fetchall()
    else:
        rows = con.execute(f"SELECT {MODEL_COLUMNS} FROM linkage_models WHERE model_id = ?", [model_id]).fetchall()
    if not rows:
        if model_id is not None:
            raise ModelNotFoundError("no linkage model with that id")
        candidates = con.execute(f"SELECT count(*) FROM linkage_models WHERE status = '{CANDIDATE}'").fetchall()[0][0]
        raise ModelNotFoundError(
            f"no linkage model in use: {candidates} candidate(s) not promoted (`migralink model promote`)"
            if candidates
            else "no linkage model stored"
        )
    return model_from_row(rows[0])


def model_from_row(row: tuple[Any, ...]) -> LinkageModel:
    """A model from a row of :data:`MODEL_COLUMNS`."""
    mid, version, created_at, settings, summary, link_threshold, review_threshold, status, trained_for = row
    return LinkageModel(
        settings=json.loads(settings),
        summary=TrainingSummary(**json.loads(summary)),
        link_threshold=float(link_threshold),
        review_threshold=float(review_threshold),
        model_id=str(mid),
        version=int(version),
        created_at=created_at,
        status=str(status),
        trained_for=None if trained_for is None else str(trained_for),
    )
