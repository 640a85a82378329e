#!/usr/bin/env bash
# `npm run bench`: builds the services and runs the benchmarks in test/bench on the
# real broker and PostgreSQL (started here unless given), printing `bench:` lines.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

if [ -z "${CHUTE_KAFKA_BROKERS:-}" ] || [ -z "${CHUTE_DATABASE_URL:-}" ]; then
  trap 'bash "$REPO_ROOT/infra/scripts/down.sh"' EXIT
  trap 'exit 130' INT TERM
  bash "$REPO_ROOT/infra/scripts/up.sh" >/dev/null
  set -a
  # shellcheck source=/dev/null
  source "$STATE_DIR/env"
  set +a
fi

npx nx run-many -t build --outputStyle=static >/dev/null
node --import tsx test/bench/main.ts "$@"
