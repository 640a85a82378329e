#!/usr/bin/env bash
# The Go SDK's linters: gofmt (no file may need formatting), go vet and
# staticcheck (pinned; fetched from the Go module proxy on first use).
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted="$(gofmt -l .)"
if [ -n "$unformatted" ]; then
  echo "gofmt: these files need formatting (run gofmt -w .):" >&2
  echo "$unformatted" >&2
  exit 1
fi
go vet ./...
go run honnef.co/go/tools/cmd/staticcheck@v0.7.0 ./...
echo "lint: gofmt, go vet and staticcheck found nothing"
