import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import {
  groupMembers,
  InfraDown,
  InfraError,
  InfraLayout,
  InfraUp,
  freePortRange,
  isAlive,
  isPortOpen,
  KafkaCluster,
  KAFKA_POM,
  processStat,
  settingsFromEnv,
  type InfraReporter,
  type InfraSettings,
  type KafkaBroker,
} from '@chute/infra';
import { repoRoot } from './service-process';
import { waitFor } from './wait';

/** Options of {@link ClusterControl.start}. */
export interface ClusterControlOptions {
  /** @default 3 */
  brokers?: number;
  /** How long a killed or stopped broker's processes may take to be gone. @default 30_000 */
  deadTimeoutMs?: number;
}

/** kafkajs's coordinator kinds (FindCoordinator's key type). */
const COORDINATOR = { group: 0, transaction: 1 } as const;

/**
 * Where Kafka's brokers keep a group's offsets and a transactional id's
 * state: partition `Utils.abs(id.hashCode()) % partitions` of
 * `__consumer_offsets` / `__transaction_state`, whose leader is the
 * coordinator. Java's String.hashCode; Kafka's Utils.abs maps
 * Integer.MIN_VALUE to 0.
 */
export function coordinatorPartition(id: string, partitions: number): number {
  let hash = 0;
  for (let i = 0; i < id.length; i++) hash = (Math.imul(31, hash) + id.charCodeAt(i)) | 0;
  return (hash === -2147483648 ? 0 : Math.abs(hash)) % partitions;
}

/**
 * A replicated Kafka cluster of its own for a fault test: started through
 * @chute/infra (`infra:up -- --brokers 3`'s code) in a temp checkout root on
 * free ports, so it runs beside the single broker the suite shares, and
 * wiped at `stop()`. Each broker can be killed, stopped, paused and started
 * again on its kept data; the cluster says which broker leads which
 * partitions and which coordinates a group or a transactional id.
 */
export class ClusterControl {
  private readonly shown: string[] = [];
  private readonly reporter: InfraReporter = { info: (m) => void this.shown.push(`infra: ${m}\n`), output: (t) => void this.shown.push(t) };
  readonly brokers: readonly ClusterBroker[];

  private constructor(
    private readonly root: string,
    private readonly layout: InfraLayout,
    private readonly settings: InfraSettings,
    private readonly cluster: KafkaCluster,
    private readonly deadTimeoutMs: number,
  ) {
    this.brokers = cluster.brokers.map((b) => new ClusterBroker(b, this));
  }

  /**
   * Starts a cluster of `brokers` (default 3) empty.
   * @throws what @chute/infra throws (no Java, no jars, a broker that did not come up), with its output
   */
  static async start(options: ClusterControlOptions = {}): Promise<ClusterControl> {
    const size = options.brokers ?? 3;
    const root = mkdtempSync(path.join(tmpdir(), 'chute-cluster-'));
    // The jars are found from the pom's hash under the root: give this root the same pom and cache.
    mkdirSync(path.join(root, path.dirname(KAFKA_POM)), { recursive: true });
    cpSync(path.join(repoRoot, KAFKA_POM), path.join(root, KAFKA_POM));
    symlinkSync(path.join(repoRoot, '.cache'), path.join(root, '.cache'));
    const port = await freePortRange(2 * size);
    // A given address would make InfraUp start nothing.
    const settings = { ...settingsFromEnv({ ...process.env, CHUTE_INFRA_KAFKA_PORT: String(port) }), brokers: undefined, databaseUrl: undefined };
    const layout = new InfraLayout(root, settings.tempDir);
    const control = new ClusterControl(root, layout, settings, new KafkaCluster(layout, port, size, { info: () => undefined, output: () => undefined }), options.deadTimeoutMs ?? 30_000);
    try {
      await control.infra(() => new InfraUp(layout, settings, control.reporter).run({ components: new Set(['kafka']), brokers: size, signal: AbortSignal.timeout(180_000) }));
    } catch (error) {
      await control.stop();
      throw error;
    }
    return control;
  }

  /** CHUTE_KAFKA_BROKERS of the cluster: every broker's address. */
  get addresses(): string {
    return this.cluster.addresses;
  }

  /** Broker `id` (from 1). */
  broker(id: number): ClusterBroker {
    const broker = this.brokers.find((b) => b.id === id);
    if (!broker) throw new Error(`ClusterControl: no broker ${id} (the cluster has ${this.brokers.length})`);
    return broker;
  }

  /** The leader's broker id of each partition of each topic, asked of the cluster now. */
  async leaders(topics: readonly string[]): Promise<Map<string, number>> {
    return this.withAdmin(async (admin) => {
      const { topics: metadata } = await admin.fetchTopicMetadata({ topics: [...topics] });
      return new Map(metadata.flatMap((t) => t.partitions.map((p) => [`${t.name}/${p.partitionId}`, p.leader] as const)));
    });
  }

  /** The broker that leads the most partitions of `topics` (the lowest id on a tie). */
  async busiestLeader(topics: readonly string[]): Promise<{ id: number; partitions: number }> {
    const counts = new Map<number, number>();
    for (const leader of (await this.leaders(topics)).values()) counts.set(leader, (counts.get(leader) ?? 0) + 1);
    const [id, partitions] = [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0] ?? [0, 0];
    return { id, partitions };
  }

  /** The broker that coordinates consumer group `groupId`, as the cluster answers FindCoordinator now. */
  groupCoordinator(groupId: string): Promise<number> {
    return this.findCoordinator(groupId, COORDINATOR.group);
  }

  /** The broker that coordinates transactional id `transactionalId`. */
  transactionCoordinator(transactionalId: string): Promise<number> {
    return this.findCoordinator(transactionalId, COORDINATOR.transaction);
  }

  /** Stops every broker and deletes the cluster's data and temp root. Idempotent. */
  async stop(): Promise<void> {
    for (const broker of this.brokers) if (broker.isPaused()) broker.resume();
    await new InfraDown(this.layout, this.settings, this.reporter).run({ components: ['kafka'], wipe: true }).catch(() => undefined);
    rmSync(this.root, { recursive: true, force: true });
  }

  /** @internal Starts the brokers of the cluster that do not run, on their kept data. */
  async startMissing(): Promise<void> {
    await this.infra(() => new InfraUp(this.layout, this.settings, this.reporter).run({ components: new Set(['kafka']), brokers: this.brokers.length, signal: AbortSignal.timeout(180_000) }));
  }

  /** @internal */
  get deadTimeout(): number {
    return this.deadTimeoutMs;
  }

  private async findCoordinator(key: string, coordinatorType: number): Promise<number> {
    const kafka = new Kafka({ clientId: 'cluster-control', brokers: this.addresses.split(','), logLevel: logLevel.NOTHING });
    // kafkajs asks FindCoordinator only inside its (unexported) Cluster; kafkajs is pinned, so its private key is known.
    const create = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster');
    const cluster = (kafka as unknown as Record<symbol, (options: object) => KafkajsCluster>)[create!]!({});
    await cluster.connect();
    // Its broker pool holds the brokers of the last metadata answer: none until asked.
    await cluster.refreshMetadata();
    try {
      return (await cluster.findGroupCoordinatorMetadata({ groupId: key, coordinatorType })).coordinator.nodeId;
    } finally {
      await cluster.disconnect();
    }
  }

  private async withAdmin<T>(use: (admin: ReturnType<Kafka['admin']>) => Promise<T>): Promise<T> {
    const admin = new Kafka({ clientId: 'cluster-control', brokers: this.addresses.split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      return await use(admin);
    } finally {
      await admin.disconnect();
    }
  }

  private async infra(run: () => Promise<unknown>): Promise<void> {
    this.shown.length = 0;
    try {
      await run();
    } catch (error) {
      const why = error instanceof InfraError ? `infra: error: ${error.message}` : (error as Error).message;
      throw new Error(`ClusterControl: ${this.shown.join('')}${why}`.trim());
    }
  }
}

interface KafkajsCluster {
  connect(): Promise<void>;
  refreshMetadata(): Promise<void>;
  disconnect(): Promise<void>;
  findGroupCoordinatorMetadata(lookUp: { groupId: string; coordinatorType: number }): Promise<{ coordinator: { nodeId: number } }>;
}

/**
 * One broker of a {@link ClusterControl}'s cluster: kill -9 its process
 * group, stop it cleanly, pause it (SIGSTOP: a broker that hangs, its
 * sockets open) and resume it, start it again on its kept data.
 */
export class ClusterBroker {
  private paused = false;

  constructor(
    private readonly broker: KafkaBroker,
    private readonly control: ClusterControl,
  ) {}

  get id(): number {
    return this.broker.node.id;
  }

  get address(): string {
    return this.broker.address;
  }

  /** Its pid (which leads its process group), or undefined when it does not run. */
  get pid(): number | undefined {
    return this.broker.pid();
  }

  isRunning(): boolean {
    return this.pid !== undefined;
  }

  isPaused(): boolean {
    return this.paused && this.isRunning();
  }

  acceptsConnections(): Promise<boolean> {
    return isPortOpen(this.broker.node.port);
  }

  /** SIGKILL to its whole process group; resolves once every process of it is dead and its port refuses connections. */
  async kill(): Promise<void> {
    const pid = this.requireOwnGroup('kill');
    try {
      process.kill(-pid, 'SIGKILL');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
    this.paused = false;
    await this.waitUntilDead(pid, 'killed');
  }

  /** A clean stop (SIGTERM: controlled shutdown, leadership handed over first); keeps its data. */
  async stop(): Promise<void> {
    const pid = this.requireOwnGroup('stop');
    await this.broker.stop();
    await this.waitUntilDead(pid, 'stopped');
  }

  /** Starts it again on its kept data; resolves once it has registered with the cluster and every partition has a leader. */
  async start(): Promise<void> {
    if (this.isRunning()) throw new Error(`ClusterBroker.start: broker ${this.id} runs already (pid ${this.pid})`);
    const cluster = this.broker.dataId();
    if (cluster === undefined) throw new Error(`ClusterBroker.start: broker ${this.id} has no kept data to rejoin its cluster on`);
    await this.control.startMissing();
    if (this.broker.dataId() !== cluster) throw new Error(`ClusterBroker.start: broker ${this.id} came up with cluster ${this.broker.dataId()}, not its kept ${cluster}`);
    if (!this.isRunning()) throw new Error(`ClusterBroker.start: broker ${this.id} does not run after its start`);
  }

  /** SIGSTOP to its process group: it neither answers nor closes its connections, like a hung machine. */
  pause(): void {
    process.kill(-this.requireOwnGroup('pause'), 'SIGSTOP');
    this.paused = true;
  }

  /** SIGCONT to its process group. */
  resume(): void {
    process.kill(-this.requireOwnGroup('resume'), 'SIGCONT');
    this.paused = false;
  }

  /** Its pid, checked to lead a process group of its own (never one this test belongs to): signals go to the whole group. */
  private requireOwnGroup(action: string): number {
    const pid = this.pid;
    if (pid === undefined) throw new Error(`ClusterBroker.${action}: broker ${this.id} does not run`);
    const group = processStat(pid)?.pgrp;
    if (group !== pid || group === processStat(process.pid)?.pgrp) throw new Error(`ClusterBroker.${action}: broker ${this.id} (pid ${pid}) does not lead a process group of its own (${group})`);
    return pid;
  }

  private async waitUntilDead(pid: number, how: string): Promise<void> {
    const timeoutMs = this.control.deadTimeout;
    await waitFor(() => !isAlive(pid) && groupMembers(pid).length === 0, {
      timeoutMs,
      intervalMs: 50,
      message: `broker ${this.id}'s process group ${pid} to be gone once ${how} (still alive: ${groupMembers(pid).join(', ')})`,
    });
    await waitFor(async () => !(await this.acceptsConnections()), { timeoutMs, intervalMs: 50, message: `broker ${this.id}'s port to refuse connections once ${how}` });
  }
}
