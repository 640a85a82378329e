#!/usr/bin/env bash
# `npm test`: lint, typecheck and every project's tests (unit, integration against
# a real broker and PostgreSQL, end to end across service processes).
# When CHUTE_KAFKA_BROKERS and CHUTE_DATABASE_URL are not both given it brings
# the infrastructure up (infra/scripts/up.sh) and stops, at exit - also on
# failure or Ctrl-C - what it started. If the infrastructure cannot be brought
# up it fails: tests are never skipped for want of a broker.
# Extra arguments go to nx (e.g. `npm test -- --projects=log`).
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

# What the tests need beyond npm ci (a browser, curl, Java, PostgreSQL, redis-server,
# the SDKs' toolchains) is installed by `npm run setup`, never here: fail at once,
# naming what is missing, rather than half way through.
npx tsx tools/setup/main.ts --check || exit 1
infra_for_this_script

echo "chute tests: broker $CHUTE_KAFKA_BROKERS, database $CHUTE_DATABASE_URL ($INFRA_SOURCE)"
report="$STATE_DIR/test-output.log"
mkdir -p "$STATE_DIR"
status=0
npx nx run-many -t lint typecheck test --parallel=1 --outputStyle=stream "$@" 2>&1 | tee "$report" || status=$?
# One closing line over every project's node:test summary (colour codes stripped:
# Node 24's reporter colours it even into a pipe when Nx forces colour).
awk '{ gsub(/\033\[[0-9;]*m/, "") } /ℹ pass [0-9]+$/ { p += $NF } /ℹ (fail|cancelled) [0-9]+$/ { f += $NF } /ℹ skipped [0-9]+$/ { s += $NF }
     END { printf "chute: %d passed, %d failed, %d skipped\n", p, f, s }' "$report"
exit "$status"
