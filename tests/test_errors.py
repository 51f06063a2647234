"""One error root: every error migralink raises on purpose derives from ``MigralinkError`` (privacy, the base)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from linkage.errors import EmptyInputError, LinkageError, ModelNotFoundError, ReviewError
from linkage.evaluate import EvaluationError
from linkage.spark import SparkUnavailableError
from linkage.spark_sql import SparkTranslationError
from pipeline.cli.main import main
from pipeline.errors import ConfigError, LandingFileError, PipelineError, WarehouseError
from pipeline.histories.rule import RuleParams, RuleParamsError
from pipeline.ingest.quarantine import QuarantineError
from pipeline.ingest.retention import RetentionError
from pipeline.synth import SynthError
from privacy.bloom import ClkConfigError
from privacy.errors import InvalidCiphertext, KeyMismatchError, KeyringError, MigralinkError, PrivacyError

ERRORS = [
    PrivacyError,
    KeyringError,
    KeyMismatchError,
    InvalidCiphertext,
    ClkConfigError,
    LinkageError,
    ModelNotFoundError,
    EmptyInputError,
    ReviewError,
    EvaluationError,
    SparkUnavailableError,
    SparkTranslationError,
    PipelineError,
    ConfigError,
    LandingFileError,
    WarehouseError,
    QuarantineError,
    RetentionError,
    SynthError,
    RuleParamsError,
]


@pytest.mark.parametrize("error", ERRORS, ids=[e.__name__ for e in ERRORS])
def test_every_package_error_is_a_migralink_error(error: type[Exception]) -> None:
    assert issubclass(error, MigralinkError)


def test_bad_rule_parameters_are_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="0 < threshold < window"):
        RuleParams(window=365, threshold=365)


def test_the_command_line_reports_a_linkage_error_by_its_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A linkage error is expected, not "unexpected": its message is the one line the operator reads."""

    def failing(**_: object) -> None:
        raise EmptyInputError("there are no tokenized records to link")

    monkeypatch.setattr("pipeline.cli.main.typer.main.get_command", lambda app: SimpleNamespace(main=failing))
    assert main(["status"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "migralink: error: there are no tokenized records to link"
