import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { StartState } from '../components';
import { JavaMissingError, KafkaFormatError, KafkaJarsMissingError, KafkaStartError, KeptDataOtherPortError, NotAnsweringError, RunsOnOtherPortError } from '../errors';
import { fileTail } from '../log-tail';
import { findProcess, isAlive, pidIs, stopProcess, waitUntil } from '../processes';
import type { InfraReporter } from '../reporter';
import { runTool } from '../run-tool';
import { isPortOpen } from '../settings';
import { stateFile, type InfraLayout } from '../state-dir';
import { KAFKA_JVM_OPTIONS, LOG4J2_YAML, serverProperties, type KafkaNode } from './config';
import { hasKafkaJars, javaMajor, kafkaJarsDir } from './jars';
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
  readonly log: string;
  readonly formatLog: string;
  readonly log4j: string;

  constructor(layout: InfraLayout, node: KafkaNode) {
    // A cluster's further nodes would take kafka-<id>.pid / .port beside these.
    const name = node.id === 1 ? 'kafka' : `kafka-${node.id}`;
    this.pid = layout.state(`${name}.pid`);
    this.port = layout.state(`${name}.port`);
    this.marker = path.join(node.dir, 'server.properties');
    this.data = path.join(node.dir, 'data');
    this.meta = path.join(this.data, 'meta.properties');
    this.storagePort = path.join(node.dir, 'storage.port');
    this.log = path.join(node.dir, 'kafka.log');
    this.formatLog = path.join(node.dir, 'format.log');
    this.log4j = path.join(node.dir, 'log4j2.yaml');
  }
}

/**
 * One Kafka (KRaft) node of this checkout, run from Maven Central's jars on the
 * machine's Java: formats its storage when it has no usable data, starts it in
 * a session of its own, waits until it leads every partition, and stops it.
 * What runs is found through the state dir and checked against the process's
 * command line, so nothing started by hand or by another checkout is touched.
 */
export class KafkaBroker {
  readonly files: KafkaNodeFiles;
  private stopping: Promise<boolean> | undefined;

  constructor(
    private readonly layout: InfraLayout,
    readonly node: KafkaNode,
    private readonly reporter: InfraReporter,
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

  /** Whether there is any data dir (formatted or not). */
  hasData(): boolean {
    return existsSync(this.files.data);
  }

  /**
   * Reuses this checkout's running broker: it must be on the wanted port and answer.
   * @throws RunsOnOtherPortError, NotAnsweringError
   */
  async reuse(signal?: AbortSignal): Promise<void> {
    const port = this.recordedPort();
    if (port !== this.node.port) throw new RunsOnOtherPortError('Kafka', port ?? 0, this.node.port, 'CHUTE_INFRA_KAFKA_PORT');
    this.reporter.info(`reusing this checkout's Kafka (pid ${this.pid()}) on ${this.address}`);
    if (!(await this.waitReady(signal))) {
      throw new NotAnsweringError(`this checkout's Kafka on ${this.address} does not answer (log above); npm run infra:down, then up again`);
    }
  }

  /**
   * Starts the broker (which must not run): on its kept data when there is
   * some, else on freshly formatted storage. `onSpawned` is called as soon as a
   * process runs, so a caller can stop it if what follows fails.
   * @returns whether it started empty or on kept data
   */
  async start(onSpawned: (state: StartState) => void, signal?: AbortSignal): Promise<StartState> {
    stateFile.remove(this.files.pid, this.files.port); // stale: that process is gone
    const leftover = this.leftover();
    if (leftover !== undefined) {
      this.reporter.info("stopping a leftover Kafka of this checkout (its pid file in .infra/ was lost)");
      await stopProcess('Kafka', leftover, STOP_GRACE_SECONDS, (m) => this.reporter.info(m));
    }
    const major = javaMajor();
    if (major === undefined || major < 17) throw new JavaMissingError(major);
    const jars = kafkaJarsDir(this.layout.root);
    if (!hasKafkaJars(jars)) throw new KafkaJarsMissingError(this.layout.shown(jars));

    // A stopped broker restarts on its data (kept by infra:down unless --wipe):
    // a restart must not lose the log. Only without usable data is storage formatted.
    const cluster = this.dataId();
    const state: StartState = cluster === undefined ? 'fresh' : 'kept';
    if (state === 'kept') {
      // --standalone stored the controller's address in the data, so the data belongs to the port it was formatted for.
      const keptPort = stateFile.readNumber(this.files.storagePort);
      if (keptPort !== this.node.port) throw new KeptDataOtherPortError(keptPort ?? 0, this.node.port);
    } else {
      rmSync(this.files.data, { recursive: true, force: true });
      stateFile.remove(this.files.storagePort);
    }
    mkdirSync(this.files.data, { recursive: true });
    // Written at every start, from constants: the library needs no file of the repository at runtime.
    writeFileSync(this.files.marker, serverProperties(this.node, this.files.data));
    writeFileSync(this.files.log4j, LOG4J2_YAML);
    const classpath = ['-cp', path.join(jars, '*')];
    const where = `${this.address} (controller ${this.node.controllerPort})`;
    if (state === 'fresh') {
      await this.format(classpath);
      this.reporter.info(`starting Apache Kafka (KRaft) on ${where}, empty`);
    } else {
      this.reporter.info(`starting Apache Kafka (KRaft) on ${where} on its kept data (cluster ${cluster})`);
    }
    // The previous run's log stays beside the new one (why did a killed broker die?).
    if (existsSync(this.files.log)) renameSync(this.files.log, `${this.files.log}.1`);

    // detached (setsid): a Ctrl-C in the terminal that ran infra:up must not
    // reach the broker; infra:down stops it by its pid. Its output goes straight
    // to its log file, so it outlives this process.
    const out = openSync(this.files.log, 'w');
    const child = spawn('java', [...KAFKA_JVM_OPTIONS, `-Dlog4j2.configurationFile=${this.files.log4j}`, ...classpath, 'kafka.Kafka', this.files.marker], {
      detached: true,
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    child.once('error', () => undefined); // java was found above; a failure to exec shows as the process being gone
    child.unref();
    const pid = child.pid;
    if (pid === undefined) throw new KafkaStartError('Kafka could not be started (java did not run)');
    stateFile.write(this.files.pid, pid);
    stateFile.write(this.files.port, this.node.port);
    onSpawned(state);

    // Kept data the broker cannot start on stays until deleted: say how.
    const hint = state === 'fresh' ? '' : '; it started on kept data, which npm run infra:down -- --wipe deletes';
    const logShown = this.layout.shown(this.files.log);
    // Fails fast when the JVM dies (bad config, port race) instead of waiting out the deadline.
    const opened = await waitUntil(async () => !isAlive(pid) || (await isPortOpen(this.node.port)), KAFKA_DEADLINE_SECONDS, signal);
    if (!opened) {
      this.reporter.output(fileTail(this.files.log));
      throw new KafkaStartError(`Kafka did not open ${this.address} within ${KAFKA_DEADLINE_SECONDS} s (end of ${logShown} above)${hint}`);
    }
    if (!isAlive(pid)) {
      this.reporter.output(fileTail(this.files.log));
      throw new KafkaStartError(`Kafka exited while starting (end of ${logShown} above)${hint}`);
    }
    if (!(await this.waitReady(signal))) {
      throw new KafkaStartError(`Kafka on ${this.address} did not answer, or lead every partition, within ${KAFKA_DEADLINE_SECONDS} s (log above)${hint}`);
    }
    return state;
  }

  /**
   * Waits until the broker answers a metadata request and leads every
   * partition; on failure shows why and the end of its log.
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
      await stopProcess('Kafka', pid, STOP_GRACE_SECONDS, info);
      stopped = true;
    } else if (leftover !== undefined) {
      // .infra/ was deleted under a running broker; its command line still names it.
      await stopProcess('a leftover Kafka of this checkout', leftover, STOP_GRACE_SECONDS, info);
      stopped = true;
    } else if (existsSync(this.files.pid)) {
      info(`Kafka (pid ${stateFile.read(this.files.pid)}) is no longer running; cleaning up its files`);
    }
    stateFile.remove(this.files.pid, this.files.port);
    return stopped;
  }

  /** Deletes the broker's data (its log stays, for a look after a failed run). */
  wipe(): void {
    this.reporter.info("deleting Kafka's data");
    rmSync(this.files.data, { recursive: true, force: true });
    stateFile.remove(this.files.storagePort);
  }

  private async format(classpath: string[]): Promise<void> {
    const uuid = await runTool('java', [...classpath, 'kafka.tools.StorageTool', 'random-uuid']);
    writeFileSync(this.files.formatLog, uuid.stderr);
    const clusterId = uuid.stdout.trim().split('\n').at(-1) ?? '';
    const format = await runTool('java', [...classpath, 'kafka.tools.StorageTool', 'format', '--standalone', '-t', clusterId, '-c', this.files.marker], {
      outputFile: this.files.formatLog,
      append: true,
    });
    if (uuid.code !== 0 || format.code !== 0) {
      this.reporter.output(readFileSync(this.files.formatLog, 'utf8'));
      throw new KafkaFormatError();
    }
    stateFile.write(this.files.storagePort, this.node.port);
  }
}
