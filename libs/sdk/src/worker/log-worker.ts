import type { Log, PlatformTopicsConfig } from '@chute/log';
import { KafkaLog, openPlatformTopics } from '@chute/log';
import { Metrics, type Logger } from '@chute/runtime';
import { DEFAULT_PARTITIONS, type BrokerConnection } from '@chute/log/settings';
import { NonRetryableError } from '@chute/domain';
import type { RunDispatched } from '@chute/schemas';
import { WorkerHost, type AttemptExecutor, type AttemptIO } from '@chute/worker-runtime';
import { Context } from './context';
import type { TaskDefinition } from '../task';
import { exitOnSignals, tasksByName, type TaskWorker, type WorkerOptions } from './types';

export interface WorkerRuntime {
  log: Log;
  /** The one tenant whose runs this worker takes. */
  tenant: string;
  topics: PlatformTopicsConfig;
  logger: Logger;
  /** @default 5000 */
  heartbeatIntervalMs?: number;
  /** How long stop() waits for running tasks before giving up on them. @default 30000 */
  drainDeadlineMs?: number;
  /** The registry its figures go to; given when the log counts into it too. @default a registry of its own */
  metrics?: Metrics;
}

/** Runs an attempt by calling its task's function in this process. */
class LocalExecutor implements AttemptExecutor {
  constructor(private readonly tasks: ReadonlyMap<string, TaskDefinition<never, unknown>>) {}

  run(dispatch: RunDispatched, io: AttemptIO): Promise<unknown> {
    const task = this.tasks.get(dispatch.task);
    if (!task) throw new NonRetryableError(`worker ${io.workerId} does not serve task "${dispatch.task}"`);
    io.started();
    return Promise.resolve(task.fn(dispatch.input as never, new Context(dispatch.runId, dispatch.attempt, io.workerId, io.signal, io.stream)));
  }
}

/**
 * A worker that runs its tasks' functions in this process, on the log: it owns
 * its log connection, and stops on SIGTERM/SIGINT by draining.
 */
export class Worker implements TaskWorker {
  private readonly tasks: Map<string, TaskDefinition<never, unknown>>;
  private readonly slots: number;
  private readonly handleKill: boolean;
  private host: WorkerHost | undefined;
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private resolveStopped: (() => void) | undefined;
  private readonly stopped = new Promise<void>((resolve) => (this.resolveStopped = resolve));
  /** The worker's own figures: runs in flight, the most ever in flight at once, dispatches refused, dispatch bytes read. */
  readonly metrics: Metrics;

  constructor(
    readonly name: string,
    options: WorkerOptions,
    private readonly runtime: WorkerRuntime,
  ) {
    this.metrics = runtime.metrics ?? new Metrics();
    this.tasks = tasksByName(options);
    this.slots = options.slots ?? 100;
    this.handleKill = options.handleKill ?? true;
  }

  /** The id the worker registered under: `<name>-<random>`, chosen at start. */
  get workerId(): string {
    if (!this.host) throw new Error(`worker ${this.name} has no id until it has started`);
    return this.host.workerId;
  }

  /** Runs in flight right now. */
  get activeRuns(): number {
    return this.host?.activeRuns ?? 0;
  }

  /** Throws, saying why, unless the worker is registered and reading its dispatches. */
  checkReady(): void {
    if (!this.host) throw new Error('worker has not started');
    this.host.checkReady();
  }

  /**
   * Connects, registers and serves dispatches. Resolves when the worker has
   * stopped (after `stop()`), as Hatchet's `worker.start()` does.
   */
  async start(): Promise<void> {
    if (this.handleKill) exitOnSignals(() => this.stop());
    await this.ready();
    await this.stopped;
  }

  /** Resolves once the worker is registered and taking dispatches (starting it if need be). */
  ready(): Promise<void> {
    return (this.starting ??= this.open());
  }

  private async open(): Promise<void> {
    const { log, logger } = this.runtime;
    await log.start();
    try {
      // Its own registry, so what the topics count (records that did not decode) is on the worker's /metrics.
      const topics = await openPlatformTopics(log, this.runtime.topics, { logger, metrics: this.metrics });
      this.host = new WorkerHost({
        name: this.name,
        tenant: this.runtime.tenant,
        tasks: [...this.tasks.keys()],
        slots: this.slots,
        executor: new LocalExecutor(this.tasks),
        log,
        topics,
        logger,
        heartbeatIntervalMs: this.runtime.heartbeatIntervalMs ?? 5000,
        selfHeartbeat: true,
        metrics: this.metrics,
        ...(this.runtime.drainDeadlineMs !== undefined ? { drainDeadlineMs: this.runtime.drainDeadlineMs } : {}),
      });
      await this.host.start();
    } catch (error) {
      await log.stop();
      throw error;
    }
  }

  /**
   * Drains: stops taking dispatches, waits for running tasks (up to the drain
   * deadline), announces the stop so the scheduler stops counting on it, then
   * lets the log flush. Idempotent.
   */
  stop(): Promise<void> {
    return (this.stopping ??= (async () => {
      await this.starting?.catch(() => undefined);
      await this.host?.stop();
      await this.runtime.log.stop();
      this.resolveStopped?.();
    })());
  }
}

export interface LogWorkerSettings {
  brokers: readonly string[];
  /** TLS and SASL to the brokers. @default plaintext, no login */
  connection?: BrokerConnection;
  /** Supplies the log instead of a Kafka log on `brokers` (the embedded log of the quick start, tests). */
  log?: (clientId: string) => Log;
  topicPrefix: string;
  tenant: string;
  logger: Logger;
  heartbeatIntervalMs?: number;
}

/** A worker on the log, with its own log connection: what `chute.worker()` makes for `transport: 'kafka'`. */
export function logWorker(name: string, options: WorkerOptions, settings: LogWorkerSettings): Worker {
  const clientId = `chute-worker-${name}`;
  const metrics = new Metrics();
  const log = settings.log ? settings.log(clientId) : new KafkaLog({ brokers: settings.brokers, clientId, logger: settings.logger, metrics, ...settings.connection });
  return new Worker(name, options, {
    log,
    metrics,
    tenant: settings.tenant,
    topics: {
      prefix: settings.topicPrefix,
      // Only used if the worker starts before any service created the topics.
      runEventsPartitions: DEFAULT_PARTITIONS.runEvents,
      streamPartitions: DEFAULT_PARTITIONS.stream,
      workerEventsPartitions: DEFAULT_PARTITIONS.workerEvents,
      dispatchPartitions: DEFAULT_PARTITIONS.dispatch,
    },
    logger: settings.logger,
    ...(settings.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: settings.heartbeatIntervalMs } : {}),
  });
}
