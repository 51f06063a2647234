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


@pytest.mark.parametrize(
    ("raised", "named"),
    [
        (OSError(28, "No space left on device", "/wh/.night-snapshot.duckdb"), "the disk is full (writing /wh/"),
        (OSError(30, "Read-only file system", "/wh/reports/x.html"), "the file system is read-only (writing /wh/"),
        (PermissionError(13, "Permission denied", "/wh/migralink.duckdb"), "permission denied (writing /wh/"),
        (
            __import__("duckdb").IOException('IO Error: Could not write file "/wh/migralink.duckdb": No space left'),
            None,  # a message DuckDB never writes this way is not guessed at
        ),
        (
            __import__("duckdb").IOException(
                'IO Error: Could not write file "/wh/migralink.duckdb.wal": No space left on device'
            ),
            "the disk is full (writing /wh/migralink.duckdb.wal); fix it and rerun",
        ),
        (
            __import__("duckdb").IOException(
                'IO Error: Could not set lock on file "/wh/migralink.duckdb": Conflicting lock is held in python'
            ),
            "another process has the warehouse open (/wh/migralink.duckdb); wait for it to finish and rerun",
        ),
        (__import__("duckdb").OutOfMemoryException("Out of Memory Error: failed to allocate"), "out of memory"),
        (
            __import__("duckdb").IOException(
                'IO Error: Could not read enough bytes from file "/wh/migralink.duckdb": attempted to read 182955 '
                "bytes from location 353621"
            ),
            "the warehouse database is corrupt (the file is shorter than its contents in /wh/migralink.duckdb); "
            "restore the warehouse directory from its last backup",
        ),
        (
            __import__("duckdb").IOException(
                "IO Error: Corrupt database file: computed checksum 123 does not match stored checksum 456 in block "
                "at location 262144"
            ),
            "the warehouse database is corrupt (a block's checksum does not match)",
        ),
        (RuntimeError("something else"), None),
        (OSError(2, "No such file or directory", "/x"), None),
    ],
    ids=[
        "disk full",
        "read-only fs",
        "permission",
        "unknown duckdb text",
        "duckdb disk full",
        "locked",
        "memory",
        "cut short",
        "checksum",
        "other error",
        "other errno",
    ],
)
def test_environment_problems_are_named_with_their_file(raised: BaseException, named: str | None) -> None:
    from pipeline.errors import environment_problem

    found = environment_problem(raised)
    assert found == named if named is None else found is not None and found.startswith(named)


def test_an_environment_problem_wrapped_by_another_library_is_found() -> None:
    import duckdb

    from pipeline.errors import environment_problem

    try:
        try:
            raise duckdb.IOException('IO Error: Could not write file "/wh/a.wal": Read-only file system')
        except duckdb.IOException as inner:
            raise RuntimeError("Error executing the following sql for 'training'") from inner
    except RuntimeError as outer:
        assert environment_problem(outer) == (
            "the file system is read-only (writing /wh/a.wal); fix it and rerun (a failed night leaves the warehouse "
            "as it was)"
        )
