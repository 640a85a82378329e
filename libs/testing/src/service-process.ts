import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from './wait';

/** Whether signal 0 finds the process (pid > 0) or process group (pid < 0). */
function exists(target: number): boolean {
  try {
    process.kill(target, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/** Whether any process of the group led by `pgid` is still alive. */
export function groupAlive(pgid: number): boolean {
  return exists(-pgid);
}

/** The process's state letter from /proc (R running, S sleeping, T stopped, Z zombie), or undefined once it is gone. */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: the state follows its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** Whether the process `pid` is still alive (or a zombie not yet reaped). */
export function processAlive(pid: number): boolean {
  return exists(pid);
}

/** The repository root, found from this file so tests may run from any directory. */
export const repoRoot = path.resolve(__dirname, '../../..');

export interface LogLine {
  level?: string;
  msg?: string;
  [key: string]: unknown;
}

/**
 * A built service (`dist/services/<name>/main.js`) running as its own process,
 * as it is deployed. Collects its JSON log lines for assertions.
 */
/**
 * The node arguments a service's image gives it (the Dockerfile's NODE_OPTIONS),
 * so tests and benchmarks run each as it is deployed: the gateway, which holds
 * thousands of sockets, with Node 20's young generation (16 MiB semi-spaces,
 * where Node 24's grow to 64 MiB); see the Dockerfile.
 */
export const SERVICE_NODE_ARGS: Readonly<Record<string, readonly string[]>> = { gateway: ['--max-semi-space-size=16'] };

export class ServiceProcess {
  readonly lines: LogLine[] = [];
  stderr = '';
  private readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    let buffered = '';
    child.stdout!.setEncoding('utf8').on('data', (data: string) => {
      buffered += data;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          this.lines.push({ msg: line });
        }
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (data: string) => (this.stderr += data));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        this.exitCode = code;
        resolve(code);
      }),
    );
  }

  /**
   * Starts the built service `name`, with the V8 settings the images run it
   * with ({@link SERVICE_NODE_ARGS}); `nodeArgs` go to node after those, before
   * its main.js (for instance `--cpu-prof`).
   */
  static start(name: string, env: Record<string, string>, nodeArgs: readonly string[] = []): ServiceProcess {
    const main = path.join(repoRoot, 'dist/services', name, 'main.js');
    if (!existsSync(main)) throw new Error(`${main} is missing: build the service first (npx nx run ${name}:build)`);
    // Its own process group, so a fault test's kill reaches everything it started.
    const child = spawn(process.execPath, [...(SERVICE_NODE_ARGS[name] ?? []), ...nodeArgs, main], {
      cwd: repoRoot,
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    return new ServiceProcess(name, child);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Whether the process is still running (it has not exited, by itself or when stopped). */
  get running(): boolean {
    return this.exitCode === undefined;
  }

  hasLogged(msg: string): boolean {
    return this.lines.some((l) => l.msg === msg);
  }

  /** Waits for a log line with this `msg`; fails early if the process exits first. */
  async waitForLog(msg: string, timeoutMs = 60_000): Promise<void> {
    await waitFor(
      () => {
        if (this.exitCode !== undefined) {
          throw new Error(`${this.name} exited (${this.exitCode}) before logging "${msg}": ${this.stderr}${JSON.stringify(this.lines.slice(-5))}`);
        }
        return this.hasLogged(msg);
      },
      { timeoutMs, message: `${this.name} to log "${msg}"` },
    );
  }

  /** Sends `signal` and resolves with the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<number | null> {
    if (this.exitCode === undefined) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Kills the process's whole group with SIGKILL, as a crash would, and
   * resolves once the process has exited and no process of the group is left.
   */
  async kill(): Promise<void> {
    if (this.exitCode === undefined) process.kill(-this.pid, 'SIGKILL');
    await this.exited;
    await waitFor(() => !groupAlive(this.pid), { timeoutMs: 10_000, message: `process group ${this.pid} of ${this.name} to be gone` });
  }

  /**
   * Freezes the process's whole group with SIGSTOP, as a long GC pause or a
   * suspended VM would: it keeps its sockets and state but runs nothing.
   * Resolves once the process shows as stopped.
   */
  async freeze(): Promise<void> {
    process.kill(-this.pid, 'SIGSTOP');
    await waitFor(() => processState(this.pid) === 'T', { timeoutMs: 10_000, message: `${this.name} (${this.pid}) to be stopped` });
  }

  /** Lets a frozen group run again (SIGCONT); resolves once the process is no longer stopped. */
  async thaw(): Promise<void> {
    process.kill(-this.pid, 'SIGCONT');
    await waitFor(() => processState(this.pid) !== 'T', { timeoutMs: 10_000, message: `${this.name} (${this.pid}) to run again` });
  }

  /** Resolves with the exit code once the process exits by itself. */
  waitForExit(): Promise<number | null> {
    return this.exited;
  }
}
