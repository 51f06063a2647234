"""Model storage and determinism."""

from __future__ import annotations

from pathlib import Path

import pytest

from linkage.errors import ModelNotFoundError
from linkage.model import load_model, save_model, split_term_frequencies, train_model
from linkage.settings import linkage_settings
from pipeline.warehouse.connection import connect
from tests.linkage.conftest import SEED, LinkedWarehouse


def _parameters(settings: dict) -> list[tuple[str, str, float, float]]:
    return [
        (c["output_column_name"], lvl["label_for_charts"], lvl["m_probability"], lvl["u_probability"])
        for c in settings["comparisons"]
        for lvl in c["comparison_levels"]
        if not lvl.get("is_null_level")
    ]


def test_save_and_load_round_trip(linked: LinkedWarehouse) -> None:
    loaded = load_model(linked.con, linked.model.model_id)
    assert loaded == linked.model
    newer = save_model(linked.con, linked.model.__class__(settings=loaded.settings, summary=loaded.summary))
    assert newer.version == loaded.version + 1
    assert load_model(linked.con).model_id == newer.model_id


def test_missing_model_is_an_error(tmp_path: Path) -> None:
    con = connect(tmp_path / "empty")
    with pytest.raises(ModelNotFoundError):
        load_model(con)


def test_training_is_deterministic_for_a_seed(linked: LinkedWarehouse, warehouse: Path) -> None:
    again = train_model(linked.con, seed=SEED, max_pairs=1e6, em_max_pairs=2e5)
    assert again.summary.entities == linked.model.summary.entities
    for (c1, l1, m1, u1), (c2, l2, m2, u2) in zip(
        _parameters(again.settings), _parameters(linked.model.settings), strict=True
    ):
        assert (c1, l1) == (c2, l2)
        assert m1 == pytest.approx(m2, rel=1e-9, abs=1e-12)
        assert u1 == pytest.approx(u2, rel=1e-9, abs=1e-12)


def test_the_trained_model_keeps_every_term_frequency_adjustment(linked: LinkedWarehouse) -> None:
    """Training runs without the adjustments (faster u sampling); the saved model has all of them back."""
    wanted = split_term_frequencies(linkage_settings().get_settings("duckdb").as_dict())[1]
    assert wanted  # names, birth date and nationality are adjusted
    assert split_term_frequencies(linked.model.settings)[1] == wanted
