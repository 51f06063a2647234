"""``migralink`` in a process of its own, switched as the tests' nights are (``tests/conftest.py``): Great
Expectations' validation left out (every expectation recorded as met) and the reports' charts drawn as a placeholder
(:mod:`tests.chart_placeholders`). For a test whose night must run in its own process (under a resource limit, say)
and is not about the gates or the charts.

Usage: ``python -m tests.plain_night <migralink arguments>`` from the repository's root.
"""

from __future__ import annotations

import functools
import importlib
import sys
from typing import Any


def switch_as_test_nights() -> None:
    """In this process: Great Expectations' validation left out and the charts drawn as a placeholder (the killed
    nights of ``tests/pipeline/fault_runner.py`` are switched the same way)."""
    from tests.chart_placeholders import patches

    _no_great_expectations()
    for module, name, value in patches():
        setattr(module, name, value)


def every_expectation_met(suites: list[Any]) -> dict[str, list[Any]]:
    """What ``pipeline.quality.gates.validate_frames`` returns when every expectation of ``suites`` is met, with no
    counts: the tests' nights without Great Expectations' validation (here and ``tests/conftest.py``)."""
    return {suite.name: [(True, None, None, None)] * len(suite.expectations) for suite in suites}


def _no_great_expectations() -> None:
    """As ``tests/conftest.py`` does for the tests' nights: the batches are built and the results recorded, every
    expectation taken as met (Great Expectations' validation costs seconds per gate). Patched when the first gate
    runs: the points before it need not import the gates' modules (a second and a half)."""
    steps = importlib.import_module("pipeline.nightly.steps")
    quality_step = steps.quality_step

    def validate_frames(
        project: object, suites: list[Any], frames: object, night: object, parameters: object
    ) -> dict[str, list[Any]]:
        return every_expectation_met(suites)

    @functools.wraps(quality_step)
    def without_validation(*args: Any, **kwargs: Any) -> Any:
        from pipeline.quality import gates

        gates.validate_frames = validate_frames  # type: ignore[assignment]
        return quality_step(*args, **kwargs)

    setattr(steps, "quality_step", without_validation)


def main(argv: list[str]) -> int:
    from pipeline.cli.main import main as migralink

    switch_as_test_nights()
    return migralink(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
