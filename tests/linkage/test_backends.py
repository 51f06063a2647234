"""Linkage backends are chosen by name, from the settings or the command line, and refused when unknown."""

from __future__ import annotations

import pytest

from linkage.backends import BACKENDS, DuckDBBackend, SparkBackend, backend_for
from linkage.errors import LinkageError
from pipeline.cli.main import main
from pipeline.errors import ConfigError
from pipeline.nightly.settings import load_settings
from pipeline.nightly.steps import scorer


def test_backends_by_name() -> None:
    assert BACKENDS == ("duckdb", "spark")
    assert isinstance(backend_for("duckdb"), DuckDBBackend)
    spark = backend_for("spark", master="local[1]")
    assert isinstance(spark, SparkBackend) and spark.name == "spark"
    with pytest.raises(LinkageError, match="unknown linkage backend 'flink'"):
        backend_for("flink")


def test_settings_choose_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    assert scorer(load_settings()).name == "duckdb"
    monkeypatch.setenv("MIGRALINK_LINKAGE_BACKEND", "Spark")
    assert scorer(load_settings()).name == "spark"
    assert scorer(load_settings(linkage_backend="duckdb")).name == "duckdb"  # a flag wins
    with pytest.raises(ConfigError, match="linkage_backend must be one of duckdb, spark"):
        load_settings(linkage_backend="flink")


def test_an_unknown_backend_on_the_command_line_fails_before_any_step(tmp_path, capsys) -> None:
    warehouse = tmp_path / "wh"
    argv = ["link", "--date", "2024-01-01", "--warehouse", str(warehouse), "--linkage-backend", "flink"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["migralink: error: linkage_backend must be one of duckdb, spark (got 'flink')"]
    assert not warehouse.exists()
