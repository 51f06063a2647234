"""The commands the README and the guides document work as written.

Every ``migralink`` line of a shell block in README.md and docs/ must name an existing command with existing
options; the README's command-line block is run line by line, as a new operator would paste it.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from pipeline.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(?:bash|sh|shell|console)?\s*$")


def shell_blocks(markdown: str) -> list[list[str]]:
    """The shell code blocks of a Markdown text, each a list of commands (continuation lines joined)."""
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for line in markdown.splitlines():
        if line.startswith("```"):
            if current is None and FENCE.match(line) and line.strip() != "```":
                current = []
            elif current is not None:
                blocks.append(current)
                current = None
            continue
        if current is None:
            continue
        if current and current[-1].endswith("\\"):
            current[-1] = current[-1][:-1] + " " + line.strip()
        else:
            current.append(line)
    return blocks


def argv_of(command: str) -> list[str]:
    """A documented ``migralink ...`` line as argv: comments and ``[optional]`` parts removed."""
    words = shlex.split(re.sub(r"\[[^\]]*\]", "", command), comments=True)
    assert words[0] == "migralink"
    return words[1:]


DOCUMENTED = [
    pytest.param(argv_of(command), id=f"{path.name}: {command.strip()[:70]}")
    for path in DOCUMENTS
    for block in shell_blocks(path.read_text(encoding="utf-8"))
    for command in block
    if command.strip().startswith("migralink ")
]


def test_the_documents_hold_commands_to_check() -> None:
    assert len(DOCUMENTED) >= 25  # README's block, the operator guide, operations, linkage


@pytest.mark.parametrize("argv", DOCUMENTED)
def test_every_documented_command_and_option_exists(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """``--help`` after the documented words: an unknown command or option is a usage error (exit 2)."""
    assert main([*argv, "--help"]) == 0, capsys.readouterr().err
    assert "Usage: migralink" in capsys.readouterr().out


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_airflow_dags_test_comes_after_airflow_db_migrate(path: Path) -> None:
    """``airflow dags test`` on a new Airflow home fails until its metadata database exists."""
    commands = [c.strip() for block in shell_blocks(path.read_text(encoding="utf-8")) for c in block]
    tests = [i for i, c in enumerate(commands) if c.startswith("airflow dags test")]
    migrations = [i for i, c in enumerate(commands) if c.startswith("airflow db migrate")]
    assert all(migrations and migrations[0] < i for i in tests), f"{path.name}: airflow db migrate missing before"


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [c for c in shell_blocks(text[text.index("## Command line") :])[0] if c.strip()]


@pytest.mark.slow
@pytest.mark.quality_gates
@pytest.mark.charts
def test_the_readme_command_line_block_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each line in order in an empty directory; a night may finish with warnings (exit 4) and says which.
    Scoring on Spark is checked by the Spark tests, not here (it needs a JVM and a minute)."""
    monkeypatch.chdir(tmp_path)
    commands = readme_commands()
    assert commands[0].startswith("migralink keys init")
    for command in commands:
        argv = argv_of(command)
        if "spark" in argv:
            continue
        code = main(argv)
        err = capsys.readouterr().err
        if argv[0] == "run" and code == 4:
            assert err.strip() and all(line.startswith("migralink: warning:") for line in err.strip().splitlines())
            continue
        assert code == 0, f"{command.strip()}: exit {code}: {err.strip()}"
