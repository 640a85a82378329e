#!/usr/bin/env bash
# `npm run infra:down`: stops exactly what up.sh started, found through what it
# recorded in .infra/ (pids checked against their command lines, or this
# checkout's Compose project), and nothing else: a broker or database started
# by hand or by another checkout is never touched.
# The broker's log and PostgreSQL's cluster are kept for the next up to restart
# on; --wipe deletes them (Docker's volumes always go: see down_docker).
# Usage: down.sh [--wipe] [docker] [kafka] [postgres]   (default: all three)
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

wipe=0
components=()
for arg in "$@"; do
  case "$arg" in
    --wipe) wipe=1 ;;
    *) components+=("$arg") ;;
  esac
done
[ "${#components[@]}" -gt 0 ] || components=(docker kafka postgres)
stopped=0
kept=()   # the data left for the next up, named in the last message

# Restarting the Compose project on its volumes is not done (nor tested without
# a Docker engine here): down deletes them, with or without --wipe.
down_docker() {
  docker_started || return 0
  log "stopping the Docker Compose project $(cat "$STATE_DIR/docker") and deleting its volumes"
  compose down -v --remove-orphans >&2 || die "docker compose down failed; .infra/docker is kept so you can retry"
  rm -f "$STATE_DIR/docker"
  stopped=1
}

down_kafka() {
  local leftover
  if kafka_running; then
    # SIGTERM is Kafka's controlled shutdown; it takes a few seconds.
    stop_process Kafka "$(cat "$STATE_DIR/kafka.pid")" 30
    stopped=1
  elif leftover="$(kafka_leftover)"; then
    # .infra/ was deleted under a running broker; its command line still names it.
    stop_process "a leftover Kafka of this checkout" "$leftover" 30
    stopped=1
  elif [ -f "$STATE_DIR/kafka.pid" ]; then
    log "Kafka (pid $(cat "$STATE_DIR/kafka.pid")) is no longer running; cleaning up its files"
  fi
  rm -f "$STATE_DIR/kafka.pid" "$STATE_DIR/kafka.port"
  # The log stays either way, for a look after a failed run.
  [ -e "$STATE_DIR/kafka/data" ] || return 0
  if [ "$wipe" = 1 ]; then
    log "deleting Kafka's data"
    rm -rf "$STATE_DIR/kafka/data" "$STATE_DIR/kafka/storage.port"
  else
    kept+=("Kafka's log")
  fi
}

down_postgres() {
  local base bin leftover
  base="$(cat "$STATE_DIR/postgres.base" 2>/dev/null || true)"
  bin="$(cat "$STATE_DIR/postgres.bin" 2>/dev/null || true)"
  if postgres_running; then
    local pid
    pid="$(cat "$STATE_DIR/postgres.pid")"
    log "stopping PostgreSQL (pid $pid)"
    # Fast shutdown: clients (a test that leaked a pool) are disconnected, not waited for.
    "${PG_AS[@]}" "$bin/pg_ctl" -D "$base/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    pid_is "$pid" "$(pg_marker)" && stop_process PostgreSQL "$pid" 10
    stopped=1
  elif leftover="$(pg_leftover)"; then
    # .infra/ was deleted under a running server; its data dir still names it.
    log "stopping a leftover PostgreSQL of this checkout (pid ${leftover% *})"
    base="$PG_BASE"
    bin="$(pg_bindir)"
    "${PG_AS[@]}" "$bin/pg_ctl" -D "$base/data" -m fast -w -t 30 stop >/dev/null 2>&1 \
      || stop_process PostgreSQL "${leftover% *}" 10
    stopped=1
  elif [ -f "$STATE_DIR/postgres.pid" ]; then
    log "PostgreSQL (pid $(cat "$STATE_DIR/postgres.pid")) is no longer running; cleaning up its files"
  fi
  rm -f "$STATE_DIR/postgres.pid" "$STATE_DIR/postgres.port"
  if [ "$wipe" = 0 ]; then
    # Kept: the cluster, and postgres.base saying where it is (for a later --wipe).
    [ ! -e "$PG_BASE/data" ] || kept+=("PostgreSQL's cluster")
    return 0
  fi
  # Keep the server's log in .infra/ (in place of the link to it), then delete its
  # dir - only ever one this checkout's up.sh created (its name carries our hash).
  local dir
  for dir in "$base" "$PG_BASE"; do
    [[ "$dir" == */chute-infra-"$REPO_HASH" ]] && [ -e "$dir" ] || continue
    log "deleting PostgreSQL's data ($dir)"
    rm -f "$STATE_DIR/postgres.log"
    cp "$dir/postgres.log" "$STATE_DIR/postgres.log" 2>/dev/null || true
    rm -rf "$dir"
  done
  rm -f "$STATE_DIR/postgres.base" "$STATE_DIR/postgres.bin"
}

for component in "${components[@]}"; do
  case "$component" in
    docker) down_docker ;;
    kafka) down_kafka ;;
    postgres) down_postgres ;;
    *) die "unknown component '$component' (expected docker, kafka or postgres)" ;;
  esac
done

# The addresses are stale once nothing of ours runs any more.
if ! docker_started && ! kafka_running && ! postgres_running; then
  rm -f "$STATE_DIR/env"
fi
[ "$stopped" = 1 ] || log "nothing of this checkout's was running"
[ "${#kept[@]}" = 0 ] || log "kept $(printf '%s and ' "${kept[@]}" | sed 's/ and $//') for the next up to restart on (npm run infra:down -- --wipe deletes it)"
