#!/usr/bin/env bash
# `npm start`: the whole platform on this machine - the broker and PostgreSQL
# (unless CHUTE_KAFKA_BROKERS / CHUTE_DATABASE_URL are given), a build, then the
# services as separate processes, each output line prefixed with its name.
# Ctrl-C or SIGTERM stops the services (one SIGTERM each: they drain), then the
# infrastructure this script started, keeping its data: the next start resumes
# the same runs (npm run infra:down -- --wipe deletes them). If a service exits
# on its own, the others are stopped too and its exit code is returned.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

# The projector first: it migrates the read model's schema on start.
SERVICES=(projector scheduler gateway worker demo-app)
STOP_GRACE=25   # seconds; the services' own drain deadline is 20 s

declare -A names=()   # pid -> service
cleanup() {
  local status=$? pid
  trap '' INT TERM   # a second Ctrl-C must not cut the clean-up short
  for pid in "${!names[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${!names[@]}"; do
    wait_until "! kill -0 $pid 2>/dev/null" "$STOP_GRACE" \
      || { log "${names[$pid]} did not stop within $STOP_GRACE s; killing it"; kill -KILL "$pid" 2>/dev/null || true; }
    wait "$pid" 2>/dev/null || true
  done
  infra_down_for_session --keep
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

infra_up_for_session
# Until the quick start mints a dev token, npm start runs the gateway without auth (it says so at start).
if [ -z "${CHUTE_AUTH_SECRET:-}" ]; then export CHUTE_AUTH_DISABLED="${CHUTE_AUTH_DISABLED:-true}"; fi
# The demo page reads its run's stream from the gateway itself: let the demo's origin call it.
demo_port="${CHUTE_DEMO_PORT:-8000}"
export CHUTE_CORS_ORIGINS="${CHUTE_CORS_ORIGINS:-http://127.0.0.1:$demo_port,http://localhost:$demo_port}"
echo "chute: broker $CHUTE_KAFKA_BROKERS, database $CHUTE_DATABASE_URL ($INFRA_SOURCE)" >&2
export CHUTE_KAFKA_BROKERS CHUTE_DATABASE_URL

npx nx run-many -t build --outputStyle=static

for service in "${SERVICES[@]}"; do
  [ -f "dist/services/$service/main.js" ] || die "dist/services/$service/main.js is missing after the build"
done
for service in "${SERVICES[@]}"; do
  # setsid: a Ctrl-C in the terminal reaches only this script, which then sends
  # each service a single SIGTERM (a SIGINT followed by our SIGTERM would cut
  # their drain short). The prefixing sed ignores both signals so it keeps
  # printing the services' last lines. setsid execs node, so $! is its pid.
  setsid node "dist/services/$service/main.js" </dev/null \
    > >(trap '' INT TERM; exec sed -u "s/^/[$service] /") 2>&1 &
  names[$!]="$service"
done
echo "chute: gateway on http://${CHUTE_GATEWAY_HOST:-127.0.0.1}:${CHUTE_GATEWAY_PORT:-8080}, demo on http://127.0.0.1:${CHUTE_DEMO_PORT:-8000} (try: curl -N http://127.0.0.1:${CHUTE_DEMO_PORT:-8000}/stream) - Ctrl-C stops everything" >&2

exited="" code=0
wait -n -p exited "${!names[@]}" || code=$?
if [ -n "$exited" ]; then
  log "${names[$exited]} (pid $exited) exited with code $code; stopping the others"
  unset "names[$exited]"
  [ "$code" != 0 ] || code=1   # the platform is not meant to end on its own
fi
exit "$code"
