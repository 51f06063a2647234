"""``migralink`` in a process of its own, switched as the tests' nights are (``tests/conftest.py``): Great
Expectations' validation left out (every expectation recorded as met) and the reports' charts drawn as a placeholder
(:mod:`tests.chart_placeholders`). For a test whose night must run in its own process (under a resource limit, say)
and is not about the gates or the charts.

Usage: ``python -m tests.plain_night <migralink arguments>`` from the repository's root.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from pipeline.cli.main import main as migralink
    from tests.chart_placeholders import patches
    from tests.pipeline.fault_runner import no_great_expectations

    no_great_expectations()
    for module, name, value in patches():
        setattr(module, name, value)
    return migralink(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
