#!/usr/bin/env bash
# `npm run bench`: builds the services and runs the benchmarks in test/bench on the
# real broker and PostgreSQL (started here unless CHUTE_KAFKA_BROKERS and
# CHUTE_DATABASE_URL are given, and then stopped at exit), printing `bench:` lines.
# Arguments choose benchmarks: `npm run bench -- stream`.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

on_exit() {
  local status=$?
  trap '' INT TERM
  infra_down_for_session
  exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

infra_up_for_session
export CHUTE_KAFKA_BROKERS CHUTE_DATABASE_URL
# 10,000 WebSocket subscribers need as many sockets on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

npx nx run-many -t build --outputStyle=static >/dev/null
node --import tsx test/bench/main.ts "$@"
