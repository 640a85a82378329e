/**
 * Why the infrastructure could not be brought up or down. One class per
 * condition, each with a stable `code`, so callers (the CLI, BrokerControl,
 * tests) tell them apart by class, never by matching the message. Messages say
 * what was wrong and what to do; they are the ones the bash scripts printed.
 */
export abstract class InfraError extends Error {
  abstract readonly code: string;

  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A CHUTE_INFRA_*_PORT that is not a port number. */
export class InvalidPortError extends InfraError {
  readonly code = 'INFRA_INVALID_PORT';
  constructor(readonly value: string) {
    super(`port '${value}' (CHUTE_INFRA_*_PORT) is not a number between 1 and 65534`);
  }
}

/** An argument of `infra:up` / `infra:down` that names no component. */
export class UnknownComponentError extends InfraError {
  readonly code = 'INFRA_UNKNOWN_COMPONENT';
  constructor(
    readonly component: string,
    expected: string,
  ) {
    super(`unknown component '${component}' (expected ${expected})`);
  }
}

/** A port ours would listen on is held by a process this checkout did not start. */
export class PortTakenError extends InfraError {
  readonly code = 'INFRA_PORT_TAKEN';
  constructor(
    readonly port: number,
    message: string,
  ) {
    super(message);
  }
}

/** This checkout's broker or server already runs, on another port than the one asked for. */
export class RunsOnOtherPortError extends InfraError {
  readonly code = 'INFRA_RUNS_ON_OTHER_PORT';
  constructor(label: string, running: number, wanted: number, variable: string) {
    super(`this checkout's ${label} already runs on port ${running}, not ${wanted}: use it (${variable}=${running}) or run npm run infra:down first`);
  }
}

/** This checkout's running broker or server does not answer. */
export class NotAnsweringError extends InfraError {
  readonly code = 'INFRA_NOT_ANSWERING';
}

/** No Java 17+ to run Kafka 4 on. */
export class JavaMissingError extends InfraError {
  readonly code = 'INFRA_JAVA_MISSING';
  constructor(found: number | undefined) {
    super(
      `Kafka 4 needs Java 17 or newer (found: ${found ?? 'none'}). Run npm run setup (it installs openjdk-17-jre-headless), run a Docker engine, or set CHUTE_KAFKA_BROKERS to a running broker.`,
    );
  }
}

/** Kafka's jars have not been fetched (`npm run setup` does). */
export class KafkaJarsMissingError extends InfraError {
  readonly code = 'INFRA_KAFKA_JARS_MISSING';
  constructor(shownDir: string) {
    super(`Apache Kafka's jars are not in ${shownDir}: run npm run setup (it fetches them with Maven), run a Docker engine, or set CHUTE_KAFKA_BROKERS.`);
  }
}

/** The kept broker data cannot start the cluster asked for (another size, or nodes that do not belong together). */
export class KeptClusterMismatchError extends InfraError {
  readonly code = 'INFRA_KEPT_CLUSTER_MISMATCH';
}

/** `--brokers` is not a count infra:up starts, or the cluster's ports would run past 65535. */
export class InvalidBrokerCountError extends InfraError {
  readonly code = 'INFRA_INVALID_BROKER_COUNT';
}

/** This checkout's Kafka runs with another number of brokers than asked for. */
export class RunsWithOtherSizeError extends InfraError {
  readonly code = 'INFRA_RUNS_WITH_OTHER_SIZE';
  constructor(running: number, wanted: number) {
    super(
      `this checkout's Kafka already runs with ${running} broker${running === 1 ? '' : 's'}, not ${wanted}: use it (npm run infra:up -- --brokers ${running}) or run npm run infra:down first`,
    );
  }
}

/** `kafka-storage format` failed. */
export class KafkaFormatError extends InfraError {
  readonly code = 'INFRA_KAFKA_FORMAT';
  constructor() {
    super("could not format Kafka's storage (see above)");
  }
}

/** The broker did not open its port, exited, or did not become ready within its deadline. */
export class KafkaStartError extends InfraError {
  readonly code = 'INFRA_KAFKA_START';
}

/** No PostgreSQL installed. */
export class PostgresMissingError extends InfraError {
  readonly code = 'INFRA_POSTGRES_MISSING';
  constructor() {
    super('PostgreSQL is needed: run npm run setup (it installs Debian\'s postgresql), run a Docker engine, or set CHUTE_DATABASE_URL to a running server.');
  }
}

/** Running as root without a postgres user to run the server as. */
export class PostgresUserMissingError extends InfraError {
  readonly code = 'INFRA_POSTGRES_USER_MISSING';
  constructor() {
    super("PostgreSQL will not run as root and there is no postgres user to run it as (Debian's postgresql package creates one)");
  }
}

/** The postgres user cannot write the directory its cluster would live in. */
export class PostgresDirUnreachableError extends InfraError {
  readonly code = 'INFRA_POSTGRES_DIR_UNREACHABLE';
  constructor(dir: string) {
    super(`the postgres user cannot reach ${dir}; point TMPDIR at a directory it can reach (e.g. TMPDIR=/tmp)`);
  }
}

/** initdb failed. */
export class InitdbError extends InfraError {
  readonly code = 'INFRA_INITDB';
  constructor() {
    super('initdb failed (see above)');
  }
}

/** PostgreSQL did not start, or its `chute` database could not be made. */
export class PostgresStartError extends InfraError {
  readonly code = 'INFRA_POSTGRES_START';
}

/** The kept broker data and read model do not belong together, and only one of them is being started. */
export class KeptDataMismatchError extends InfraError {
  readonly code = 'INFRA_KEPT_DATA_MISMATCH';
}

/** docker compose failed. */
export class ComposeError extends InfraError {
  readonly code = 'INFRA_COMPOSE';
}

/** The run was interrupted (Ctrl-C, SIGTERM) and rolled back. */
export class InterruptedError extends InfraError {
  readonly code = 'INFRA_INTERRUPTED';
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted (${signal})`);
  }
}
