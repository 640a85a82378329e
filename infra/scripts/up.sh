#!/usr/bin/env bash
# `npm run infra:up`: a Kafka-protocol broker and PostgreSQL on loopback for
# development and tests. Writes their addresses to .infra/env and prints them as
# export lines (`eval "$(npm run -s infra:up)"`). See infra/README.md.
#
# In order of preference, for each of the two independently:
#   1. CHUTE_KAFKA_BROKERS / CHUTE_DATABASE_URL given: use it, start nothing;
#   2. a Docker engine answers: infra/docker-compose.yml (Redpanda + Console, PostgreSQL 16);
#   3. Apache Kafka (KRaft) from Maven Central's jars on the machine's Java, and
#      PostgreSQL from Debian's package (`npm run setup` installs all three);
#   4. otherwise: exit 1 saying what to install.
# A second run while ours is up reuses it; a stopped one restarts on its kept data
# (`npm run infra:down -- --wipe` deletes that data). When CHUTE_INFRA_STARTED_FILE
# is set, a line "<component> fresh|kept" is appended to it for each component
# *this* run started (test.sh uses that to stop only what it started, and to wipe
# only what it started empty).
# Usage: up.sh [kafka] [postgres]   (default: both)
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mkdir -p "$STATE_DIR"

brokers="${CHUTE_KAFKA_BROKERS:-}"
database="${CHUTE_DATABASE_URL:-}"
KAFKA_DEADLINE=90   # seconds; a cold JVM on 2 cores opens the port in ~4 s
PG_DEADLINE=60

# The components to bring up: the arguments, or both. One not asked for is left
# as it is (BrokerControl in libs/testing restarts the broker alone this way).
want_kafka=1 want_postgres=1
if [ "$#" -gt 0 ]; then
  want_kafka=0 want_postgres=0
  for component in "$@"; do
    case "$component" in
      kafka) want_kafka=1 ;;
      postgres) want_postgres=1 ;;
      *) die "unknown component '$component' (expected kafka or postgres)" ;;
    esac
  done
fi
# What this run must bring up itself: asked for, and no address given.
need_kafka=0 need_postgres=0
[ -n "$brokers" ] || [ "$want_kafka" = 0 ] || need_kafka=1
[ -n "$database" ] || [ "$want_postgres" = 0 ] || need_postgres=1

# What this run started (name, and "fresh" or "kept": empty or on kept data):
# reported to the caller, and stopped again if the run fails.
this_run=()
started() {
  this_run+=("$1")
  [ -z "${CHUTE_INFRA_STARTED_FILE:-}" ] || echo "$1 $2" >> "$CHUTE_INFRA_STARTED_FILE"
}
# A failed up leaves nothing running that it started (what was reused stays up).
rollback() {
  local status=$?
  if [ "$status" != 0 ] && [ "${#this_run[@]}" -gt 0 ]; then
    trap '' INT TERM
    log "stopping what this run started: ${this_run[*]}"
    bash "$REPO_ROOT/infra/scripts/down.sh" "${this_run[@]}" || true
  fi
  exit "$status"
}
trap rollback EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Single-quotes a value for a shell (URLs may hold & or ?).
shell_quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# Only the addresses known: `up.sh kafka` with no database of ours running has none for it.
write_env() {
  {
    [ -z "$brokers" ] || echo "CHUTE_KAFKA_BROKERS=$(shell_quote "$brokers")"
    [ -z "$database" ] || echo "CHUTE_DATABASE_URL=$(shell_quote "$database")"
  } > "$STATE_DIR/env.tmp"
  mv "$STATE_DIR/env.tmp" "$STATE_DIR/env"
  log "ready; addresses written to .infra/env:"
  sed 's/^/export /' "$STATE_DIR/env"
}

# The last lines of a component's log, without Java stack frames (the cause is
# in the message lines around them).
log_tail() { grep -v $'^\tat \|^\t\.\.\. [0-9]* more' "$1" 2>/dev/null | tail -25 >&2 || true; }

port_taken_message() { # port what envvar portvar
  local example=""
  [ $(( $1 + 10000 )) -gt 65534 ] || example=" (e.g. $4=$(( $1 + 10000 )))"
  echo "port $1 on 127.0.0.1 is taken by a process infra:up did not start. To use the $2 that is already there, set $3; otherwise free the port or start ours elsewhere with $4$example."
}

# Every port check before anything starts, so a conflict on one leaves the other alone.
preflight_native() {
  # Our own leftover broker holds its ports: no conflict, up_kafka replaces it.
  if [ "$need_kafka" = 1 ] && ! kafka_running && ! kafka_leftover >/dev/null; then
    port_open "$KAFKA_PORT" && die "$(port_taken_message "$KAFKA_PORT" broker CHUTE_KAFKA_BROKERS CHUTE_INFRA_KAFKA_PORT)"
    port_open "$KAFKA_CONTROLLER_PORT" && die "port $KAFKA_CONTROLLER_PORT on 127.0.0.1, which Kafka's controller would use (CHUTE_INFRA_KAFKA_PORT + 1), is taken by a process infra:up did not start. Free it, or move ours with CHUTE_INFRA_KAFKA_PORT (it uses that port and the next), or set CHUTE_KAFKA_BROKERS to use a broker that is already running."
  fi
  if [ "$need_postgres" = 1 ] && ! postgres_running; then
    local leftover
    leftover="$(pg_leftover || true)"
    # Our own leftover on that port is no conflict: up_postgres replaces it.
    if [ "${leftover#* }" != "$PG_PORT" ] && port_open "$PG_PORT"; then
      die "$(port_taken_message "$PG_PORT" PostgreSQL CHUTE_DATABASE_URL CHUTE_INFRA_PG_PORT)"
    fi
  fi
  return 0
}

# --- Docker -----------------------------------------------------------------

up_docker() {
  local services=()
  [ "$need_kafka" = 0 ] || services+=(redpanda console)
  [ "$need_postgres" = 0 ] || services+=(postgres)
  if ! docker_started; then
    # Compose would fail on a taken port too, but half way and less clearly.
    if [ "$need_kafka" = 1 ]; then
      port_open "$KAFKA_PORT" && die "$(port_taken_message "$KAFKA_PORT" broker CHUTE_KAFKA_BROKERS CHUTE_INFRA_KAFKA_PORT)"
      port_open "$CONSOLE_PORT" && die "port $CONSOLE_PORT (Redpanda Console) is taken; free it or set CHUTE_INFRA_CONSOLE_PORT"
    fi
    if [ "$need_postgres" = 1 ]; then
      port_open "$PG_PORT" && die "$(port_taken_message "$PG_PORT" PostgreSQL CHUTE_DATABASE_URL CHUTE_INFRA_PG_PORT)"
    fi
    # Compose's down deletes the volumes: a project it starts is always empty.
    started docker fresh
  fi
  # Recorded before starting, so down.sh also cleans up a start that failed half way.
  echo "$COMPOSE_PROJECT" > "$STATE_DIR/docker"
  log "a Docker engine answers: starting ${services[*]} with infra/docker-compose.yml (project $COMPOSE_PROJECT)"
  # --wait returns once the health checks pass (rpk cluster health; pg_isready on the chute db).
  if ! compose up -d --wait "${services[@]}" >&2; then
    compose logs --tail 30 "${services[@]}" >&2 || true
    die "docker compose did not bring up ${services[*]} (logs above)"
  fi
  [ "$need_kafka" = 0 ] || brokers="127.0.0.1:$KAFKA_PORT"
  [ "$need_postgres" = 0 ] || database="postgres://postgres@127.0.0.1:$PG_PORT/chute"
}

# --- Apache Kafka (KRaft) from the Maven Central jars -------------------------

ensure_java() {
  local major
  major="$(java_major)"
  [ -n "$major" ] && [ "$major" -ge 17 ] && return 0
  die "Kafka 4 needs Java 17 or newer (found: ${major:-none}). Run npm run setup (it installs openjdk-17-jre-headless), run a Docker engine, or set CHUTE_KAFKA_BROKERS to a running broker."
}

# Prints the dir holding Kafka's jars, which `npm run setup` fetches (tools/setup/steps.ts
# names the same dir: one per content of infra/kafka/pom.xml, so a version bump fetches afresh).
kafka_jars() {
  local jars
  jars="$CACHE_DIR/kafka/$(sha1sum "$REPO_ROOT/infra/kafka/pom.xml" | cut -c1-12)"
  ls "$jars"/kafka_2.13-*.jar >/dev/null 2>&1 \
    || die "Apache Kafka's jars are not in ${jars#"$REPO_ROOT"/}: run npm run setup (it fetches them with Maven), run a Docker engine, or set CHUTE_KAFKA_BROKERS."
  echo "$jars"
}

# Waits until the broker answers a metadata request and leads every partition:
# an open port is not yet a broker that has registered with its controller, and
# one restarted on kept data answers before it leads its partitions again. Uses
# kafkajs (the project's client) when npm ci has run; before that, an open port
# plus a short settle.
wait_for_kafka_metadata() {
  local log_file="$1"
  if (cd "$REPO_ROOT" && node -e "require.resolve('kafkajs')") >/dev/null 2>&1; then
    node "$REPO_ROOT/infra/scripts/wait-for-kafka.cjs" "127.0.0.1:$KAFKA_PORT" "$KAFKA_DEADLINE" >&2 && return 0
    log_tail "$log_file"
    return 1
  fi
  log "kafkajs is not installed yet (npm ci): checking the port only"
  sleep 2
  port_open "$KAFKA_PORT"
}

# Our own $1 (state files .infra/$1.pid and .port; $2 in messages) already runs:
# reuse it if it is on the wanted port $3, else die naming the variable $4.
reuse_ours() {
  local name="$1" label="$2" wanted="$3" variable="$4" port
  port="$(cat "$STATE_DIR/$name.port")"
  [ "$port" = "$wanted" ] \
    || die "this checkout's $label already runs on port $port, not $wanted: use it ($variable=$port) or run npm run infra:down first"
  log "reusing this checkout's $label (pid $(cat "$STATE_DIR/$name.pid")) on 127.0.0.1:$wanted"
}

up_kafka() {
  local dir="$STATE_DIR/kafka"
  if kafka_running; then
    reuse_ours kafka Kafka "$KAFKA_PORT" CHUTE_INFRA_KAFKA_PORT
    wait_for_kafka_metadata "$dir/kafka.log" || die "this checkout's Kafka on 127.0.0.1:$KAFKA_PORT does not answer (log above); npm run infra:down, then up again"
    return 0
  fi
  rm -f "$STATE_DIR/kafka.pid" "$STATE_DIR/kafka.port"   # stale: that process is gone
  local leftover
  if leftover="$(kafka_leftover)"; then
    log "stopping a leftover Kafka of this checkout (its pid file in .infra/ was lost)"
    stop_process Kafka "$leftover" 30
  fi
  ensure_java
  local jars
  jars="$(kafka_jars)"

  # A stopped broker restarts on its data (kept by down.sh unless --wipe): a
  # restart must not lose the log. Only without usable data is storage formatted.
  local state=fresh
  if [ -n "$(kafka_data_id)" ]; then
    state=kept
    # --standalone stored the controller's address in the data, so the data
    # belongs to the port it was formatted for.
    local kept_port
    kept_port="$(cat "$dir/storage.port")"
    [ "$kept_port" = "$KAFKA_PORT" ] \
      || die "this checkout's stopped Kafka keeps its data for port $kept_port, not $KAFKA_PORT: start it there (CHUTE_INFRA_KAFKA_PORT=$kept_port) or delete its data (npm run infra:down -- --wipe)"
  else
    rm -rf "$dir/data" "$dir/storage.port" && mkdir -p "$dir/data"
  fi
  sed -e "s#@PORT@#$KAFKA_PORT#g" -e "s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" -e "s#@DATA_DIR@#$dir/data#g" \
    "$REPO_ROOT/infra/kafka/server.properties.tmpl" > "$dir/server.properties"
  if [ "$state" = fresh ]; then
    local cluster_id
    cluster_id="$(java -cp "$jars/*" kafka.tools.StorageTool random-uuid 2>"$dir/format.log" | tail -1)"
    java -cp "$jars/*" kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$dir/server.properties" >>"$dir/format.log" 2>&1 \
      || { cat "$dir/format.log" >&2; die "could not format Kafka's storage (see above)"; }
    echo "$KAFKA_PORT" > "$dir/storage.port"
    log "starting Apache Kafka (KRaft) on 127.0.0.1:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT), empty"
  else
    log "starting Apache Kafka (KRaft) on 127.0.0.1:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT) on its kept data (cluster $(kafka_data_id))"
  fi
  # The previous run's log stays beside the new one (why did a killed broker die?).
  [ ! -f "$dir/kafka.log" ] || mv -f "$dir/kafka.log" "$dir/kafka.log.1"

  # A small heap and the serial collector: these machines have 2 cores and run
  # the services and tests beside it. setsid: a Ctrl-C in the terminal that ran
  # infra:up must not reach the broker; down.sh stops it by its pid.
  setsid java -Xms256m -Xmx512m -XX:+UseSerialGC \
    -Dlog4j2.configurationFile="$REPO_ROOT/infra/kafka/log4j2.yaml" \
    -cp "$jars/*" kafka.Kafka "$dir/server.properties" </dev/null >"$dir/kafka.log" 2>&1 &
  local pid=$!
  echo "$pid" > "$STATE_DIR/kafka.pid"
  echo "$KAFKA_PORT" > "$STATE_DIR/kafka.port"
  started kafka "$state"

  # Kept data the broker cannot start on stays until deleted: say how.
  local hint=""
  [ "$state" = fresh ] || hint="; it started on kept data, which npm run infra:down -- --wipe deletes"
  # Fails fast when the JVM dies (bad config, port race) instead of waiting out the deadline.
  if ! wait_until "port_open $KAFKA_PORT || ! kill -0 $pid 2>/dev/null" "$KAFKA_DEADLINE"; then
    log_tail "$dir/kafka.log"
    die "Kafka did not open 127.0.0.1:$KAFKA_PORT within $KAFKA_DEADLINE s (end of .infra/kafka/kafka.log above)$hint"
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    log_tail "$dir/kafka.log"
    die "Kafka exited while starting (end of .infra/kafka/kafka.log above)$hint"
  fi
  wait_for_kafka_metadata "$dir/kafka.log" \
    || die "Kafka on 127.0.0.1:$KAFKA_PORT did not answer, or lead every partition, within $KAFKA_DEADLINE s (log above)$hint"
}

# --- PostgreSQL from Debian's package ----------------------------------------

pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -t 2; }
pg_psql() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -At "$@"; }

ensure_chute_db() {
  wait_until pg_ready "$PG_DEADLINE" || return 1
  [ "$(pg_psql -c "select 1 from pg_database where datname = 'chute'")" = 1 ] || pg_psql -c "create database chute"
}

up_postgres() {
  PG_BIN="$(pg_bindir || true)"
  if postgres_running; then
    reuse_ours postgres PostgreSQL "$PG_PORT" CHUTE_INFRA_PG_PORT
    PG_BIN="$(cat "$STATE_DIR/postgres.bin")"
    ensure_chute_db || die "this checkout's PostgreSQL on 127.0.0.1:$PG_PORT does not answer; npm run infra:down, then up again"
    return 0
  fi
  rm -f "$STATE_DIR/postgres.pid" "$STATE_DIR/postgres.port"   # stale: that process is gone

  [ -n "$PG_BIN" ] \
    || die "PostgreSQL is needed: run npm run setup (it installs Debian's postgresql), run a Docker engine, or set CHUTE_DATABASE_URL to a running server."
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "PostgreSQL will not run as root and there is no postgres user to run it as (Debian's postgresql package creates one)"
  fi

  # Our own leftover server (its pid file in .infra/ was lost): stop it before wiping its dir.
  local leftover
  if leftover="$(pg_leftover)"; then
    log "stopping a leftover PostgreSQL of this checkout (pid ${leftover% *})"
    "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_BASE/data" -m fast -w -t 30 stop >/dev/null 2>&1 \
      || stop_process PostgreSQL "${leftover% *}" 10
  fi
  # Like the broker, a stopped server restarts on its kept cluster.
  local state=kept
  if [ -z "$(pg_data_id)" ]; then
    state=fresh
    rm -rf "$PG_BASE" && mkdir -p "$PG_BASE"
    if [ "$(id -u)" = 0 ]; then
      chown postgres "$PG_BASE" && chmod 0700 "$PG_BASE"
      "${PG_AS[@]}" test -w "$PG_BASE" \
        || die "the postgres user cannot reach $PG_BASE; point TMPDIR at a directory it can reach (e.g. TMPDIR=/tmp)"
    fi
    "${PG_AS[@]}" "$PG_BIN/initdb" -D "$PG_BASE/data" -A trust -U postgres -E UTF8 --no-sync >"$STATE_DIR/initdb.log" 2>&1 \
      || { cat "$STATE_DIR/initdb.log" >&2; die "initdb failed (see above)"; }
    # Written last: it also marks the cluster as complete (see pg_data_id).
    local log_id=none
    [ -n "${CHUTE_KAFKA_BROKERS:-}" ] || log_id="$(kafka_data_id)"
    echo "${log_id:-none}" > "$PG_BASE/kafka-cluster"
  fi
  ln -sfn "$PG_BASE/postgres.log" "$STATE_DIR/postgres.log"
  echo "$PG_BIN" > "$STATE_DIR/postgres.bin"
  echo "$PG_BASE" > "$STATE_DIR/postgres.base"
  echo "$PG_PORT" > "$STATE_DIR/postgres.port"

  log "starting PostgreSQL $(basename "$(dirname "$PG_BIN")") on 127.0.0.1:$PG_PORT$([ "$state" = fresh ] && echo ", empty" || echo " on its kept data")"
  # fsync, synchronous_commit and full_page_writes off: this server holds
  # throwaway dev and test data only, and durability costs seconds per test run.
  # The socket goes to our own dir, not /var/run/postgresql, which may not exist.
  # setsid: a Ctrl-C in the terminal must not reach the server; down.sh stops it.
  local rc=0
  started postgres "$state"   # from here on, a failure leaves something for down.sh to stop
  setsid "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_BASE/data" -l "$PG_BASE/postgres.log" -w -t "$PG_DEADLINE" \
    -o "-p $PG_PORT -k $PG_BASE -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start </dev/null >/dev/null 2>&1 || rc=$?
  [ ! -f "$PG_BASE/data/postmaster.pid" ] || head -1 "$PG_BASE/data/postmaster.pid" > "$STATE_DIR/postgres.pid"
  if [ "$rc" != 0 ] || ! ensure_chute_db; then
    log_tail "$PG_BASE/postgres.log"
    die "PostgreSQL did not start on 127.0.0.1:$PG_PORT (end of .infra/postgres.log above)$([ "$state" = fresh ] || echo "; it started on kept data, which npm run infra:down -- --wipe deletes")"
  fi
}

# --- main ----------------------------------------------------------------------

# The broker's log and the read model projected from it are kept or started
# empty together: the read model's checkpoints and its consumer groups' offsets
# point into one log, and against another it would skip or miss records. Checked
# when both are this checkout's (no address given for either).
check_kept_data_pair() {
  [ -z "${CHUTE_KAFKA_BROKERS:-}" ] && [ -z "${CHUTE_DATABASE_URL:-}" ] || return 0
  local log_id model_id
  log_id="$(kafka_data_id)"
  model_id="$(pg_data_id)"
  [ "$log_id" != "$model_id" ] || return 0   # both empty, or the read model of this log
  local what="this checkout's broker data (cluster ${log_id:-none}) and read model (projected from ${model_id:-nothing}) do not belong together"
  if [ "$need_kafka" = 1 ] && [ "$need_postgres" = 1 ]; then
    log "$what: deleting both, to start both empty"
    bash "$REPO_ROOT/infra/scripts/down.sh" --wipe kafka postgres
    return 0
  fi
  # Starting one alone: harmless while the other has no data yet (it is paired
  # when it starts), refused when that would put a log and a read model that do
  # not belong together side by side.
  local other_id="$log_id"
  [ "$need_kafka" = 0 ] || other_id="$model_id"
  [ -z "$other_id" ] || die "$what; start both (npm run infra:up) to start them empty, or delete both first (npm run infra:down -- --wipe)"
}

if [ "$need_kafka" = 0 ] && [ "$need_postgres" = 0 ]; then
  log "nothing to start: the addresses are given (CHUTE_KAFKA_BROKERS, CHUTE_DATABASE_URL) or not asked for"
elif docker_started || { ! kafka_running && ! postgres_running && docker_available; }; then
  up_docker
else
  preflight_native
  check_kept_data_pair
  if [ "$need_kafka" = 1 ]; then
    up_kafka
    brokers="127.0.0.1:$KAFKA_PORT"
  fi
  if [ "$need_postgres" = 1 ]; then
    up_postgres
    database="postgres://postgres@127.0.0.1:$PG_PORT/chute"
  fi
fi
# The address of one of ours that runs but was not asked for (`up.sh kafka`).
[ -n "$brokers" ] || ! kafka_running || brokers="127.0.0.1:$(cat "$STATE_DIR/kafka.port")"
[ -n "$database" ] || ! postgres_running || database="postgres://postgres@127.0.0.1:$(cat "$STATE_DIR/postgres.port")/chute"
write_env
