"""The packages import in one direction only: expectations <- privacy <- linkage <- pipeline <- dags (the suite
files and custom expectations under expectations/ depend on Great Expectations alone).

Every import statement of every module (top level or inside a function, docstring examples included) is read
from the source, so a lazy import that crosses a layer upwards is caught too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("expectations", "privacy", "linkage", "pipeline", "dags")
DOCTEST_IMPORT = re.compile(r">>> (?:from|import) ([a-z_][\w.]*)")


def _imported(path: Path) -> set[str]:
    source = path.read_text(encoding="utf-8")
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    found.update(DOCTEST_IMPORT.findall(source))
    return {name.split(".")[0] for name in found}


@pytest.mark.parametrize("layer", LAYERS)
def test_no_package_imports_a_layer_above_it(layer: str) -> None:
    above = set(LAYERS[LAYERS.index(layer) + 1 :])
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported(path) & above)
        for path in sorted((ROOT / layer).rglob("*.py"))
        if _imported(path) & above
    }
    assert offenders == {}


def test_pipeline_uses_only_the_public_names_of_linkage() -> None:
    internal = re.compile(r"^\s*(?:from linkage\.\w+ import|import linkage\.)", re.MULTILINE)
    offenders = [
        str(path.relative_to(ROOT))
        for layer in ("pipeline", "dags")
        for path in sorted((ROOT / layer).rglob("*.py"))
        if internal.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_command_line_imports_no_heavy_library_until_a_command_needs_it() -> None:
    """``migralink --help`` must answer at once: no Splink, DuckDB, Airflow, numpy, pandas or Arrow on import."""
    import subprocess
    import sys

    heavy = ("splink", "duckdb", "airflow", "numpy", "pandas", "pyarrow", "altair")
    probe = f"import sys, pipeline.cli.main; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert found.stdout.strip() == ""
