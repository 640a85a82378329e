import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { testBrokers } from './env';
import { repoRoot } from './service-process';
import { waitFor } from './wait';

const run = promisify(execFile);

/** What the infra scripts record in `.infra/` about the broker they started (see infra/scripts/lib.sh). */
const stateDir = path.join(repoRoot, '.infra');
const files = {
  pid: path.join(stateDir, 'kafka.pid'),
  port: path.join(stateDir, 'kafka.port'),
  docker: path.join(stateDir, 'docker'),
  /** The argument that names the broker in its command line: lib.sh's kafka_marker. */
  marker: path.join(stateDir, 'kafka', 'server.properties'),
  meta: path.join(stateDir, 'kafka', 'data', 'meta.properties'),
};

/** Options of {@link BrokerControl} calls. */
export interface BrokerControlOptions {
  /**
   * How long to wait for a killed or stopped broker's processes to be gone.
   * @default 30_000
   */
  deadTimeoutMs?: number;
  /**
   * How long `start()` lets `infra/scripts/up.sh kafka` run (it has deadlines of its own).
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
 * Starting and stopping go through the infra scripts (`up.sh kafka`, `down.sh kafka`),
 * so there is one way to start the broker. Reads `/proc`: Linux only.
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
    // kill() signals the whole process group: it must be the broker's own (up.sh
    // starts it under setsid), never one the test runner belongs to.
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
   * Stops the broker gracefully (`infra/scripts/down.sh kafka`: SIGTERM, Kafka's
   * controlled shutdown, SIGKILL after 30 s) and keeps its data.
   * @throws when the broker does not run, the script fails, or the broker outlives it
   */
  async stop(): Promise<void> {
    const pid = this.requirePid('stop');
    await this.script('down.sh', [], 60_000);
    await this.waitUntilDead(pid, 'stopped');
  }

  /**
   * Starts the stopped or killed broker again on its kept data
   * (`infra/scripts/up.sh kafka`, on the same port) and resolves once it accepts
   * connections and every partition has a leader.
   * @throws when it runs already, has no kept data, or does not come up
   */
  async start(): Promise<void> {
    if (this.isRunning()) throw new Error(`BrokerControl.start: the broker runs already (pid ${this.pid})`);
    const cluster = clusterId();
    if (cluster === undefined) throw new Error(`BrokerControl.start: no kept broker data in ${path.dirname(files.meta)} to start on`);
    await this.script('up.sh', [], this.startTimeoutMs);
    // up.sh formats a fresh broker when it finds no usable data: that would be a lost log, not a restart.
    if (clusterId() !== cluster) throw new Error(`BrokerControl.start: the broker came up with cluster ${clusterId()}, not its kept ${cluster}`);
    if (!this.isRunning()) throw new Error('BrokerControl.start: up.sh succeeded but no broker of this checkout runs');
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

  /** Runs an infra script for the broker alone, with the broker's port and no given address. */
  private async script(name: 'up.sh' | 'down.sh', args: string[], timeoutMs: number): Promise<void> {
    const env: NodeJS.ProcessEnv = { ...process.env, CHUTE_INFRA_KAFKA_PORT: String(this.port) };
    // A given address would make up.sh start nothing; a session's started-file
    // would make test.sh think it started (and must wipe) this broker.
    delete env['CHUTE_KAFKA_BROKERS'];
    delete env['CHUTE_INFRA_STARTED_FILE'];
    try {
      await run('bash', [path.join(repoRoot, 'infra/scripts', name), ...args, 'kafka'], { cwd: repoRoot, env, timeout: timeoutMs });
    } catch (error) {
      const { stderr, message } = error as { stderr?: string; message: string };
      throw new Error(`BrokerControl: infra/scripts/${name} kafka failed: ${stderr?.trim() || message}`);
    }
  }
}

function readState(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function clusterId(): string | undefined {
  return /^cluster\.id=(.+)$/m.exec(readState(files.meta) ?? '')?.[1];
}

interface ProcessStat {
  state: string;
  pgrp: number;
}

/** A process's state and process group from /proc/<pid>/stat, or undefined once it is gone. */
function processStat(pid: number): ProcessStat | undefined {
  const stat = readState(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // The command name in parentheses may hold spaces: the fields start after its last ')'.
  const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: state!, pgrp: Number(pgrp) };
}

/** A zombie is dead: it only waits for its parent (init, for the broker) to reap it. */
function isAlive(pid: number): boolean {
  const state = processStat(pid)?.state;
  return state !== undefined && state !== 'Z' && state !== 'X';
}

/** lib.sh's kafka_running: the pid alone is no proof, its command line must name this checkout's broker. */
function isOurBroker(pid: number): boolean {
  const args = (readState(`/proc/${pid}/cmdline`) ?? '').split('\0');
  const main = args.indexOf('kafka.Kafka');
  return main >= 0 && args[main + 1] === files.marker;
}

/** The live processes of process group `pgrp`. */
function groupMembers(pgrp: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => processStat(pid)?.pgrp === pgrp && isAlive(pid));
}
