// A helper process of the bench (the ws floor's server, BullMQ's worker, redis-server):
// started, awaited until it says it is ready, and always stopped.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { join } from 'node:path';

/** Children still running: killed if this process exits before it stopped them. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export class Child {
  private readonly lines: string[] = [];
  private readonly waiters: { pattern: RegExp; resolve: (match: RegExpMatchArray) => void }[] = [];
  private readonly exited: Promise<void>;
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly name: string,
    readonly process: ChildProcess,
  ) {
    const onLine = (line: string): void => {
      this.lines.push(line);
      if (this.lines.length > 200) this.lines.shift();
      for (const waiter of [...this.waiters]) {
        const match = waiter.pattern.exec(line);
        if (match) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(match);
        }
      }
    };
    createInterface({ input: process.stdout! }).on('line', onLine);
    createInterface({ input: process.stderr! }).on('line', onLine);
    live.add(process);
    this.exited = once(process, 'exit').then(() => void live.delete(process));
  }

  /** Starts `command` with `args`; stdin stays open (a TypeScript child ends when it closes). */
  static start(name: string, command: string, args: readonly string[], env: Record<string, string> = {}): Child {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    // The smoke test reads these lines to check that every helper was stopped.
    console.log(`bench: started ${name} pid ${child.pid}`);
    return new Child(name, child);
  }

  /** Starts a TypeScript file beside this one under tsx. */
  static typescript(name: string, file: string, env: Record<string, string> = {}): Child {
    const path = join(__dirname, file);
    return Child.start(name, process.execPath, ['--import', 'tsx', path], env);
  }

  get pid(): number {
    return this.process.pid!;
  }

  /** Resolves with the first line (from now or already printed) matching `pattern`; fails if the child exits first. */
  waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    for (const line of this.lines) {
      const match = pattern.exec(line);
      if (match) return Promise.resolve(match);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} did not print ${pattern} within ${timeoutMs} ms:\n${this.lines.join('\n')}`)), timeoutMs);
      void this.exited.then(() => reject(new Error(`${this.name} exited (${this.process.exitCode ?? this.process.signalCode}):\n${this.lines.join('\n')}`)));
      this.waiters.push({
        pattern,
        resolve: (match) => {
          clearTimeout(timer);
          resolve(match);
        },
      });
    });
  }

  /** Asks the child to stop (stdin closed, then `signal`), kills it after `graceMs`; idempotent. */
  stop(signal: NodeJS.Signals | undefined = undefined, graceMs = 10_000): Promise<void> {
    this.stopping ??= (async () => {
      if (this.process.exitCode !== null || this.process.signalCode !== null) return;
      this.process.stdin?.end();
      if (signal) this.process.kill(signal);
      const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    })();
    return this.stopping;
  }
}
