import { spawn, type ChildProcess } from 'node:child_process';
import { groupAlive } from './service-process';
import { waitFor } from './wait';

/**
 * Any program run as its own process group (an SDK's example in another
 * language, a proxy, curl), its stdout and stderr kept as text. `stop` ends
 * the whole group: a program started through a launcher leaves nothing behind.
 */
export class ProgramProcess {
  stdout = '';
  stderr = '';
  /** Resolves with the exit code (null when a signal ended it). */
  readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  private constructor(
    readonly label: string,
    private readonly child: ChildProcess,
  ) {
    child.stdout!.setEncoding('utf8').on('data', (data: string) => (this.stdout += data));
    child.stderr!.setEncoding('utf8').on('data', (data: string) => (this.stderr += data));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        this.exitCode = code;
        resolve(code);
      }),
    );
  }

  static start(command: string, args: readonly string[], options: { cwd: string; env?: Record<string, string>; label?: string }): ProgramProcess {
    const child = spawn(command, [...args], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    return new ProgramProcess(options.label ?? [command, ...args].join(' '), child);
  }

  /** The program's pid, which leads its own process group. */
  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** Resolves with stdout once the program exits with code 0; rejects with its stderr otherwise. */
  async output(): Promise<string> {
    const code = await this.exited;
    if (code !== 0) throw new Error(`${this.label} exited with ${code}: ${this.stderr.slice(-2000)}`);
    return this.stdout;
  }

  /**
   * Signals the whole group, then kills it if it is still there after
   * `timeoutMs`; resolves with the exit code once the program exited and no
   * process of its group is left.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<number | null> {
    if (this.running) this.signal(signal);
    const timer = setTimeout(() => this.signal('SIGKILL'), timeoutMs);
    try {
      const code = await this.exited;
      await waitFor(() => !groupAlive(this.child.pid!), { timeoutMs: 10_000, message: `the process group of ${this.label} to be gone` });
      return code;
    } finally {
      clearTimeout(timer);
    }
  }

  private signal(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.child.pid!, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }
}
