#!/usr/bin/env bash
# `npm start`: the whole platform on this machine - the broker and PostgreSQL
# (unless given), then the four services as separate processes. Ctrl-C stops all.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

started_infra=0
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ "$started_infra" = 1 ] && bash "$REPO_ROOT/infra/scripts/down.sh"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${CHUTE_KAFKA_BROKERS:-}" ] || [ -z "${CHUTE_DATABASE_URL:-}" ]; then
  started_infra=1
  bash "$REPO_ROOT/infra/scripts/up.sh" >/dev/null
  set -a
  # shellcheck source=/dev/null
  source "$STATE_DIR/env"
  set +a
fi

npx nx run-many -t build --outputStyle=static

for service in projector scheduler gateway worker demo-app; do
  # Process substitution keeps $! the service's own pid, so the trap stops the service itself.
  node "dist/services/$service/main.js" > >(sed -u "s/^/[$service] /") 2>&1 &
  pids+=("$!")
done
echo "chute: gateway on http://${CHUTE_GATEWAY_HOST:-127.0.0.1}:${CHUTE_GATEWAY_PORT:-8080}, demo on http://127.0.0.1:${CHUTE_DEMO_PORT:-8000} (try: curl -N http://localhost:8000/stream) - Ctrl-C stops everything" >&2
wait -n "${pids[@]}" || true
