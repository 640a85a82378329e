#!/usr/bin/env bash
# `npm run test:faults`: the fault suites (*.fault.test.ts), which kill services
# and stop and restart the broker under load. Apart from `npm test` because they
# need a broker this checkout started and controls (never one given elsewhere),
# and because they take minutes. Infrastructure as in test.sh: brought up unless
# given, and what was started here stopped at exit.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

npx tsx tools/setup/main.ts --check debian kafka-jars || exit 1
infra_for_this_script

mapfile -t files < <(find libs services test -path '*/node_modules' -prune -o -name '*.fault.test.ts' -print | sort)
[ "${#files[@]}" -gt 0 ] || die "no *.fault.test.ts files found"
echo "chute fault tests: broker $CHUTE_KAFKA_BROKERS, database $CHUTE_DATABASE_URL ($INFRA_SOURCE)"
npx nx run-many -t build --projects=gateway,scheduler,worker,projector --parallel=1 --outputStyle=static >/dev/null
report="$STATE_DIR/faults-output.log"
status=0
node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}" 2>&1 | tee "$report" || status=$?
awk '{ gsub(/\033\[[0-9;]*m/, "") } /ℹ pass [0-9]+$/ { p += $NF } /ℹ (fail|cancelled) [0-9]+$/ { f += $NF } /ℹ skipped [0-9]+$/ { s += $NF }
     END { printf "chute faults: %d passed, %d failed, %d skipped\n", p, f, s }' "$report"
exit "$status"
