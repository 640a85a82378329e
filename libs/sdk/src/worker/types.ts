import type { Metrics } from '@chute/runtime';
import type { TaskDefinition } from '../task';

/** How a worker reaches the platform: straight to the log, or through a gateway's worker protocol. */
export type WorkerTransport = 'kafka' | 'gateway';

export interface WorkerOptions {
  /** The tasks this worker serves (Hatchet calls them workflows). */
  workflows: ReadonlyArray<{ readonly definition: TaskDefinition<never, unknown> } | TaskDefinition<never, unknown>>;
  /** How many runs execute at once. @default 100 */
  slots?: number;
  /**
   * Drain and exit on SIGTERM/SIGINT, so a stopped worker announces it and the
   * scheduler does not wait out its heartbeat. Turn off when the host process
   * handles signals itself. @default true
   */
  handleKill?: boolean;
  /**
   * `kafka`: the worker reads and writes the log itself (inside the cluster).
   * `gateway`: it connects to a gateway's worker protocol and needs no broker
   * access. @default process.env.CHUTE_WORKER_TRANSPORT, else `kafka` when
   * CHUTE_KAFKA_BROKERS (or the client's `brokers` or `log`) is set, else `gateway`
   */
  transport?: WorkerTransport;
}

/** A worker, whichever its transport: what `chute.worker(...)` returns. */
export interface TaskWorker {
  readonly name: string;
  /** The id the worker registered under, once it has. */
  readonly workerId: string;
  /** Runs in flight right now. */
  readonly activeRuns: number;
  /** The worker's own figures: runs in flight, the most at once, and so on. */
  readonly metrics: Metrics;
  /** Serves until stopped; resolves once it has stopped, as Hatchet's `worker.start()` does. */
  start(): Promise<void>;
  /** Resolves once the worker is registered and taking work (starting it if need be). */
  ready(): Promise<void>;
  /** Throws, saying why, unless the worker is registered and taking work. */
  checkReady(): void;
  /** Drains: takes no more work, waits for running tasks (up to a deadline), then leaves. Idempotent. */
  stop(): Promise<void>;
}

/** Collects the task definitions of a worker's `workflows` by name. */
export function tasksByName(options: WorkerOptions): Map<string, TaskDefinition<never, unknown>> {
  const tasks = new Map(
    options.workflows.map((w) => {
      const def = 'definition' in w ? w.definition : w;
      return [def.name, def] as const;
    }),
  );
  if (tasks.size === 0) throw new RangeError('a worker needs at least one task in `workflows`');
  return tasks;
}

/** Makes SIGTERM and SIGINT stop the worker and exit the process. */
export function exitOnSignals(stop: () => Promise<void>): void {
  const onSignal = (): void => {
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}
