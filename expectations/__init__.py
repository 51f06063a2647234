"""Suite files of the data-quality gates and the project's custom expectations."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType

SUITES_DIR = Path(__file__).resolve().parent


def import_great_expectations() -> ModuleType:
    """Import Great Expectations (about 6 s, once per process) with its usage statistics off.

    It imports pyspark's Connect client when pyspark is installed (the spark extra), which calls ``sys.exit(0)``
    when the main module has no file (``python -c``, pytest-xdist workers), taking the process for a doctest run:
    the main module is given a file name for the import.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    main = sys.modules.get("__main__")
    borrowed = main is not None and getattr(main, "__spec__", None) is None and not hasattr(main, "__file__")
    if borrowed:
        main.__file__ = "<migralink>"  # type: ignore[union-attr]
    try:
        import great_expectations
    finally:
        if borrowed:
            del main.__file__  # type: ignore[union-attr]
    return great_expectations
