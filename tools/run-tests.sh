#!/usr/bin/env bash
# Runs one project's tests with node's test runner. Node 20's --test neither
# expands globs nor fails when given no files, so find them here and fail loudly
# when a project has none: a green run must mean tests ran.
set -euo pipefail
root="$1"
# Fault suites (*.fault.test.ts) stop and kill shared infrastructure: they run
# apart, in `npm run test:faults`.
mapfile -t files < <(find "$root" -path '*/node_modules' -prune -o -name '*.test.ts' ! -name '*.fault.test.ts' -print | sort)
if [ "${#files[@]}" -eq 0 ]; then
  echo "no test files under $root" >&2
  exit 1
fi
# Integration suites share one broker and one database: run files one at a time.
exec node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
