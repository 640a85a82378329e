#!/usr/bin/env bash
# Stops exactly what up.sh started, by the pids it recorded; nothing else.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ -f "$STATE_DIR/docker" ]; then
  log "stopping the Docker Compose services"
  docker compose -f "$REPO_ROOT/infra/docker-compose.yml" down -v
  rm -f "$STATE_DIR/docker"
fi

stop_pid() { # name pidfile
  local pid
  pid="$(cat "$2")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $1 (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    wait_until "! kill -0 $pid 2>/dev/null" 30 || { log "$1 did not stop in 30 s; killing it"; kill -KILL "$pid" 2>/dev/null || true; }
  fi
  rm -f "$2"
}

if [ -f "$STATE_DIR/kafka.pid" ]; then
  stop_pid Kafka "$STATE_DIR/kafka.pid"
  rm -rf "$STATE_DIR/kafka" "$STATE_DIR/kafka.port"
fi

if [ -f "$STATE_DIR/postgres.pid" ]; then
  # SIGTERM to the postmaster is PostgreSQL's "smart" shutdown; -m fast via pg_ctl does not wait for clients.
  base="$(cat "$STATE_DIR/postgres.base" 2>/dev/null || true)"
  bin="$(cat "$STATE_DIR/postgres.bin" 2>/dev/null || true)"
  if [ -n "$base" ] && [ -n "$bin" ] && [ -d "$base/data" ]; then
    run=()
    [ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
    "${run[@]}" "$bin/pg_ctl" -D "$base/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  fi
  stop_pid PostgreSQL "$STATE_DIR/postgres.pid"
  [ -n "$base" ] && rm -rf "$base"
  rm -f "$STATE_DIR/postgres.base" "$STATE_DIR/postgres.bin" "$STATE_DIR/postgres.port"
fi
rm -f "$STATE_DIR/env"
