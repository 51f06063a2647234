"""migralink linkage: probabilistic linkage of pseudonymized records into persons.

The names below are the package's public API; the pipeline imports nothing else from it.
"""

from __future__ import annotations

from linkage.backends import BACKENDS, DuckDBBackend, SparkBackend, backend_for
from linkage.charts import chart_svg, deferred_charts, tips, warm_up_charts
from linkage.coherence import Coherence, coherence_figures
from linkage.errors import EmptyInputError, LinkageError, ModelNotFoundError, ReviewError
from linkage.input import build_input
from linkage.link import (
    PAIRS_TABLE,
    LinkResult,
    PairScorer,
    forget_missing_records,
    link,
    link_all,
    linked_at,
    require_full_relink,
)
from linkage.model import LinkageModel, TrainingSummary, load_model, save_model, train_model
from linkage.nights import NightFigures, night_figures, recent_nights, record_night
from linkage.promotion import (
    Comparison,
    Promotion,
    PromotionError,
    Tolerance,
    candidate_of_run,
    compare_models,
    current_model,
    find_model,
    list_models,
    promote,
    promotion_log,
)
from linkage.report import write_report
from linkage.review import decide, decision_log, enqueue_pairs, pending_pairs
from linkage.review import undo as undo_decisions
from linkage.schema import LINKAGE as LINKAGE_SCHEMA

__all__ = [
    "BACKENDS",
    "LINKAGE_SCHEMA",
    "PAIRS_TABLE",
    "Coherence",
    "Comparison",
    "DuckDBBackend",
    "EmptyInputError",
    "LinkResult",
    "LinkageError",
    "LinkageModel",
    "ModelNotFoundError",
    "NightFigures",
    "PairScorer",
    "Promotion",
    "PromotionError",
    "ReviewError",
    "SparkBackend",
    "Tolerance",
    "TrainingSummary",
    "backend_for",
    "build_input",
    "candidate_of_run",
    "chart_svg",
    "coherence_figures",
    "compare_models",
    "current_model",
    "decide",
    "decision_log",
    "deferred_charts",
    "enqueue_pairs",
    "find_model",
    "forget_missing_records",
    "link",
    "link_all",
    "linked_at",
    "list_models",
    "load_model",
    "night_figures",
    "pending_pairs",
    "promote",
    "promotion_log",
    "recent_nights",
    "record_night",
    "require_full_relink",
    "save_model",
    "tips",
    "train_model",
    "undo_decisions",
    "warm_up_charts",
    "write_report",
]
