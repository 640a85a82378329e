import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { StartState } from '../components';
import { InvalidBrokerCountError, JavaMissingError, KafkaJarsMissingError, KafkaStartError, KeptClusterMismatchError, NotAnsweringError, RunsOnOtherPortError } from '../errors';
import { fileTail } from '../log-tail';
import type { InfraReporter } from '../reporter';
import type { InfraLayout } from '../state-dir';
import { KafkaBroker, KAFKA_DEADLINE_SECONDS, newClusterId } from './broker';
import { decideClusterStart } from './cluster-decision';
import { clusterNodes, MAX_BROKERS, quorumOf } from './config';
import { hasKafkaJars, javaMajor, kafkaJarsDir } from './jars';
import { waitForBrokerReady } from './readiness';

/**
 * @throws InvalidBrokerCountError when `count` is not 1 to MAX_BROKERS, or the
 *   cluster's 2 ports per broker from `port` would run past 65535
 */
export function checkBrokerCount(port: number, count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > MAX_BROKERS) {
    throw new InvalidBrokerCountError(`--brokers must be a whole number from 1 to ${MAX_BROKERS} (got ${count})`);
  }
  const last = port + 2 * count - 1;
  if (last > 65535) throw new InvalidBrokerCountError(`${count} brokers from port ${port} would need ports up to ${last}: set a lower CHUTE_INFRA_KAFKA_PORT`);
}

/**
 * This checkout's Kafka: one node (the default) or a cluster of N combined
 * broker+controller nodes with an N-voter quorum, node i on ports
 * `port + 2(i-1)` and the one after (see clusterNodes). Starts what does not
 * run - empty, or on its kept data when the whole cluster kept some - and
 * waits until every broker has registered and every partition has a leader.
 */
export class KafkaCluster {
  readonly brokers: readonly KafkaBroker[];

  constructor(
    private readonly layout: InfraLayout,
    /** The first broker's port (CHUTE_INFRA_KAFKA_PORT). */
    readonly port: number,
    readonly size: number,
    private readonly reporter: InfraReporter,
  ) {
    checkBrokerCount(port, size);
    const nodes = clusterNodes(port, size, (name) => layout.state(name));
    this.brokers = nodes.map((node) => new KafkaBroker(layout, node, reporter, nodes));
  }

  /**
   * The cluster whose folders this checkout has (`.infra/kafka`,
   * `.infra/kafka-2`, ...): what infra:down stops and wipes, whatever size up was asked for.
   */
  static ofFolders(layout: InfraLayout, port: number, reporter: InfraReporter): KafkaCluster {
    return new KafkaCluster(layout, port, Math.min(MAX_BROKERS, Math.max(1, ...nodeIdsIn(layout.stateDir))), reporter);
  }

  /** The addresses clients use, comma-separated (CHUTE_KAFKA_BROKERS). */
  get addresses(): string {
    return this.brokers.map((b) => b.address).join(',');
  }

  /** The first broker: the one whose files the single-broker setup always had. */
  get first(): KafkaBroker {
    return this.brokers[0]!;
  }

  /** The brokers of this cluster that run now. */
  running(): KafkaBroker[] {
    return this.brokers.filter((b) => b.pid() !== undefined);
  }

  /** Whether any of its brokers runs, or is a leftover whose pid file was lost. */
  anyProcess(): boolean {
    return this.brokers.some((b) => b.pid() !== undefined || b.leftover() !== undefined);
  }

  /** The cluster id of the kept data (the first node's; the start decision checks the others agree). */
  dataId(): string | undefined {
    return this.first.dataId();
  }

  hasData(): boolean {
    return this.brokers.some((b) => b.hasData());
  }

  /**
   * Reuses this checkout's running cluster: each broker on its port, answering.
   * @throws RunsOnOtherPortError, NotAnsweringError
   */
  async reuse(signal?: AbortSignal): Promise<void> {
    for (const broker of this.brokers) {
      const port = broker.recordedPort();
      if (port !== broker.node.port) throw new RunsOnOtherPortError(`Kafka${this.size > 1 ? ` (broker ${broker.node.id})` : ''}`, port ?? 0, broker.node.port, 'CHUTE_INFRA_KAFKA_PORT');
    }
    this.reporter.info(`reusing this checkout's Kafka (pid ${this.brokers.map((b) => b.pid()).join(', ')}) on ${this.addresses}`);
    if (!(await this.waitReady(signal))) {
      throw new NotAnsweringError(`this checkout's Kafka on ${this.addresses} does not answer (log above); npm run infra:down, then up again`);
    }
  }

  /**
   * Starts the brokers that do not run: all of them empty, or on their kept
   * data (those that run stay: a killed broker of a cluster rejoins it this
   * way). `onSpawned` is called as soon as a process runs, so a caller can
   * stop it if what follows fails.
   * @returns whether they started empty or on kept data
   * @throws KeptClusterMismatchError, JavaMissingError, KafkaJarsMissingError, KafkaStartError
   */
  async start(onSpawned: (state: StartState) => void, signal?: AbortSignal): Promise<StartState> {
    const running = this.running();
    const toStart = this.brokers.filter((b) => !running.includes(b));
    for (const broker of toStart) await broker.stopLeftover();
    const major = javaMajor();
    if (major === undefined || major < 17) throw new JavaMissingError(major);
    const jars = kafkaJarsDir(this.layout.root);
    if (!hasKafkaJars(jars)) throw new KafkaJarsMissingError(this.layout.shown(jars));
    const classpath = ['-cp', path.join(jars, '*')];

    // A stopped broker restarts on its data (kept by infra:down unless --wipe):
    // a restart must not lose the log. Only without any data is storage formatted.
    const decision = decideClusterStart(
      toStart.map((b) => b.kept()),
      { ports: new Map(this.brokers.map((b) => [b.node.id, b.node.port])), quorum: quorumOf(this.brokers.map((b) => b.node)), running: running.length },
    );
    if (decision.action === 'refuse') throw new KeptClusterMismatchError(decision.message);
    const state: StartState = decision.action;
    const clusterId = state === 'fresh' ? newClusterId() : undefined;
    for (const broker of toStart) await broker.prepare(classpath, clusterId);
    const what = this.size === 1 ? 'Apache Kafka (KRaft)' : `${toStart.length} of ${this.size} Apache Kafka (KRaft) brokers`;
    const where = toStart.map((b) => `${b.address} (controller ${b.node.controllerPort})`).join(', ');
    this.reporter.info(`starting ${what} on ${where}, ${state === 'fresh' ? 'empty' : `on kept data (cluster ${decision.action === 'kept' ? decision.clusterId : ''})`}`);
    const pids = toStart.map((broker) => {
      const pid = broker.spawn(classpath);
      return { broker, pid };
    });
    onSpawned(state);
    // Every node opens its port on its own; a quorum needs a majority of them, so readiness is awaited for all together.
    await Promise.all(pids.map(({ broker, pid }) => broker.waitOpened(pid, state, signal)));
    if (!(await this.waitReady(signal))) {
      const hint = state === 'fresh' ? '' : '; it started on kept data, which npm run infra:down -- --wipe deletes';
      throw new KafkaStartError(`Kafka on ${this.addresses} did not answer with ${this.size} broker${this.size === 1 ? '' : 's'}, or a leader for every partition, within ${KAFKA_DEADLINE_SECONDS} s (log above)${hint}`);
    }
    return state;
  }

  /**
   * Waits until every broker of the cluster is registered and every partition
   * has a leader; on failure shows why and the end of each log.
   */
  async waitReady(signal?: AbortSignal): Promise<boolean> {
    const waiting = await waitForBrokerReady(this.addresses, KAFKA_DEADLINE_SECONDS, signal, this.size);
    if (waiting === undefined) return true;
    this.reporter.output(`Kafka on ${this.addresses} is not ready: ${waiting}\n`);
    for (const broker of this.brokers) this.reporter.output(fileTail(broker.files.log));
    return false;
  }

  /**
   * Stops every broker at once (a cluster stopped one by one loses its quorum
   * half way, and the last brokers' controlled shutdown waits for a
   * controller that is gone). Keeps their data.
   * @returns whether something was stopped
   */
  async stop(): Promise<boolean> {
    const stopped = await Promise.all(this.brokers.map((b) => b.stop()));
    return stopped.some(Boolean);
  }

  wipe(): void {
    for (const broker of this.brokers) if (broker.hasData()) broker.wipe();
  }
}

/** The node ids whose folders (`kafka`, `kafka-<id>`) or pid files are in a state dir. */
function nodeIdsIn(stateDir: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync(stateDir);
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    const match = /^kafka-(\d+)(?:\.pid)?$/.exec(entry);
    return match ? [Number(match[1])] : [];
  });
}
