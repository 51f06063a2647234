"""migralink linkage: probabilistic linkage of pseudonymized records into persons."""

from __future__ import annotations

from linkage.errors import EmptyInputError, LinkageError, ModelNotFoundError
from linkage.link import LinkResult, link_all
from linkage.model import LinkageModel, TrainingSummary, load_model, save_model, train_model

__all__ = [
    "EmptyInputError",
    "LinkResult",
    "LinkageError",
    "LinkageModel",
    "ModelNotFoundError",
    "TrainingSummary",
    "link_all",
    "load_model",
    "save_model",
    "train_model",
]
