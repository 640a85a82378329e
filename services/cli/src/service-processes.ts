import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { styleText } from 'node:util';
import { Lifecycle, type Component } from '@chute/runtime';

/** A service to run as its own process. */
export interface ServiceSpec {
  readonly name: string;
  /** The built entry point (dist/services/<name>/main.js). */
  readonly main: string;
  readonly env: NodeJS.ProcessEnv;
}

/** How long a service may drain after SIGTERM before its process group is killed: its own drain deadline is 20 s. */
const STOP_GRACE_MS = 25_000;
const COLOURS = ['cyan', 'magenta', 'yellow', 'green', 'blue'] as const;

/**
 * The platform's services as child processes, each the leader of its own
 * process group, with every output line prefixed by the service's name.
 *
 * Own groups because a Ctrl-C in the terminal must reach only this process,
 * which then sends each service one SIGTERM: a SIGINT from the terminal
 * followed by ours would cut their drain short. A service that exits while the
 * platform is meant to run is reported once through `onExit`; the caller
 * decides to stop the rest.
 */
export class ServiceProcesses implements Component {
  private readonly lifecycle = new Lifecycle();
  private readonly children = new Map<string, ChildProcess>();
  private readonly exited = new Map<string, Promise<void>>();
  private stopping = false;

  constructor(
    private readonly services: readonly ServiceSpec[],
    private readonly write: (line: string) => void,
    private readonly onExit: (name: string, code: number | null, signal: NodeJS.Signals | null) => void,
    /** Colour each name (for a terminal; a file or a pipe gets plain text). */
    private readonly colour: boolean,
  ) {}

  start(): Promise<void> {
    return this.lifecycle.start(async () => {
      this.services.forEach((service, i) => this.spawn(service, COLOURS[i % COLOURS.length]!));
    });
  }

  stop(): Promise<void> {
    return this.lifecycle.stop(async () => {
      this.stopping = true;
      for (const child of this.children.values()) signalGroup(child, 'SIGTERM');
      await Promise.all(
        [...this.children].map(async ([name, child]) => {
          const exited = this.exited.get(name)!;
          const timer = setTimeout(() => {
            this.write(`chute: ${name} did not stop within ${STOP_GRACE_MS / 1000} s; killing it`);
            signalGroup(child, 'SIGKILL');
          }, STOP_GRACE_MS);
          await exited;
          clearTimeout(timer);
        }),
      );
    });
  }

  private spawn(service: ServiceSpec, colour: (typeof COLOURS)[number]): void {
    // stdin a pipe this process holds: if it dies, even by SIGKILL, the service sees the pipe close and stops.
    const child = spawn(process.execPath, [service.main], { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: { ...service.env, CHUTE_STOP_WITH_STDIN: 'true' } });
    const prefix = this.colour ? styleText(colour, `[${service.name}]`) : `[${service.name}]`;
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream! }).on('line', (line) => this.write(`${prefix} ${line}`));
    }
    this.children.set(service.name, child);
    this.exited.set(
      service.name,
      new Promise((resolve) => {
        child.once('exit', (code, signal) => {
          if (!this.stopping) this.onExit(service.name, code, signal);
          resolve();
        });
        // A spawn that fails (no node binary) never exits: it errors.
        child.once('error', (error) => {
          this.write(`chute: ${service.name} could not start: ${error.message}`);
          if (!this.stopping) this.onExit(service.name, 1, null);
          resolve();
        });
      }),
    );
  }
}

/** Signals the child's whole process group (it leads one: spawned detached). */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}
