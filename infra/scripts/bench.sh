#!/usr/bin/env bash
# `npm run bench`: builds the services and runs the benchmarks in test/bench on the
# real broker and PostgreSQL (started here unless CHUTE_KAFKA_BROKERS and
# CHUTE_DATABASE_URL are given, and then stopped at exit), printing `bench:` lines.
# BullMQ's side runs on Debian's redis-server (installed by `npm run setup`), which
# the bench starts and stops itself. Arguments choose benchmarks:
# `npm run bench -- floors stream runs takeover bullmq sdks`; parameters are
# CHUTE_BENCH_* variables (test/bench/params.ts). Results go to test/bench/results/.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

npx tsx tools/setup/main.ts --check debian kafka-jars sdk-python sdk-go || exit 1
infra_for_this_script
# 10,000 WebSocket subscribers need as many sockets on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

npx nx run-many -t build --outputStyle=static >/dev/null
node --import tsx test/bench/main.ts "$@"
