#!/usr/bin/env bash
# Creates .venv and installs the SDK (editable) with its test and lint tools, all pinned in
# pyproject.toml. Idempotent: does nothing while the install is newer than pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=.venv/.setup-stamp
if [[ -x .venv/bin/python && -f $stamp && $stamp -nt pyproject.toml ]]; then
  echo "sdk-python: .venv is up to date"
  exit 0
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "sdk-python: needs Python 3.11 or later; $python is $("$python" --version 2>&1). Set PYTHON=python3.x." >&2
  exit 1
fi
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
touch "$stamp"
echo "sdk-python: .venv ready"
