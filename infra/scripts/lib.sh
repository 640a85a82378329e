# Shared by up.sh, down.sh, test.sh, faults.sh, fuzz.sh and bench.sh. Sourced, not run.
# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables are for the scripts that source this file
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE_DIR="$REPO_ROOT/.infra"        # what up.sh started: pids, ports, logs, env
CACHE_DIR="$REPO_ROOT/.cache"        # downloads kept between runs (Kafka's jars)

# The ports the scripts *start* things on. Move them to run beside another
# checkout's (or a hand-started) broker and database.
KAFKA_PORT="${CHUTE_INFRA_KAFKA_PORT:-9092}"
PG_PORT="${CHUTE_INFRA_PG_PORT:-5432}"
CONSOLE_PORT="${CHUTE_INFRA_CONSOLE_PORT:-8081}"   # Redpanda Console, Docker only
for _p in "$KAFKA_PORT" "$PG_PORT" "$CONSOLE_PORT"; do
  if ! [[ "$_p" =~ ^[0-9]{1,5}$ ]] || [ "$_p" -lt 1 ] || [ "$_p" -gt 65534 ]; then
    echo "infra: error: port '$_p' (CHUTE_INFRA_*_PORT) is not a number between 1 and 65534" >&2; exit 1
  fi
done
KAFKA_CONTROLLER_PORT="$((KAFKA_PORT + 1))"

# One name per checkout, so two clones never share a temp dir or a Compose project.
REPO_HASH="$(printf '%s' "$REPO_ROOT" | sha1sum | cut -c1-10)"
# PostgreSQL refuses to run as root, and its user must reach its data dir from /,
# which a clone under /root or a 0700 home is not: keep its files under the temp dir.
_tmp="${TMPDIR:-/tmp}"
PG_BASE="${_tmp%/}/chute-infra-$REPO_HASH"   # no "//": the marker below must match the server's -D
COMPOSE_FILE="$REPO_ROOT/infra/docker-compose.yml"
COMPOSE_PROJECT="chute-$REPO_HASH"

log() { echo "infra: $*" >&2; }
die() { echo "infra: error: $*" >&2; exit 1; }

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# True when pid $1 is alive and its command line contains $2. A pid file alone
# is not proof: after a reboot the pid may belong to an unrelated process, and
# down.sh must never stop anything infra:up did not start.
pid_is() {
  local pid="$1" marker="$2" args
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  args="$(ps -ww -o args= -p "$pid" 2>/dev/null)" || return 1
  [[ "$args" == *"$marker"* ]]
}

# The markers that identify our own processes.
kafka_marker() { echo "$STATE_DIR/kafka/server.properties"; }
# The data dir up.sh recorded (TMPDIR may differ between up and down).
pg_marker() { echo "$(cat "$STATE_DIR/postgres.base" 2>/dev/null || echo "$PG_BASE")/data"; }

# Kept data: what a stopped component restarts on. Each prints an id, or
# nothing when there is nothing usable to restart on (then up.sh starts it empty).
#  - The broker's: the cluster id of its formatted KRaft storage. storage.port is
#    written only once a format has succeeded, so a format cut short is no data.
kafka_data_id() {
  [ -f "$STATE_DIR/kafka/storage.port" ] || return 0
  sed -n 's/^cluster\.id=//p' "$STATE_DIR/kafka/data/meta.properties" 2>/dev/null || true
}
#  - The read model's: the cluster id of the broker whose log it was projected
#    from ("none" when that broker was not ours), recorded after initdb succeeded.
#    A cluster made by another PostgreSQL major version than the installed one
#    cannot be started, so it counts as none.
pg_data_id() {
  local bin
  bin="$(pg_bindir)" || return 0
  [ "$(cat "$PG_BASE/data/PG_VERSION" 2>/dev/null)" = "$(basename "$(dirname "$bin")")" ] || return 0
  cat "$PG_BASE/kafka-cluster" 2>/dev/null || true
}

kafka_running() { [ -f "$STATE_DIR/kafka.pid" ] && pid_is "$(cat "$STATE_DIR/kafka.pid")" "$(kafka_marker)"; }
postgres_running() { [ -f "$STATE_DIR/postgres.pid" ] && pid_is "$(cat "$STATE_DIR/postgres.pid")" "$(pg_marker)"; }
docker_started() { [ -f "$STATE_DIR/docker" ]; }

# A Kafka of this checkout still running after .infra/ was deleted (git clean
# -fdx): its command line names this checkout's server.properties. Prints its pid.
kafka_leftover() {
  local pid args
  while read -r pid args; do
    if [[ "$args" == *"kafka.Kafka $(kafka_marker)" ]]; then echo "$pid"; return 0; fi
  done < <(ps -ww -eo pid=,args= 2>/dev/null)
  return 1
}

# A PostgreSQL of this checkout still running from its data dir after .infra/
# was deleted (git clean -fdx): prints "pid port". Its own postmaster.pid
# records both (lines 1 and 4).
pg_leftover() {
  local file="$PG_BASE/data/postmaster.pid" pid port
  [ -f "$file" ] || return 1
  pid="$(sed -n 1p "$file")"; port="$(sed -n 4p "$file")"
  pid_is "$pid" "$PG_BASE/data" || return 1
  echo "$pid $port"
}

# Runs "$@" as root: directly, or through sudo when there is one.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else return 1
  fi
}

# A Docker engine that answers quickly, and the Compose plugin to drive it. The
# timeout matters: a client pointed at a dead socket or remote host can hang.
docker_available() {
  command -v docker >/dev/null 2>&1 \
    && timeout 5 docker info >/dev/null 2>&1 \
    && timeout 5 docker compose version >/dev/null 2>&1
}

# docker compose on this checkout's project, bounded in time (an image pull on a
# slow network must not hang npm test forever). The ports are interpolated into
# docker-compose.yml.
compose() {
  CHUTE_INFRA_KAFKA_PORT="$KAFKA_PORT" CHUTE_INFRA_PG_PORT="$PG_PORT" CHUTE_INFRA_CONSOLE_PORT="$CONSOLE_PORT" \
    timeout 600 docker compose -p "$COMPOSE_PROJECT" -f "$COMPOSE_FILE" "$@"
}

# Prefix that runs a command as the postgres user when we are root (PostgreSQL
# will not run as root); empty otherwise. Usage: "${PG_AS[@]}" cmd...
PG_AS=()
if [ "$(id -u)" = 0 ]; then PG_AS=(runuser -u postgres --); fi

# The newest installed PostgreSQL's bin dir (Debian layout), or nothing.
pg_bindir() {
  local postgres
  postgres="$(ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sort -V | tail -1)"
  [ -n "$postgres" ] && dirname "$postgres"
}

# The major version of the java on PATH (8 for "1.8.0_x"), or nothing.
java_major() {
  command -v java >/dev/null 2>&1 || return 0
  java -version 2>&1 | sed -nE '1s/.*version "(1\.)?([0-9]+).*/\2/p'
}

# Waits up to $2 seconds for the command $1 to succeed; 0.5 s between tries.
wait_until() {
  local check="$1" deadline=$((SECONDS + $2))
  until eval "$check"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.5
  done
}

# Stops pid $2 (named $1 in messages) with SIGTERM, then SIGKILL after $3 seconds.
stop_process() {
  local name="$1" pid="$2" grace="${3:-30}"
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || return 0
  if ! wait_until "! kill -0 $pid 2>/dev/null" "$grace"; then
    log "$name did not stop within $grace s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    wait_until "! kill -0 $pid 2>/dev/null" 5 || true
  fi
}

# For test.sh, faults.sh, fuzz.sh and bench.sh: bring the infrastructure up unless both
# addresses are given, export the addresses, and record in $INFRA_STARTED what
# this call started (components that were already running are reused and left
# alone at the end). Usage: infra_up_for_session; ...; infra_down_for_session
INFRA_STARTED_FILE=""
infra_up_for_session() {
  if [ -n "${CHUTE_KAFKA_BROKERS:-}" ] && [ -n "${CHUTE_DATABASE_URL:-}" ]; then
    INFRA_SOURCE="given by the environment"
    return 0
  fi
  INFRA_STARTED_FILE="$(mktemp "${TMPDIR:-/tmp}/chute-started.XXXXXX")"
  CHUTE_INFRA_STARTED_FILE="$INFRA_STARTED_FILE" bash "$REPO_ROOT/infra/scripts/up.sh" >/dev/null
  set -a
  # shellcheck source=/dev/null
  source "$STATE_DIR/env"
  set +a
  if [ -s "$INFRA_STARTED_FILE" ]; then
    INFRA_SOURCE="started here: $(awk '{ print $1 " (" ($2 == "fresh" ? "empty" : "on its kept data") ")" }' "$INFRA_STARTED_FILE" | sort -u | tr '\n' ' ')- stopped at exit"
  else
    INFRA_SOURCE="already running from npm run infra:up - left running"
  fi
}

# Stops what infra_up_for_session started (also after it failed half way), and
# wipes the data of what it started empty: a test run's topics and databases are
# debris. Data it restarted on was there before the session and stays.
# (`chute dev --kafka` keeps everything: services/cli/src/dev-infra.ts.)
infra_down_for_session() {
  [ -n "$INFRA_STARTED_FILE" ] || return 0
  local fresh kept
  fresh="$(awk '$2 == "fresh" { print $1 }' "$INFRA_STARTED_FILE" | sort -u)"
  kept="$(awk '$2 != "fresh" { print $1 }' "$INFRA_STARTED_FILE" | sort -u)"
  # shellcheck disable=SC2086
  [ -z "$fresh" ] || bash "$REPO_ROOT/infra/scripts/down.sh" --wipe $fresh || true
  # shellcheck disable=SC2086
  [ -z "$kept" ] || bash "$REPO_ROOT/infra/scripts/down.sh" $kept || true
  rm -f "$INFRA_STARTED_FILE"
  INFRA_STARTED_FILE=""
}

# For test.sh and bench.sh: the infrastructure for this script - brought up now
# (unless given), its addresses exported, and what was started here stopped at
# exit, also on failure or Ctrl-C.
infra_for_this_script() {
  trap '_infra_status=$?; trap "" INT TERM; infra_down_for_session; exit $_infra_status' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  infra_up_for_session
  export CHUTE_KAFKA_BROKERS CHUTE_DATABASE_URL
}
