import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { StartState } from '../components';
import { KafkaFormatError, KafkaStartError } from '../errors';
import { fileTail } from '../log-tail';
import { findProcess, isAlive, pidIs, stopProcess, waitUntil } from '../processes';
import type { InfraReporter } from '../reporter';
import { runTool } from '../run-tool';
import { isPortOpen } from '../settings';
import { stateFile, type InfraLayout } from '../state-dir';
import type { KeptNode } from './cluster-decision';
import { KAFKA_CLUSTER_JVM_OPTIONS, KAFKA_JVM_OPTIONS, LOG4J2_YAML, quorumOf, serverProperties, type KafkaNode } from './config';
import { waitForBrokerReady } from './readiness';

/** Deadlines of a start, in seconds. A cold JVM on 2 cores opens its port in ~4 s. */
export const KAFKA_DEADLINE_SECONDS = 90;
/** How long a SIGTERM (Kafka's controlled shutdown) may take before SIGKILL. */
const STOP_GRACE_SECONDS = 30;

/** The files of one node, in its state dir. Node 1 keeps the names the bash scripts used. */
export class KafkaNodeFiles {
  readonly pid: string;
  readonly port: string;
  /** The argument that names the broker on its command line: how our process is told from any other. */
  readonly marker: string;
  readonly data: string;
  readonly meta: string;
  /** The port the data was formatted for; written only once a format has succeeded. */
  readonly storagePort: string;
  /** The controller quorum the data was formatted for (see quorumOf); absent in data from before clusters (standalone). */
  readonly storageQuorum: string;
  readonly log: string;
  readonly formatLog: string;
  readonly log4j: string;

  constructor(layout: InfraLayout, node: KafkaNode) {
    const name = node.id === 1 ? 'kafka' : `kafka-${node.id}`;
    this.pid = layout.state(`${name}.pid`);
    this.port = layout.state(`${name}.port`);
    this.marker = path.join(node.dir, 'server.properties');
    this.data = path.join(node.dir, 'data');
    this.meta = path.join(this.data, 'meta.properties');
    this.storagePort = path.join(node.dir, 'storage.port');
    this.storageQuorum = path.join(node.dir, 'storage.quorum');
    this.log = path.join(node.dir, 'kafka.log');
    this.formatLog = path.join(node.dir, 'format.log');
    this.log4j = path.join(node.dir, 'log4j2.yaml');
  }
}

/**
 * A new cluster id, as `kafka-storage random-uuid` makes them (16 random
 * bytes, base64url): made here because every node of a cluster is formatted
 * with the same one, and a JVM start costs seconds.
 */
export function newClusterId(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * One Kafka (KRaft) node of this checkout, run from Maven Central's jars on
 * the machine's Java, in a session of its own: its files, its process, its
 * kept data. {@link KafkaCluster} decides when to format and start its nodes
 * and waits for them together. What runs is found through the state dir and
 * checked against the process's command line, so nothing started by hand or
 * by another checkout is touched.
 */
export class KafkaBroker {
  readonly files: KafkaNodeFiles;
  private stopping: Promise<boolean> | undefined;

  constructor(
    private readonly layout: InfraLayout,
    readonly node: KafkaNode,
    private readonly reporter: InfraReporter,
    /** Every node of its cluster, this one included. @default [node] */
    readonly cluster: readonly KafkaNode[] = [node],
  ) {
    this.files = new KafkaNodeFiles(layout, node);
  }

  /** The address clients use. */
  get address(): string {
    return `127.0.0.1:${this.node.port}`;
  }

  /** The pid of this checkout's running broker, or undefined. */
  pid(): number | undefined {
    const pid = stateFile.readNumber(this.files.pid);
    return pidIs(pid, this.files.marker) ? pid : undefined;
  }

  /** The port the running broker was started on (`.infra/kafka.port`). */
  recordedPort(): number | undefined {
    return stateFile.readNumber(this.files.port);
  }

  /**
   * A broker of this checkout still running after `.infra/` lost its pid file
   * (git clean -fdx): its command line names this checkout's server.properties.
   */
  leftover(): number | undefined {
    return findProcess((args) => args.endsWith(`kafka.Kafka ${this.files.marker}`));
  }

  /** The cluster id of the kept, formatted storage, or undefined when there is none to restart on. */
  dataId(): string | undefined {
    if (!existsSync(this.files.storagePort)) return undefined;
    return /^cluster\.id=(.+)$/m.exec(stateFile.read(this.files.meta) ?? '')?.[1];
  }

  /** What its folder keeps, for the cluster's start decision. */
  kept(): KeptNode {
    return {
      id: this.node.id,
      clusterId: this.dataId(),
      port: stateFile.readNumber(this.files.storagePort),
      quorum: stateFile.read(this.files.storageQuorum),
    };
  }

  /** Whether there is any data dir (formatted or not). */
  hasData(): boolean {
    return existsSync(this.files.data);
  }

  /** Stops a leftover of this node (its pid file lost) before a start. */
  async stopLeftover(): Promise<void> {
    stateFile.remove(this.files.pid, this.files.port); // stale: that process is gone
    const leftover = this.leftover();
    if (leftover === undefined) return;
    this.reporter.info(`stopping a leftover Kafka${this.label} of this checkout (its pid file in .infra/ was lost)`);
    await stopProcess('Kafka', leftover, STOP_GRACE_SECONDS, (m) => this.reporter.info(m));
  }

  /**
   * Writes its configuration and, when `clusterId` is given, formats empty
   * storage for that cluster (else it starts on its kept data).
   */
  async prepare(classpath: readonly string[], clusterId: string | undefined): Promise<void> {
    if (clusterId !== undefined) {
      rmSync(this.files.data, { recursive: true, force: true });
      stateFile.remove(this.files.storagePort, this.files.storageQuorum);
    }
    mkdirSync(this.files.data, { recursive: true });
    // Written at every start, from constants: the library needs no file of the repository at runtime.
    writeFileSync(this.files.marker, serverProperties(this.node, this.files.data, this.cluster));
    writeFileSync(this.files.log4j, LOG4J2_YAML);
    if (clusterId !== undefined) await this.format(classpath, clusterId);
  }

  /**
   * Starts the prepared node and records its pid and port.
   * @returns its pid
   */
  spawn(classpath: readonly string[]): number {
    // The previous run's log stays beside the new one (why did a killed broker die?).
    if (existsSync(this.files.log)) renameSync(this.files.log, `${this.files.log}.1`);
    // detached (setsid): a Ctrl-C in the terminal that ran infra:up must not
    // reach the broker; infra:down stops it by its pid. Its output goes straight
    // to its log file, so it outlives this process.
    const out = openSync(this.files.log, 'w');
    const jvm = this.cluster.length === 1 ? KAFKA_JVM_OPTIONS : KAFKA_CLUSTER_JVM_OPTIONS;
    const child = spawn('java', [...jvm, `-Dlog4j2.configurationFile=${this.files.log4j}`, ...classpath, 'kafka.Kafka', this.files.marker], {
      detached: true,
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    child.once('error', () => undefined); // java was found; a failure to exec shows as the process being gone
    child.unref();
    const pid = child.pid;
    if (pid === undefined) throw new KafkaStartError('Kafka could not be started (java did not run)');
    stateFile.write(this.files.pid, pid);
    stateFile.write(this.files.port, this.node.port);
    return pid;
  }

  /**
   * Waits until the spawned node opens its port; fails fast when the JVM dies
   * (bad config, port race) instead of waiting out the deadline.
   */
  async waitOpened(pid: number, state: StartState, signal?: AbortSignal): Promise<void> {
    // Kept data the broker cannot start on stays until deleted: say how.
    const hint = state === 'fresh' ? '' : '; it started on kept data, which npm run infra:down -- --wipe deletes';
    const logShown = this.layout.shown(this.files.log);
    const opened = await waitUntil(async () => !isAlive(pid) || (await isPortOpen(this.node.port)), KAFKA_DEADLINE_SECONDS, signal);
    if (!opened) {
      this.reporter.output(fileTail(this.files.log));
      throw new KafkaStartError(`Kafka${this.label} did not open ${this.address} within ${KAFKA_DEADLINE_SECONDS} s (end of ${logShown} above)${hint}`);
    }
    if (!isAlive(pid)) {
      this.reporter.output(fileTail(this.files.log));
      throw new KafkaStartError(`Kafka${this.label} exited while starting (end of ${logShown} above)${hint}`);
    }
  }

  /**
   * Waits until the broker answers a metadata request and every partition has
   * a leader; on failure shows why and the end of its log.
   */
  async waitReady(signal?: AbortSignal): Promise<boolean> {
    const waiting = await waitForBrokerReady(this.address, KAFKA_DEADLINE_SECONDS, signal);
    if (waiting === undefined) return true;
    this.reporter.output(`broker ${this.address} is not ready: ${waiting}\n`);
    this.reporter.output(fileTail(this.files.log));
    return false;
  }

  /**
   * Stops this checkout's broker (SIGTERM: Kafka's controlled shutdown; SIGKILL
   * after 30 s), or a leftover one, and forgets its pid. Keeps its data.
   * Idempotent: calls while one runs share it, and once stopped there is nothing to stop.
   * @returns whether something was stopped
   */
  stop(): Promise<boolean> {
    this.stopping ??= this.stopNow().finally(() => (this.stopping = undefined));
    return this.stopping;
  }

  private async stopNow(): Promise<boolean> {
    const info = (message: string): void => this.reporter.info(message);
    let stopped = false;
    const pid = this.pid();
    const leftover = pid === undefined ? this.leftover() : undefined;
    if (pid !== undefined) {
      await stopProcess(`Kafka${this.label}`, pid, STOP_GRACE_SECONDS, info);
      stopped = true;
    } else if (leftover !== undefined) {
      // .infra/ was deleted under a running broker; its command line still names it.
      await stopProcess(`a leftover Kafka${this.label} of this checkout`, leftover, STOP_GRACE_SECONDS, info);
      stopped = true;
    } else if (existsSync(this.files.pid)) {
      info(`Kafka${this.label} (pid ${stateFile.read(this.files.pid)}) is no longer running; cleaning up its files`);
    }
    stateFile.remove(this.files.pid, this.files.port);
    return stopped;
  }

  /** Deletes the broker's data (its log stays, for a look after a failed run). */
  wipe(): void {
    this.reporter.info(`deleting Kafka's data${this.label}`);
    rmSync(this.files.data, { recursive: true, force: true });
    stateFile.remove(this.files.storagePort, this.files.storageQuorum);
  }

  /** " (broker 2)" in a cluster's messages; nothing for the single broker. */
  private get label(): string {
    return this.cluster.length === 1 ? '' : ` (broker ${this.node.id})`;
  }

  private async format(classpath: readonly string[], clusterId: string): Promise<void> {
    // A single node is its own dynamic quorum (--standalone); a cluster's voters are in server.properties.
    const standalone = this.cluster.length === 1 ? ['--standalone'] : [];
    const format = await runTool('java', [...classpath, 'kafka.tools.StorageTool', 'format', ...standalone, '-t', clusterId, '-c', this.files.marker], {
      outputFile: this.files.formatLog,
    });
    if (format.code !== 0) {
      this.reporter.output(readFileSync(this.files.formatLog, 'utf8'));
      throw new KafkaFormatError();
    }
    stateFile.write(this.files.storagePort, this.node.port);
    stateFile.write(this.files.storageQuorum, quorumOf(this.cluster));
  }
}
