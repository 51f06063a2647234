"""migralink linkage: probabilistic linkage of pseudonymized records into persons."""

from __future__ import annotations

from linkage.errors import EmptyInputError, LinkageError, ModelNotFoundError
from linkage.link import LinkResult, link_all, linked_at, require_full_relink
from linkage.model import LinkageModel, TrainingSummary, load_model, save_model, train_model
from linkage.schema import LINKAGE as LINKAGE_SCHEMA

__all__ = [
    "LINKAGE_SCHEMA",
    "EmptyInputError",
    "LinkResult",
    "LinkageError",
    "LinkageModel",
    "ModelNotFoundError",
    "TrainingSummary",
    "link_all",
    "linked_at",
    "load_model",
    "require_full_relink",
    "save_model",
    "train_model",
]
