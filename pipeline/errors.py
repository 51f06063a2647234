"""Exceptions of the pipeline package. Messages name files and columns, never record values."""

from __future__ import annotations

from privacy.errors import MigralinkError


class PipelineError(MigralinkError):
    """Base class of every error the pipeline raises on purpose."""


class ConfigError(PipelineError):
    """A setting is missing or invalid."""


class LandingFileError(PipelineError):
    """A landing file cannot be read at all; its partition is not processed."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot read landing file {path}: {reason}")
        self.path = path
        self.reason = reason


class WarehouseError(PipelineError):
    """The warehouse is missing, locked, or belongs to another key."""


# Environment problems: the words the operating system or DuckDB uses, the errno, and the name to give the operator.
_PROBLEMS = (
    (("No space left on device",), 28, "the disk is full"),
    (("Disk quota exceeded",), 122, "the disk quota is exhausted"),
    (("File too large",), 27, "a file reached the file size limit"),
    (("Read-only file system",), 30, "the file system is read-only"),
    (("Permission denied",), 13, "permission denied"),
    (("Operation not permitted",), 1, "permission denied"),
)
_LOCKED = ("Could not set lock on file", "Conflicting lock is held")
# DuckDB's words for a database file whose bytes are damaged (it checks every block's checksum when it reads the
# block), cut short, or not a database at all, and how to say it.
_CORRUPT = (
    ("Corrupt database file", "a block's checksum does not match"),
    ("Could not read enough bytes from file", "the file is shorter than its contents"),
    ("is not a valid DuckDB database file", "not a DuckDB database file"),
)


def environment_problem(exc: BaseException) -> str | None:
    """One line naming the environment problem behind ``exc`` or the errors it was raised from (full disk,
    read-only file system, permissions, a warehouse locked by another process, memory) and the file it concerns;
    None when there is none. A warehouse database DuckDB finds corrupt is named too (restored from a backup, not
    rerun). Quotes file paths only, never a record value."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:  # Splink wraps DuckDB's errors
        seen.add(id(current))
        problem = _named_problem(current)
        if problem is not None:
            return problem
        current = current.__cause__ or current.__context__
    return None


def _named_problem(exc: BaseException) -> str | None:
    import re

    if type(exc).__name__ == "OutOfMemoryException":
        from pipeline.warehouse.memory import MEMORY_ENV, memory_limit

        try:
            budget = memory_limit()
        except ConfigError:  # changed since the warehouse was opened
            budget = "not a size"
        return (
            f"out of memory: DuckDB's budget ({MEMORY_ENV}={budget}) was not enough; raise it, or run the "
            "night where it has more memory (a failed night leaves the warehouse as it was)"
        )
    if isinstance(exc, MemoryError):
        return "out of memory: run the night where it has more memory (a failed night leaves the warehouse as it was)"
    from_duckdb = type(exc).__module__.startswith(("duckdb", "_duckdb"))
    if not (isinstance(exc, OSError) or from_duckdb):
        return None
    message = str(exc)
    quoted = re.search(r'"(/[^"]+)"', message) if from_duckdb else None
    path = quoted.group(1) if quoted else getattr(exc, "filename", None)
    if from_duckdb and any(mark in message for mark in _LOCKED):
        return f"another process has the warehouse open ({path}); wait for it to finish and rerun"
    for mark, what in _CORRUPT if from_duckdb else ():
        if mark in message:
            where = f" in {path}" if path else ""
            return (
                f"the warehouse database is corrupt ({what}{where}); restore the warehouse directory from its last "
                "backup (docs/operator-guide.md, Backups) and rerun"
            )
    errno = getattr(exc, "errno", None)
    for marks, number, problem in _PROBLEMS:
        if errno == number or (from_duckdb and any(mark in message for mark in marks)):
            where = f" (writing {path})" if path else ""
            return f"{problem}{where}; fix it and rerun (a failed night leaves the warehouse as it was)"
    return None
