#!/usr/bin/env bash
# Brings up a Kafka-protocol broker and PostgreSQL on loopback for development
# and tests, and writes their addresses to .infra/env. See infra/README.md.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mkdir -p "$STATE_DIR"

brokers="${CHUTE_KAFKA_BROKERS:-}"
database="${CHUTE_DATABASE_URL:-}"

write_env() {
  printf 'CHUTE_KAFKA_BROKERS=%s\nCHUTE_DATABASE_URL=%s\n' "$brokers" "$database" > "$STATE_DIR/env"
  log "ready: CHUTE_KAFKA_BROKERS=$brokers CHUTE_DATABASE_URL=$database"
  cat "$STATE_DIR/env"
}

if [ -n "$brokers" ] && [ -n "$database" ]; then
  log "using the broker and database from the environment; starting nothing"
  write_env
  exit 0
fi

if docker_available; then
  log "a Docker engine answers: starting Redpanda, Redpanda Console and PostgreSQL with infra/docker-compose.yml"
  docker compose -f "$REPO_ROOT/infra/docker-compose.yml" up -d --wait
  touch "$STATE_DIR/docker"
  brokers="${brokers:-127.0.0.1:9092}"
  database="${database:-postgres://postgres@127.0.0.1:5432/chute}"
  write_env
  exit 0
fi

start_kafka() {
  local dir="$STATE_DIR/kafka"
  if pid_alive "$STATE_DIR/kafka.pid"; then
    [ "$(cat "$STATE_DIR/kafka.port")" = "$KAFKA_PORT" ] || die "this checkout's Kafka already runs on port $(cat "$STATE_DIR/kafka.port"); run npm run infra:down first"
    log "Kafka (pid $(cat "$STATE_DIR/kafka.pid")) is already running on 127.0.0.1:$KAFKA_PORT"
    return
  fi
  for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
    port_open "$port" && die "port $port is taken by another process. To use a broker that is already running, set CHUTE_KAFKA_BROKERS; otherwise free the port or set CHUTE_INFRA_KAFKA_PORT."
  done
  command -v java >/dev/null 2>&1 || apt_install openjdk-17-jre-headless || die "Java 17+ is needed to run Kafka: install it (Debian: apt-get install openjdk-17-jre-headless) or set CHUTE_KAFKA_BROKERS"

  # Jars are cached per pom, so a version bump fetches afresh.
  local jars="$CACHE_DIR/kafka/$(sha1sum "$REPO_ROOT/infra/kafka/pom.xml" | cut -c1-12)"
  if ! ls "$jars"/kafka_2.13-*.jar >/dev/null 2>&1; then
    command -v mvn >/dev/null 2>&1 || apt_install maven || die "Maven is needed to fetch Kafka's jars: install it (Debian: apt-get install maven) or set CHUTE_KAFKA_BROKERS"
    log "fetching Apache Kafka's jars from Maven Central into $jars"
    mvn -q -B -f "$REPO_ROOT/infra/kafka/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$jars.tmp" >"$STATE_DIR/mvn.log" 2>&1 \
      || { tail -20 "$STATE_DIR/mvn.log" >&2; die "could not fetch Kafka's jars (see above)"; }
    rm -rf "$jars" && mv "$jars.tmp" "$jars"
  fi

  # A fresh broker every time: tests start from an empty log.
  rm -rf "$dir" && mkdir -p "$dir/data"
  sed -e "s#@PORT@#$KAFKA_PORT#g" -e "s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" -e "s#@DATA_DIR@#$dir/data#g" \
    "$REPO_ROOT/infra/kafka/server.properties.tmpl" > "$dir/server.properties"
  local cluster_id
  cluster_id="$(java -cp "$jars/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)"
  java -cp "$jars/*" kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$dir/server.properties" >"$dir/format.log" 2>&1 \
    || { cat "$dir/format.log" >&2; die "could not format Kafka's storage"; }

  log "starting Apache Kafka (KRaft) on 127.0.0.1:$KAFKA_PORT"
  # A small heap and the serial collector: these machines have 2 cores.
  nohup java -Xms256m -Xmx512m -XX:+UseSerialGC -Dlog4j2.configurationFile="$REPO_ROOT/infra/kafka/log4j2.yaml" \
    -cp "$jars/*" kafka.Kafka "$dir/server.properties" >"$dir/kafka.log" 2>&1 &
  echo $! > "$STATE_DIR/kafka.pid"
  echo "$KAFKA_PORT" > "$STATE_DIR/kafka.port"
  if ! wait_until "port_open $KAFKA_PORT" 90; then
    tail -30 "$dir/kafka.log" >&2
    die "Kafka did not open 127.0.0.1:$KAFKA_PORT within 90 s (log above)"
  fi
}

start_postgres() {
  if pid_alive "$STATE_DIR/postgres.pid"; then
    [ "$(cat "$STATE_DIR/postgres.port")" = "$PG_PORT" ] || die "this checkout's PostgreSQL already runs on port $(cat "$STATE_DIR/postgres.port"); run npm run infra:down first"
    log "PostgreSQL (pid $(cat "$STATE_DIR/postgres.pid")) is already running on 127.0.0.1:$PG_PORT"
    return
  fi
  port_open "$PG_PORT" && die "port $PG_PORT is taken by another process. To use a PostgreSQL that is already running, set CHUTE_DATABASE_URL; otherwise free the port or set CHUTE_INFRA_PG_PORT."
  local bin
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  if [ -z "$bin" ]; then
    apt_install postgresql || die "PostgreSQL is needed: install it (Debian: apt-get install postgresql) or set CHUTE_DATABASE_URL"
    bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  fi
  # Postgres will not run as root: run it as the postgres user the package created.
  local run=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "there is no postgres user to run PostgreSQL as"
    run=(runuser -u postgres --)
  fi
  rm -rf "$PG_BASE" && mkdir -p "$PG_BASE"
  [ "$(id -u)" = 0 ] && chown postgres "$PG_BASE"
  "${run[@]}" "$bin/initdb" -D "$PG_BASE/data" -A trust -U postgres -E UTF8 --no-sync >"$STATE_DIR/initdb.log" 2>&1 \
    || { cat "$STATE_DIR/initdb.log" >&2; die "initdb failed"; }
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  # Durability settings off: this server holds throwaway dev and test data only.
  "${run[@]}" "$bin/pg_ctl" -D "$PG_BASE/data" -l "$PG_BASE/postgres.log" -w -t 60 \
    -o "-p $PG_PORT -k $PG_BASE -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null || { tail -30 "$PG_BASE/postgres.log" >&2; die "PostgreSQL did not start (log above)"; }
  head -1 "$PG_BASE/data/postmaster.pid" > "$STATE_DIR/postgres.pid"
  echo "$PG_BASE" > "$STATE_DIR/postgres.base"
  echo "$PG_PORT" > "$STATE_DIR/postgres.port"
  echo "$bin" > "$STATE_DIR/postgres.bin"
  "${run[@]}" "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qAt -c "create database chute" >/dev/null
}

if [ -z "$brokers" ]; then
  start_kafka
  brokers="127.0.0.1:$KAFKA_PORT"
fi
if [ -z "$database" ]; then
  start_postgres
  database="postgres://postgres@127.0.0.1:$PG_PORT/chute"
fi

# An open port is not yet a broker that answers metadata requests.
if [ -f "$STATE_DIR/kafka.pid" ]; then
  node "$REPO_ROOT/infra/scripts/wait-for-kafka.cjs" "$brokers" 90 \
    || { tail -30 "$STATE_DIR/kafka/kafka.log" >&2; die "Kafka did not answer on $brokers"; }
fi
write_env
