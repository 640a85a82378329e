import { appendFileSync } from 'node:fs';
import { formatStartedLine, type Component, type StartState, type Started, type StoppableComponent } from './components';
import { COMPOSE_SERVICES, DockerCompose } from './docker';
import { InfraDown } from './down';
import { formatEnvFile, type InfraAddresses } from './env-file';
import { InvalidBrokerCountError, KeptDataMismatchError, PortTakenError, RunsWithOtherSizeError } from './errors';
import { KafkaCluster } from './kafka/cluster';
import { quorumSize } from './kafka/cluster-decision';
import { quorumOf } from './kafka/config';
import { decideKeptDataPairing } from './pairing';
import { PostgresServer } from './postgres/server';
import type { InfraReporter } from './reporter';
import { controllerPortTakenMessage, isPortOpen, portTakenMessage, type InfraSettings } from './settings';
import { stateFile, type InfraLayout } from './state-dir';

/** What `infra:up` is asked to do. */
export interface UpRequest {
  /** The components to bring up; one not asked for is left as it is (BrokerControl restarts the broker alone this way). */
  components: ReadonlySet<Component>;
  /** How many Kafka brokers: one, or a replicated cluster (`--brokers 3`). @default 1 */
  brokers?: number;
  /** Called for each component this run starts itself, as soon as it has a process to stop. */
  onStarted?: (started: Started) => void;
  /** CHUTE_INFRA_STARTED_FILE: a file to append a "<component> fresh|kept" line to for each of them. */
  startedFile?: string | undefined;
  /** Aborts the run (Ctrl-C): what it started is stopped again. */
  signal?: AbortSignal;
}

/** What `infra:up` found or started. */
export interface UpResult {
  addresses: InfraAddresses;
  /** `.infra/env`'s text: `NAME='value'` lines. */
  envFile: string;
  /** What this run started itself. */
  started: Started[];
}

/**
 * `infra:up`: a Kafka-protocol broker and PostgreSQL on loopback for
 * development and tests. For each of the two independently: the address
 * given (CHUTE_KAFKA_BROKERS / CHUTE_DATABASE_URL, start nothing); else this
 * checkout's Docker Compose project when a Docker engine answers; else Apache
 * Kafka (KRaft) from Maven Central's jars on the machine's Java and Debian's
 * PostgreSQL. A second run while ours is up reuses it; a stopped one restarts
 * on its kept data. A failed run leaves nothing running that it started (what
 * was reused stays up).
 */
export class InfraUp {
  private readonly docker: DockerCompose;
  private kafka: KafkaCluster;
  private readonly postgres: PostgresServer;

  constructor(
    private readonly layout: InfraLayout,
    private readonly settings: InfraSettings,
    private readonly reporter: InfraReporter,
  ) {
    this.docker = new DockerCompose(layout, settings, reporter);
    this.kafka = new KafkaCluster(layout, settings.kafkaPort, 1, reporter);
    this.postgres = new PostgresServer(layout, settings.pgPort, reporter);
  }

  async run(request: UpRequest): Promise<UpResult> {
    this.kafka = new KafkaCluster(this.layout, this.settings.kafkaPort, request.brokers ?? 1, this.reporter);
    const started: Started[] = [];
    const record = (component: StoppableComponent, state: StartState): void => {
      const entry = { component, state };
      started.push(entry);
      if (request.startedFile) appendFileSync(request.startedFile, formatStartedLine(entry));
      request.onStarted?.(entry);
    };
    try {
      const addresses = await this.bringUp(request, record);
      return { addresses, envFile: this.writeEnv(addresses), started };
    } catch (error) {
      if (started.length > 0) {
        const components = [...new Set(started.map((s) => s.component))];
        this.reporter.info(`stopping what this run started: ${components.join(' ')}`);
        await new InfraDown(this.layout, this.settings, this.reporter).run({ components }).catch(() => undefined);
      }
      throw error;
    }
  }

  private async bringUp(request: UpRequest, record: (component: StoppableComponent, state: StartState) => void): Promise<InfraAddresses> {
    const { signal } = request;
    let brokers = this.settings.brokers;
    let databaseUrl = this.settings.databaseUrl;
    // What this run must bring up itself: asked for, and no address given.
    const needKafka = request.components.has('kafka') && !brokers;
    const needPostgres = request.components.has('postgres') && !databaseUrl;

    if (!needKafka && !needPostgres) {
      this.reporter.info('nothing to start: the addresses are given (CHUTE_KAFKA_BROKERS, CHUTE_DATABASE_URL) or not asked for');
    } else if (this.docker.started() || (this.kafka.running().length === 0 && this.postgres.pid() === undefined && DockerCompose.available())) {
      // The compose file's three-node Redpanda cluster is started by hand (infra/README.md).
      if (needKafka && this.kafka.size > 1) throw new InvalidBrokerCountError(`--brokers ${this.kafka.size} runs Kafka natively; with Docker, start the compose file's redpanda-cluster profile instead (infra/README.md)`);
      await this.upDocker(needKafka, needPostgres, record);
      if (needKafka) brokers = `127.0.0.1:${this.settings.kafkaPort}`;
      if (needPostgres) databaseUrl = PostgresServer.url(this.settings.pgPort);
    } else {
      await this.preflightNative(needKafka, needPostgres);
      await this.checkKeptDataPairing(needKafka, needPostgres);
      if (needKafka) {
        // Every broker runs: reuse them; some or none: start the rest (a killed broker rejoins its cluster).
        if (this.kafka.running().length === this.kafka.size) await this.kafka.reuse(signal);
        else await this.kafka.start((state) => record('kafka', state), signal);
        brokers = this.kafka.addresses;
      }
      if (needPostgres) {
        if (this.postgres.pid() !== undefined) await this.postgres.reuse(signal);
        else await this.postgres.start(this.settings.brokers ? undefined : this.kafka.dataId(), (state) => record('postgres', state), signal);
        databaseUrl = PostgresServer.url(this.settings.pgPort);
      }
    }
    // The address of one of ours that runs but was not asked for (`infra:up kafka`).
    if (!brokers) {
      const running = KafkaCluster.ofFolders(this.layout, this.settings.kafkaPort, this.reporter).running();
      if (running.length > 0) brokers = running.map((b) => `127.0.0.1:${b.recordedPort()}`).join(',');
    }
    if (!databaseUrl && this.postgres.pid() !== undefined) databaseUrl = PostgresServer.url(this.postgres.recordedPort() ?? this.settings.pgPort);
    return { brokers, databaseUrl };
  }

  /** Every port check before anything starts, so a conflict on one leaves the other alone. */
  private async preflightNative(needKafka: boolean, needPostgres: boolean): Promise<void> {
    const { kafkaPort, pgPort } = this.settings;
    if (needKafka) {
      // A cluster of another size runs: its brokers hold ports this one would use.
      const existing = KafkaCluster.ofFolders(this.layout, kafkaPort, this.reporter).running();
      const wanted = quorumOf(this.kafka.brokers.map((b) => b.node));
      const theirs = existing.map((b) => b.kept().quorum ?? 'standalone').find((quorum) => quorum !== wanted);
      if (existing.length > this.kafka.size || theirs !== undefined) throw new RunsWithOtherSizeError(theirs === undefined ? existing.length : quorumSize(theirs), this.kafka.size);
    }
    for (const broker of needKafka ? this.kafka.brokers : []) {
      // Our own leftover broker holds its ports: no conflict, start() replaces it.
      if (broker.pid() !== undefined || broker.leftover() !== undefined) continue;
      const { port, controllerPort } = broker.node;
      if (await isPortOpen(port)) throw new PortTakenError(port, portTakenMessage(port, 'broker', 'CHUTE_KAFKA_BROKERS', 'CHUTE_INFRA_KAFKA_PORT'));
      if (await isPortOpen(controllerPort)) throw new PortTakenError(controllerPort, controllerPortTakenMessage(controllerPort));
    }
    if (needPostgres && this.postgres.pid() === undefined) {
      // Our own leftover on that port is no conflict: start() replaces it.
      if (this.postgres.leftover()?.port !== pgPort && (await isPortOpen(pgPort))) {
        throw new PortTakenError(pgPort, portTakenMessage(pgPort, 'PostgreSQL', 'CHUTE_DATABASE_URL', 'CHUTE_INFRA_PG_PORT'));
      }
    }
  }

  private async checkKeptDataPairing(needKafka: boolean, needPostgres: boolean): Promise<void> {
    const decision = decideKeptDataPairing({
      logId: this.kafka.dataId(),
      modelId: this.postgres.dataId(),
      needKafka,
      needPostgres,
      addressGiven: Boolean(this.settings.brokers || this.settings.databaseUrl),
    });
    switch (decision.action) {
      case 'keep':
        return;
      case 'wipe-both':
        this.reporter.info(decision.message);
        await new InfraDown(this.layout, this.settings, this.reporter).run({ components: ['kafka', 'postgres'], wipe: true });
        return;
      case 'refuse':
        throw new KeptDataMismatchError(decision.message);
      default: {
        const exhaustive: never = decision;
        throw new Error(`unknown pairing decision ${JSON.stringify(exhaustive)}`);
      }
    }
  }

  private async upDocker(needKafka: boolean, needPostgres: boolean, record: (component: StoppableComponent, state: StartState) => void): Promise<void> {
    const { kafkaPort, pgPort, consolePort } = this.settings;
    const services = [...(needKafka ? COMPOSE_SERVICES.kafka : []), ...(needPostgres ? COMPOSE_SERVICES.postgres : [])];
    if (!this.docker.started()) {
      // Compose would fail on a taken port too, but half way and less clearly.
      if (needKafka) {
        if (await isPortOpen(kafkaPort)) throw new PortTakenError(kafkaPort, portTakenMessage(kafkaPort, 'broker', 'CHUTE_KAFKA_BROKERS', 'CHUTE_INFRA_KAFKA_PORT'));
        if (await isPortOpen(consolePort)) throw new PortTakenError(consolePort, `port ${consolePort} (Redpanda Console) is taken; free it or set CHUTE_INFRA_CONSOLE_PORT`);
      }
      if (needPostgres && (await isPortOpen(pgPort))) {
        throw new PortTakenError(pgPort, portTakenMessage(pgPort, 'PostgreSQL', 'CHUTE_DATABASE_URL', 'CHUTE_INFRA_PG_PORT'));
      }
      // Compose's down deletes the volumes: a project it starts is always empty.
      record('docker', 'fresh');
    }
    this.docker.record();
    await this.docker.up(services);
  }

  private writeEnv(addresses: InfraAddresses): string {
    const text = formatEnvFile(addresses);
    stateFile.writeText(this.layout.state('env'), text);
    this.reporter.info('ready; addresses written to .infra/env:');
    return text;
  }
}
