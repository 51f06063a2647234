#!/usr/bin/env bash
# Run Airflow on this machine with the project's DAGs: `airflow standalone` (api-server, scheduler,
# dag-processor, triggerer; LocalExecutor on SQLite) on 127.0.0.1, for trials. Not for production.
#
#   scripts/airflow.sh [--port N]      (or `make airflow`, `make airflow AIRFLOW_PORT=8081`)
#
# Environment:
#   AIRFLOW_PORT            API server / UI port on 127.0.0.1 (default 8080; --port wins)
#   MIGRALINK_AIRFLOW_HOME  the Airflow home (default <repo>/.airflow, ignored by git): SQLite database, logs,
#                           the generated admin password and JWT secret
#   MIGRALINK_CONFIG, or MIGRALINK_LANDING + MIGRALINK_WAREHOUSE + MIGRALINK_KEY_FILE
#                           the migralink settings the tasks use. When none is set, a small demo is made
#                           under <home>/demo: a synthetic landing zone (3,000 persons, the last 60 days and the
#                           next 14, so a scheduled or triggered night has partitions to process), a key and
#                           a warehouse path.
#
# The DAGs start paused: unpause migration_nightly in the UI, then trigger it (a run on day D processes the
# partitions up to D-1). Airflow's output goes to <home>/standalone.log. Ctrl-C stops Airflow: the whole
# process group (scheduler, task workers and all), which is started in its own session.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${AIRFLOW_PORT:-8080}"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --port) [ $# -ge 2 ] || { usage >&2; exit 2; }; PORT="$2"; shift 2 ;;
    --port=*) PORT="${1#--port=}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "airflow.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
case "$PORT" in
  ''|*[!0-9]*) echo "airflow.sh: the port must be a number (got '$PORT')" >&2; exit 2 ;;
esac

# The project's virtualenv first: standalone starts its components as `airflow ...` from the PATH.
if [ -x "$ROOT/.venv/bin/airflow" ]; then
  export PATH="$ROOT/.venv/bin:$PATH"
elif ! command -v airflow >/dev/null 2>&1; then
  echo "airflow.sh: no airflow command: run 'make install' first" >&2
  exit 1
fi
PY="$(dirname "$(command -v airflow)")/python"
[ -x "$PY" ] || PY="$(command -v python3)"

port_in_use() {
  "$PY" -c 'import socket, sys
s = socket.socket(); s.settimeout(1)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}
if port_in_use "$PORT"; then
  echo "airflow.sh: 127.0.0.1:$PORT is in use (another Airflow?); choose another port with --port N" >&2
  exit 1
fi

# --- Airflow home and configuration -------------------------------------------------------------------------
export AIRFLOW_HOME="${MIGRALINK_AIRFLOW_HOME:-$ROOT/.airflow}"
mkdir -p "$AIRFLOW_HOME"
AIRFLOW_HOME="$(cd "$AIRFLOW_HOME" && pwd)"

SECRET_FILE="$AIRFLOW_HOME/jwt_secret"
if [ ! -s "$SECRET_FILE" ]; then
  (umask 077 && "$PY" -c 'import secrets; print(secrets.token_urlsafe(64))' >"$SECRET_FILE")
fi
AIRFLOW__API_AUTH__JWT_SECRET="$(cat "$SECRET_FILE")"
export AIRFLOW__API_AUTH__JWT_SECRET
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"  # the default 32 workers swamp 2 cores
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="$PORT"
# Task workers reach the API server here (the default assumes localhost:8080).
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$PORT/execution/"
# The LocalExecutor's workers are forked from a server that imported migralink's steps once: each task would
# otherwise import them again (pipeline.quality.gates alone: 3.3 s of processor time; 14 tasks a night). Not Great
# Expectations: the server does not start with it (the scheduler reports no heartbeat). Restart Airflow after
# changing migralink.
export AIRFLOW__SCHEDULER__MP_START_METHOD=forkserver
export AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD=airflow,pipeline.nightly.steps,linkage.link,pipeline.quality.gates

# --- migralink settings: the caller's, or a demo -------------------------------------------------------------
if [ -n "${MIGRALINK_CONFIG:-}" ]; then
  [ -f "$MIGRALINK_CONFIG" ] || { echo "airflow.sh: MIGRALINK_CONFIG=$MIGRALINK_CONFIG does not exist" >&2; exit 1; }
  export MIGRALINK_CONFIG
  SETTINGS="config file $MIGRALINK_CONFIG"
elif [ -n "${MIGRALINK_LANDING:-}${MIGRALINK_WAREHOUSE:-}${MIGRALINK_KEY_FILE:-}" ]; then
  for name in MIGRALINK_LANDING MIGRALINK_WAREHOUSE MIGRALINK_KEY_FILE; do
    if [ -z "${!name:-}" ]; then
      echo "airflow.sh: $name is not set: set all of MIGRALINK_LANDING, MIGRALINK_WAREHOUSE and" \
        "MIGRALINK_KEY_FILE (or MIGRALINK_CONFIG), or none of them for a demo" >&2
      exit 1
    fi
  done
  export MIGRALINK_LANDING MIGRALINK_WAREHOUSE MIGRALINK_KEY_FILE
  SETTINGS="MIGRALINK_LANDING=$MIGRALINK_LANDING MIGRALINK_WAREHOUSE=$MIGRALINK_WAREHOUSE"
else
  DEMO="$AIRFLOW_HOME/demo"
  LANDING="$DEMO/landing"
  # Dates in UTC, as the DAG counts them: from 60 days ago to 14 days ahead (a night on day D needs D-1).
  read -r TODAY START END <<<"$("$PY" -c 'import datetime as dt
t = dt.datetime.now(dt.UTC).date()
print(t, t - dt.timedelta(days=60), t + dt.timedelta(days=14))')"
  if [ -f "$DEMO/landing.range" ]; then
    read -r _ LAST <"$DEMO/landing.range"
    if [[ "$LAST" < "$TODAY" ]]; then  # ISO dates compare as text
      echo "The demo landing zone ends on $LAST: making a new one (and a new warehouse) for today."
      rm -rf "$LANDING" "$DEMO/warehouse" "$DEMO/landing.range"
    fi
  fi
  if [ ! -f "$DEMO/landing.range" ]; then
    rm -rf "$LANDING"
    mkdir -p "$DEMO"
    echo "Generating a demo landing zone in $LANDING ($START to $END)..."
    migralink synth --out "$LANDING" --persons 3000 --start "$START" --end "$END" --seed 42
    # A source with no record on a day gets a header-only file: the day was delivered, empty. Without it the
    # night's sensor for that source would wait until its arrival deadline.
    "$PY" - "$LANDING" "$START" "$END" <<'EOF'
import datetime as dt
import sys
from pathlib import Path

landing, start, end = Path(sys.argv[1]), dt.date.fromisoformat(sys.argv[2]), dt.date.fromisoformat(sys.argv[3])
for source in ("border", "visa", "permit"):
    header = next((landing / source).glob("*/*.csv")).read_text(encoding="utf-8").splitlines()[0]
    day = start
    while day <= end:
        folder = landing / source / day.isoformat()
        if not folder.is_dir():
            folder.mkdir(parents=True)
            (folder / f"{source}-{day}.csv").write_text(header + "\n", encoding="utf-8")
        day += dt.timedelta(days=1)
EOF
    echo "$START $END" >"$DEMO/landing.range"
  fi
  if [ ! -f "$DEMO/demo.key" ]; then
    migralink keys init --key-file "$DEMO/demo.key"
  fi
  export MIGRALINK_LANDING="$LANDING"
  export MIGRALINK_WAREHOUSE="$DEMO/warehouse"
  export MIGRALINK_KEY_FILE="$DEMO/demo.key"
  # As `migralink demo`: the synthetic nationalities that may enter without a visa.
  MIGRALINK_VISA_EXEMPT="$("$PY" -c 'from pipeline.synth.nationalities import visa_exempt_codes
print(",".join(visa_exempt_codes()))')"
  export MIGRALINK_VISA_EXEMPT
  SETTINGS="demo in $DEMO (landing, warehouse, demo.key)"
fi

# --- start, wait, report, stay ---------------------------------------------------------------------------------
LOG="$AIRFLOW_HOME/standalone.log"
AIRFLOW_PID=""

# shellcheck disable=SC2317  # run by the traps below, which shellcheck 0.9 does not follow
stop_airflow() {
  trap - EXIT INT TERM
  if [ -n "$AIRFLOW_PID" ] && kill -0 -- "-$AIRFLOW_PID" 2>/dev/null; then
    echo "Stopping Airflow (process group $AIRFLOW_PID)..."
    kill -TERM -- "-$AIRFLOW_PID" 2>/dev/null || true
    for _ in $(seq 1 30); do
      kill -0 -- "-$AIRFLOW_PID" 2>/dev/null || break
      sleep 1
    done
    kill -KILL -- "-$AIRFLOW_PID" 2>/dev/null || true
    echo "Airflow stopped."
  fi
}
trap stop_airflow EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "Starting Airflow (home $AIRFLOW_HOME, log $LOG)..."
cd "$ROOT"
# setsid: a session and process group of its own, so that the whole of it can be stopped (and so that Ctrl-C
# reaches this script, which stops it in order, rather than every component at once).
setsid airflow standalone </dev/null >"$LOG" 2>&1 &
AIRFLOW_PID=$!

URL="http://127.0.0.1:$PORT"
PASSWORD_FILE="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
# Healthy: the API server answers /api/v2/monitor/health with every component healthy.
healthy() {
  "$PY" -c 'import json, sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1] + "/api/v2/monitor/health", timeout=5) as r:
        health = json.load(r)
except Exception:
    sys.exit(1)
names = ("metadatabase", "scheduler", "triggerer", "dag_processor")
sys.exit(0 if all((health.get(n) or {}).get("status") == "healthy" for n in names) else 1)' "$URL"
}
for i in $(seq 1 180); do
  if ! kill -0 "$AIRFLOW_PID" 2>/dev/null; then
    echo "airflow.sh: airflow standalone exited; the end of $LOG:" >&2
    tail -n 40 "$LOG" >&2
    exit 1
  fi
  if [ -f "$PASSWORD_FILE" ] && healthy; then
    break
  fi
  if [ "$i" -eq 180 ]; then
    echo "airflow.sh: Airflow did not become healthy in 3 minutes; the end of $LOG:" >&2
    tail -n 40 "$LOG" >&2
    exit 1
  fi
  sleep 1
done
PASSWORD="$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["admin"])' "$PASSWORD_FILE")"

cat <<EOF

Airflow is running: $URL
  login:     admin / $PASSWORD   (from $PASSWORD_FILE)
  DAGs:      $AIRFLOW__CORE__DAGS_FOLDER (migration_nightly starts paused: unpause it, then trigger it)
  migralink: $SETTINGS
  log:       $LOG
  health:    curl $URL/api/v2/monitor/health
Press Ctrl-C to stop.
EOF

# In the foreground until Ctrl-C (the trap stops the process group) or until Airflow exits by itself.
set +e
wait "$AIRFLOW_PID"
STATUS=$?
set -e
echo "airflow.sh: airflow standalone exited ($STATUS); the end of $LOG:" >&2
tail -n 40 "$LOG" >&2
exit "$STATUS"
