import { decideRetry } from '@chute/domain';
import type { Log, PlatformTopics, PlatformTopicsConfig, Subscription } from '@chute/log';
import { checkConsuming, openPlatformTopics, pickWorkerId, tailDispatches } from '@chute/log';
import { Lifecycle, Metrics, withDeadline, type Logger } from '@chute/runtime';
import type { DispatchRecord, FinalStatus, Json, RunDispatched, TaskError } from '@chute/schemas';
import { Context, StreamWriter } from './context';
import { NonRetryableError } from './errors';
import type { TaskDefinition } from './task';

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
}

export interface WorkerRuntime {
  log: Log;
  topics: PlatformTopicsConfig;
  logger: Logger;
  /** @default 5000 */
  heartbeatIntervalMs?: number;
  /** How long stop() waits for running tasks before giving up on them. @default 30000 */
  drainDeadlineMs?: number;
}

/** Why an attempt was aborted, and the run's final status if the abort ended the run. */
class AttemptAborted extends Error {
  override readonly name = 'AttemptAborted';
  constructor(
    readonly finalStatus: FinalStatus | undefined,
    message: string,
  ) {
    super(message);
  }
}

interface Execution {
  readonly attempt: number;
  readonly controller: AbortController;
  readonly done: Promise<void>;
}

function toTaskError(error: unknown): TaskError {
  if (error instanceof Error) {
    return {
      name: error.name,
      message: error.message.slice(0, 64 * 1024),
      ...(error.stack ? { stack: error.stack.slice(0, 64 * 1024) } : {}),
      nonRetryable: error instanceof NonRetryableError || (error as { nonRetryable?: unknown }).nonRetryable === true,
    };
  }
  return { name: 'Error', message: `task threw a non-Error value: ${String(error)}`.slice(0, 64 * 1024), nonRetryable: false };
}

/** A task's return value as JSON, or a non-retryable error saying why it is not. */
function toJsonOutput(value: unknown): Json {
  if (value === undefined) return null;
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new NonRetryableError(`task output is not JSON-serializable: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (text === undefined) throw new NonRetryableError(`task output is not JSON-serializable: ${typeof value}`);
  return JSON.parse(text) as Json;
}

/** How many ended attempts a worker remembers, so a dispatch sent again is not run again. */
const ENDED_ATTEMPTS_MEMORY = 10_000;

/**
 * Runs the tasks the scheduler dispatches to it. It reads its own partition of
 * the dispatch topic (from before announcing itself, so no dispatch is
 * missed), heartbeats, and reports each attempt's start and end on the log.
 */
export class Worker {
  private id: string | undefined;
  private readonly lifecycle = new Lifecycle();
  private readonly tasks: Map<string, TaskDefinition<never, unknown>>;
  private readonly slots: number;
  private readonly executions = new Map<string, Execution>();
  private topics: PlatformTopics | undefined;
  private subscription: Subscription | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private stopped: Promise<void> | undefined;
  private resolveStopped: (() => void) | undefined;
  private logger: Logger;
  private readonly handleKill: boolean;
  /** `runId:attempt` of attempts that ended here, oldest first. */
  private readonly endedAttempts = new Set<string>();
  private rejectedSinceReport = false;
  /** The worker's own figures: runs in flight, the most ever in flight at once, dispatches refused. */
  readonly metrics = new Metrics();
  private readonly activeGauge = this.metrics.gauge('chute_worker_active_runs', 'Runs executing now.');
  private readonly peakGauge = this.metrics.gauge('chute_worker_active_runs_peak', 'The most runs this worker executed at once.');
  private readonly rejectedCounter = this.metrics.counter('chute_worker_rejected_dispatches_total', 'Dispatches refused for want of a free slot.');
  private readonly dispatchBytes = this.metrics.counter(
    'chute_worker_dispatch_bytes_total',
    'Bytes of dispatch records fetched, for this worker (own) or another sharing its partition (other, skipped undecoded).',
  );
  private peak = 0;

  constructor(
    readonly name: string,
    options: WorkerOptions,
    private readonly runtime: WorkerRuntime,
  ) {
    this.tasks = new Map(
      options.workflows.map((w) => {
        const def = 'definition' in w ? w.definition : w;
        return [def.name, def];
      }),
    );
    if (this.tasks.size === 0) throw new RangeError('a worker needs at least one task in `workflows`');
    this.slots = options.slots ?? 100;
    this.handleKill = options.handleKill ?? true;
    this.logger = runtime.logger.child({ worker: name });
  }

  /** The id the worker registered under: `<name>-<random>`, chosen at start. */
  get workerId(): string {
    if (this.id === undefined) throw new Error(`worker ${this.name} has no id until it has started`);
    return this.id;
  }

  /** Throws, saying why, unless the worker is registered and reading its dispatches. */
  checkReady(): void {
    if (this.lifecycle.state !== 'running') throw new Error(`worker is ${this.lifecycle.state}`);
    checkConsuming(this.runtime.log);
  }

  /** Runs in flight right now. */
  get activeRuns(): number {
    return this.executions.size;
  }

  /**
   * Connects, registers and serves dispatches. Resolves when the worker has
   * stopped (after `stop()`), as Hatchet's `worker.start()` does.
   */
  async start(): Promise<void> {
    if (this.handleKill) {
      const onSignal = (): void => {
        this.stop().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
    }
    await this.ready();
    await this.stopped;
  }

  /** Resolves once the worker is registered and taking dispatches (starting it if need be). */
  ready(): Promise<void> {
    return this.lifecycle.start(async () => {
      this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
      await this.runtime.log.start();
      const topics = (this.topics = await openPlatformTopics(this.runtime.log, this.runtime.topics, {
        logger: this.logger,
        metrics: new Metrics(),
      }));
      const heartbeatIntervalMs = this.runtime.heartbeatIntervalMs ?? 5000;
      const id = (this.id = await pickWorkerId(this.runtime.log, topics, this.name, 3 * heartbeatIntervalMs));
      this.logger = this.runtime.logger.child({ worker: id });
      const own = new Set([id]);
      const partition = await this.runtime.log.partitionOf(topics.dispatch.name, id);
      this.subscription = await tailDispatches(
        this.runtime.log,
        topics,
        () => own,
        [partition],
        (batch) => {
          for (const { value } of batch) this.onDispatch(value);
        },
        (record, mine) => this.dispatchBytes.inc({ record: mine ? 'own' : 'other' }, record.value.length),
      );
      const at = Date.now();
      await topics.workerEvents.append([
        { v: 1, type: 'WorkerRegistered', workerId: this.workerId, at, name: this.name, tasks: [...this.tasks.keys()], slots: this.slots },
      ]);
      this.heartbeat = setInterval(() => void this.beat(), heartbeatIntervalMs);
      this.logger.info('worker registered', { tasks: [...this.tasks.keys()], slots: this.slots });
    });
  }

  /**
   * Drains: stops taking dispatches, waits for running tasks (up to the drain
   * deadline), announces the stop so the scheduler stops counting on it, then
   * lets the log flush. Idempotent.
   */
  stop(): Promise<void> {
    return this.lifecycle.stop(async () => {
      clearInterval(this.heartbeat);
      await this.subscription?.stop();
      const running = [...this.executions.values()].map((e) => e.done);
      await withDeadline(Promise.all(running), this.runtime.drainDeadlineMs ?? 30_000, 'drain deadline passed').catch((error: unknown) =>
        this.logger.warn('stopping with runs still in flight', { err: error, runs: this.executions.size }),
      );
      if (this.topics && this.id !== undefined) {
        await this.topics.workerEvents
          .append([{ v: 1, type: 'WorkerStopped', workerId: this.workerId, at: Date.now() }])
          .catch((error: unknown) => this.logger.warn('could not announce stop', { err: error }));
      }
      await this.runtime.log.stop();
      this.resolveStopped?.();
    });
  }

  private async beat(): Promise<void> {
    try {
      await this.topics!.workerEvents.append([
        { v: 1, type: 'WorkerHeartbeat', workerId: this.workerId, at: Date.now(), activeRuns: this.executions.size },
      ]);
    } catch (error) {
      this.logger.warn('heartbeat failed', { err: error });
    }
  }

  private onDispatch(record: DispatchRecord): void {
    if (record.workerId !== this.id) return;
    const current = this.executions.get(record.runId);
    if (record.type === 'RunDispatched') {
      // A scheduler that took the run over sends again what it cannot know was sent.
      if ((current && current.attempt >= record.attempt) || this.endedAttempts.has(`${record.runId}:${record.attempt}`)) return;
      // The worker admits work: schedulers that share it each count only their own runs.
      if (!current && this.executions.size >= this.slots) return this.reject(record);
      this.execute(record);
      return;
    }
    if (current?.attempt === record.attempt) current.controller.abort(new AttemptAborted(record.finalStatus, record.reason));
  }

  /** Refuses a dispatch for want of a slot; the scheduler then counts this worker full until it reports room. */
  private reject(dispatch: RunDispatched): void {
    this.rejectedSinceReport = true;
    this.rejectedCounter.inc();
    this.topics!.runEvents
      .append([
        { v: 1, type: 'RunRejected', runId: dispatch.runId, at: Date.now(), attempt: dispatch.attempt, workerId: this.workerId, reason: `all ${this.slots} slots are busy` },
      ])
      .catch((error: unknown) => this.logger.error('could not reject a dispatch; it waits for its deadline', { runId: dispatch.runId, err: error }));
  }

  private execute(dispatch: RunDispatched): void {
    const controller = new AbortController();
    const done = this.runAttempt(dispatch, controller).catch((error: unknown) =>
      this.logger.error('attempt bookkeeping failed', { runId: dispatch.runId, err: error }),
    );
    const execution: Execution = { attempt: dispatch.attempt, controller, done };
    this.executions.set(dispatch.runId, execution);
    this.peak = Math.max(this.peak, this.executions.size);
    this.activeGauge.set(this.executions.size);
    this.peakGauge.set(this.peak);
    void done.finally(() => {
      if (this.executions.get(dispatch.runId) === execution) this.executions.delete(dispatch.runId);
      this.endedAttempts.add(`${dispatch.runId}:${dispatch.attempt}`);
      if (this.endedAttempts.size > ENDED_ATTEMPTS_MEMORY) this.endedAttempts.delete(this.endedAttempts.values().next().value!);
      this.activeGauge.set(this.executions.size);
      // Schedulers told "full" wait for word that a slot is free: say so at once.
      if (this.rejectedSinceReport && this.lifecycle.state === 'running') {
        this.rejectedSinceReport = false;
        void this.beat();
      }
    });
  }

  private async runAttempt(dispatch: RunDispatched, controller: AbortController): Promise<void> {
    const topics = this.topics!;
    const { runId, attempt } = dispatch;
    const base = { v: 1 as const, runId, attempt };
    const task = this.tasks.get(dispatch.task);
    const stream = new StreamWriter(topics.stream, runId, attempt);
    // The task starts without waiting for the log to take its start (one round
    // trip less before it runs); its end is appended only once the start's
    // append has settled, so the log keeps them in order. A start the log
    // refused does not lose the outcome: a run may end without a recorded start.
    const startSettled = topics.runEvents
      .append([{ ...base, type: 'RunStarted', at: Date.now(), workerId: this.workerId }])
      .catch((error: unknown) => this.logger.warn('could not append the run start; its end is reported regardless', { runId, err: error }));

    let outcome: { ok: true; output: Json } | { ok: false; error: unknown };
    try {
      if (!task) throw new NonRetryableError(`worker ${this.workerId} does not serve task "${dispatch.task}"`);
      const ctx = new Context(runId, attempt, this.workerId, controller.signal, stream);
      // A task that ignores its abort signal must not hold the slot forever.
      const aborted = new Promise<never>((_, reject) => {
        if (controller.signal.aborted) reject(controller.signal.reason);
        controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
      });
      const value = await Promise.race([Promise.resolve().then(() => task.fn(dispatch.input as never, ctx)), aborted]);
      outcome = { ok: true, output: toJsonOutput(value) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    // Every chunk is on the log before the run is reported finished; a stream
    // with a chunk missing fails the attempt rather than report it complete.
    const [, flushed] = await Promise.allSettled([startSettled, stream.flush()]);
    if (flushed.status === 'rejected' && outcome.ok) outcome = { ok: false, error: flushed.reason };

    if (controller.signal.aborted) {
      // The scheduler already wrote the end (cancel, timeout or re-dispatch); close the stream with it.
      const reason: unknown = controller.signal.reason;
      if (reason instanceof AttemptAborted && reason.finalStatus) await this.endStream(runId, attempt, reason.finalStatus, stream.lastSeq);
      return;
    }
    const now = Date.now();
    // The stream's end only after the run's end is on the log: a subscriber told
    // COMPLETED can rely on the run reading COMPLETED.
    if (outcome.ok) {
      await topics.runEvents.append([{ ...base, type: 'RunCompleted', at: now, output: outcome.output }]);
      await this.endStream(runId, attempt, 'COMPLETED', stream.lastSeq);
      return;
    }
    const error = toTaskError(outcome.error);
    const retry = decideRetry(dispatch, error, now);
    await topics.runEvents.append([{ ...base, type: 'RunFailed', at: now, error, retry }]);
    if (!retry.willRetry) await this.endStream(runId, attempt, 'FAILED', stream.lastSeq);
  }

  private endStream(runId: string, attempt: number, status: FinalStatus, lastSeq: number): Promise<void> {
    return this.topics!.stream.append([{ v: 1, type: 'StreamEnd', runId, attempt, at: Date.now(), status, lastSeq }]);
  }
}
