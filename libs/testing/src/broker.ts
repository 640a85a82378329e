import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import {
  groupMembers,
  InfraDown,
  InfraError,
  InfraLayout,
  InfraUp,
  isAlive,
  KafkaNodeFiles,
  processStat,
  settingsFromEnv,
  singleNode,
  stateFile,
  type InfraReporter,
} from '@chute/infra';
import { testBrokers } from './env';
import { repoRoot } from './service-process';
import { waitFor } from './wait';

/** What infra:up records in `.infra/` about the broker it started (@chute/infra's KafkaNodeFiles). */
const layout = new InfraLayout(repoRoot);
const nodeFiles = new KafkaNodeFiles(layout, singleNode(0, layout.state('kafka')));
const files = {
  pid: nodeFiles.pid,
  port: nodeFiles.port,
  docker: layout.state('docker'),
  /** The argument that names the broker in its command line. */
  marker: nodeFiles.marker,
  meta: nodeFiles.meta,
};

/** Options of {@link BrokerControl} calls. */
export interface BrokerControlOptions {
  /**
   * How long to wait for a killed or stopped broker's processes to be gone.
   * @default 30_000
   */
  deadTimeoutMs?: number;
  /**
   * How long `start()` may take to bring the broker up (InfraUp has deadlines of its own).
   * @default 180_000
   */
  startTimeoutMs?: number;
}

/**
 * The Kafka broker that this checkout's infra scripts started (`npm run infra:up`,
 * or `npm test`'s own) - for fault tests: kill it hard, stop it, and start it again
 * on its kept data.
 *
 * It refuses, with an error saying why, any broker it cannot prove is that one:
 * brokers given by the environment that point elsewhere, Docker mode, a pid file
 * whose process is not our broker. A fault test fails then; it never skips.
 *
 * Starting and stopping go through @chute/infra (`InfraUp` and `InfraDown` for
 * the broker alone, what `npm run infra:up -- kafka` runs), so there is one way
 * to start the broker. Reads `/proc`: Linux only.
 */
export class BrokerControl {
  private readonly deadTimeoutMs: number;
  private readonly startTimeoutMs: number;

  private constructor(
    /** The port this checkout's broker listens on (`.infra/kafka.port`). */
    readonly port: number,
    options: BrokerControlOptions,
  ) {
    this.deadTimeoutMs = options.deadTimeoutMs ?? 30_000;
    this.startTimeoutMs = options.startTimeoutMs ?? 180_000;
  }

  /**
   * Control of the broker at `brokers` (default: `CHUTE_KAFKA_BROKERS`), which
   * must be the running broker this checkout's infra scripts started.
   * @throws when it is not, or cannot be shown to be
   */
  static ofThisCheckout(brokers: string[] = testBrokers(), options: BrokerControlOptions = {}): BrokerControl {
    const refuse = (why: string): never => {
      throw new Error(
        `BrokerControl: ${brokers.join(',')} is not a broker this checkout's infra scripts started and still run (${why}). ` +
          'Fault tests stop and kill their broker, so they need the one `npm run infra:up` or `npm test` started in this checkout ' +
          'without Docker: run them through `npm test` without CHUTE_KAFKA_BROKERS, or point it at that broker.',
      );
    };
    if (existsSync(files.docker)) refuse('this checkout runs its broker with Docker Compose');
    const port = Number(readState(files.port));
    if (!Number.isInteger(port) || port <= 0) refuse(`no port recorded in ${files.port}`);
    const ours = [`127.0.0.1:${port}`, `localhost:${port}`];
    if (brokers.length !== 1 || !ours.includes(brokers[0]!)) refuse(`this checkout's broker listens on 127.0.0.1:${port}`);
    const control = new BrokerControl(port, options);
    const pid = control.pid;
    if (pid === undefined) refuse(`the pid in ${files.pid} is not a running broker with ${files.marker} on its command line`);
    // kill() signals the whole process group: it must be the broker's own (infra:up
    // starts it in a session of its own), never one the test runner belongs to.
    const group = processStat(pid!)?.pgrp;
    if (group !== pid) refuse(`pid ${pid} does not lead its own process group (${group})`);
    if (group === processStat(process.pid)?.pgrp) refuse(`pid ${pid} shares this test's process group`);
    return control;
  }

  /** The running broker's pid, or undefined when it does not run. */
  get pid(): number | undefined {
    const pid = Number(readState(files.pid));
    if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
    return isOurBroker(pid) ? pid : undefined;
  }

  /** Whether the broker process runs (it may not accept connections yet). */
  isRunning(): boolean {
    return this.pid !== undefined;
  }

  /** Whether something accepts TCP connections on the broker's port. */
  acceptsConnections(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: this.port });
      socket.setTimeout(2_000);
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('timeout', () => (socket.destroy(), resolve(false)));
      socket.once('error', () => resolve(false));
    });
  }

  /**
   * Kills the broker hard - SIGKILL to its whole process group, no controlled
   * shutdown - and resolves once every process of the group is dead and the port
   * refuses connections.
   * @throws when the broker does not run, or something of it outlives the deadline
   */
  async kill(): Promise<void> {
    const pid = this.requirePid('kill');
    try {
      process.kill(-pid, 'SIGKILL');
    } catch (error) {
      // Gone between the check and the signal: dead is what was asked for.
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
    await this.waitUntilDead(pid, 'killed');
  }

  /**
   * Stops the broker gracefully (`infra:down -- kafka`: SIGTERM, Kafka's
   * controlled shutdown, SIGKILL after 30 s) and keeps its data.
   * @throws when the broker does not run, the script fails, or the broker outlives it
   */
  async stop(): Promise<void> {
    const pid = this.requirePid('stop');
    await this.infra('down', 60_000);
    await this.waitUntilDead(pid, 'stopped');
  }

  /**
   * Starts the stopped or killed broker again on its kept data
   * (`infra:up -- kafka`, on the same port) and resolves once it accepts
   * connections and every partition has a leader.
   * @throws when it runs already, has no kept data, or does not come up
   */
  async start(): Promise<void> {
    if (this.isRunning()) throw new Error(`BrokerControl.start: the broker runs already (pid ${this.pid})`);
    const cluster = clusterId();
    if (cluster === undefined) throw new Error(`BrokerControl.start: no kept broker data in ${path.dirname(files.meta)} to start on`);
    await this.infra('up', this.startTimeoutMs);
    // InfraUp formats a fresh broker when it finds no usable data: that would be a lost log, not a restart.
    if (clusterId() !== cluster) throw new Error(`BrokerControl.start: the broker came up with cluster ${clusterId()}, not its kept ${cluster}`);
    if (!this.isRunning()) throw new Error('BrokerControl.start: infra:up succeeded but no broker of this checkout runs');
  }

  /** Starts the broker unless it runs: for a `finally` that leaves the broker as the next suite needs it. */
  async ensureRunning(): Promise<void> {
    if (!this.isRunning()) await this.start();
  }

  private requirePid(action: string): number {
    const pid = this.pid;
    if (pid === undefined) throw new Error(`BrokerControl.${action}: the broker does not run (start it first)`);
    return pid;
  }

  private async waitUntilDead(pid: number, how: string): Promise<void> {
    await waitFor(() => groupMembers(pid).length === 0, {
      timeoutMs: this.deadTimeoutMs,
      intervalMs: 50,
      message: `the ${how} broker's process group ${pid} to be gone (still alive: ${groupMembers(pid).join(', ')})`,
    });
    await waitFor(async () => !(await this.acceptsConnections()), {
      timeoutMs: this.deadTimeoutMs,
      intervalMs: 50,
      message: `port ${this.port} to refuse connections once the broker was ${how}`,
    });
  }

  /** Brings the broker alone up or down, on the broker's port and with no broker address given. */
  private async infra(action: 'up' | 'down', timeoutMs: number): Promise<void> {
    // A given address would make InfraUp start nothing.
    const settings = { ...settingsFromEnv(process.env), kafkaPort: this.port, brokers: undefined };
    const shown: string[] = [];
    const reporter: InfraReporter = { info: (message) => shown.push(`infra: ${message}\n`), output: (text) => shown.push(text) };
    // The deadline aborts a start (which then stops what it started); a stop has its own (SIGKILL after 30 s).
    const deadline = AbortSignal.timeout(timeoutMs);
    try {
      if (action === 'up') await new InfraUp(layout, settings, reporter).run({ components: new Set(['kafka']), signal: deadline });
      else await new InfraDown(layout, settings, reporter).run({ components: ['kafka'] });
    } catch (error) {
      const why = error instanceof InfraError ? `${shown.join('')}infra: error: ${error.message}` : `${shown.join('')}${(error as Error).message}`;
      throw new Error(`BrokerControl: infra:${action} kafka failed: ${why.trim()}`);
    }
  }
}

const readState = (file: string): string | undefined => stateFile.read(file);

function clusterId(): string | undefined {
  return /^cluster\.id=(.+)$/m.exec(readState(files.meta) ?? '')?.[1];
}

/** The pid alone is no proof, its command line must name this checkout's broker. */
function isOurBroker(pid: number): boolean {
  const args = (readState(`/proc/${pid}/cmdline`) ?? '').split('\0');
  const main = args.indexOf('kafka.Kafka');
  return main >= 0 && args[main + 1] === files.marker;
}
