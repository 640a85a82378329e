#!/usr/bin/env bash
# `npm test`: lint, typecheck and every project's tests (unit, integration against
# a real broker and PostgreSQL, end to end across service processes). Starts the
# infrastructure when CHUTE_KAFKA_BROKERS / CHUTE_DATABASE_URL are not given, and
# stops what it started. Extra arguments go to nx (e.g. `npm test -- --projects=log`).
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

# The browser test drives Debian's Chromium; the demo test runs curl.
command -v "${CHUTE_CHROMIUM:-chromium}" >/dev/null 2>&1 || apt_install chromium || die "the browser test needs Chromium: install it (Debian: apt-get install chromium) or set CHUTE_CHROMIUM"
command -v curl >/dev/null 2>&1 || apt_install curl || die "the demo test needs curl: install it (Debian: apt-get install curl)"

echo "chute tests: broker $CHUTE_KAFKA_BROKERS, database $CHUTE_DATABASE_URL"
report="$STATE_DIR/test-output.log"
mkdir -p "$STATE_DIR"
status=0
npx nx run-many -t lint typecheck test --parallel=1 --outputStyle=stream "$@" 2>&1 | tee "$report" || status=$?
# One closing line over every project's node:test summary.
awk '/ℹ pass [0-9]+$/ { p += $NF } /ℹ (fail|cancelled) [0-9]+$/ { f += $NF } /ℹ skipped [0-9]+$/ { s += $NF }
     END { printf "chute: %d passed, %d failed, %d skipped\n", p, f, s }' "$report"
exit "$status"
