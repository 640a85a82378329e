#!/usr/bin/env bash
# ruby -wc over every file (zero warnings), then rubocop (Debian's 1.39) with .rubocop.yml.
set -euo pipefail

status=0
while IFS= read -r file; do
  out=$(ruby -wc "$file" 2>&1) || { echo "$out"; status=1; continue; }
  if [ "$out" != "Syntax OK" ]; then echo "$file: $out"; status=1; fi
done < <(find lib test examples chute.gemspec -name '*.rb' -o -name '*.gemspec' | sort)
[ $status -eq 0 ] || exit $status
echo "ruby -wc: no warnings"
rubocop --format simple
