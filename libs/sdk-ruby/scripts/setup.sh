#!/usr/bin/env bash
# Installs what the SDK's tests and lint need, from Debian's packages: Ruby
# 3.1, minitest, json_schemer (schema checks), websocket (the fake gateway's
# frame reader) and rubocop. Fast and silent when all are there.
set -euo pipefail

packages=(ruby ruby-minitest ruby-json-schemer ruby-websocket rubocop)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
