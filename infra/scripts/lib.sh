# Shared by up.sh, down.sh, test.sh and start.sh. Sourced, not run.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE_DIR="$REPO_ROOT/.infra"        # what up.sh started: pids, logs, env
CACHE_DIR="$REPO_ROOT/.cache"        # downloads kept between runs (Kafka jars)
KAFKA_PORT="${CHUTE_INFRA_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="$((KAFKA_PORT + 1))"
PG_PORT="${CHUTE_INFRA_PG_PORT:-5432}"
# Postgres refuses to run as root and needs a data dir its user can reach from /,
# which a clone under /root may not be: keep its files under the temp dir.
PG_BASE="${TMPDIR:-/tmp}/chute-infra-$(printf '%s' "$REPO_ROOT" | sha1sum | cut -c1-10)"

log() { echo "infra: $*" >&2; }
die() { echo "infra: error: $*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else return 1
  fi
}

apt_install() {
  command -v apt-get >/dev/null 2>&1 || return 1
  log "installing $* from Debian's packages"
  as_root apt-get update -qq >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

docker_available() {
  command -v docker >/dev/null 2>&1 && timeout 5 docker info >/dev/null 2>&1
}

# Waits up to $2 seconds for $1 (a command) to succeed.
wait_until() {
  local check="$1" deadline=$((SECONDS + $2))
  until eval "$check"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.5
  done
}
