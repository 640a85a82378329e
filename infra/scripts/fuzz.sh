#!/usr/bin/env bash
# `npm run test:fuzz`: schemathesis fuzzes the gateway's whole HTTP API from its
# OpenAPI document (test/fuzz/schemathesis.fuzz.ts; `npm run setup` installs
# schemathesis from PyPI into test/fuzz/.venv). Apart from `npm test`
# because it takes minutes. Infrastructure as in test.sh: brought up unless
# given, and what was started here stopped at exit.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

npx tsx tools/setup/main.ts --check debian kafka-jars fuzz || exit 1
infra_for_this_script

echo "chute fuzz: broker $CHUTE_KAFKA_BROKERS, database $CHUTE_DATABASE_URL ($INFRA_SOURCE)"
npx nx run-many -t build --projects=gateway,scheduler,worker,projector --parallel=1 --outputStyle=static >/dev/null
node --import tsx --test --test-reporter=spec test/fuzz/schemathesis.fuzz.ts
