import { AttemptRecords, decideRetry, NonRetryableError, toJsonOutput, toTaskError } from '@chute/domain';
import { checkConsuming, type Log, type PlatformTopics, type Subscription } from '@chute/log';
import { Lifecycle, Metrics, withDeadline, type Logger } from '@chute/runtime';
import type { DispatchRecord, FinalStatus, Json, RunDispatched, RunStarted } from '@chute/schemas';
import { DispatchRouter, pickWorkerId, type DispatchSource } from './dispatch';
import { StreamWriter } from './stream-writer';

/** What an attempt's executor gets: the abort signal, the stream, and a way to say the task began. */
export interface AttemptIO {
  readonly workerId: string;
  /** Fires when the attempt must stop: cancelled, timed out, moved elsewhere, or the worker is going away. */
  readonly signal: AbortSignal;
  readonly stream: StreamWriter;
  /** The task began: appends the run's start (once; later calls do nothing). */
  started(): void;
}

/**
 * Runs the task of an attempt, here (a task function) or elsewhere (a worker
 * connected to the gateway). Resolves with the task's output, rejects with its
 * error. The host stops waiting once the signal fires.
 */
export interface AttemptExecutor {
  run(dispatch: RunDispatched, io: AttemptIO): Promise<unknown>;
}

export interface WorkerHostOptions {
  readonly name: string;
  /** The one tenant whose runs it takes. */
  readonly tenant: string;
  /** The tasks served: the scheduler sends nothing else. */
  readonly tasks: readonly string[];
  readonly slots: number;
  readonly executor: AttemptExecutor;
  /** The platform's log, started, and its topics; the host neither starts nor stops it. */
  readonly log: Log;
  readonly topics: PlatformTopics;
  readonly logger: Logger;
  /**
   * How often the host heartbeats by itself; without it the owner calls
   * `beat()` (a remote worker's own heartbeats). Either way it is how long
   * back the host looks for live workers when it picks its id.
   */
  readonly heartbeatIntervalMs: number;
  readonly selfHeartbeat: boolean;
  /** How long stop() waits for running attempts before giving up on them. @default 30000 */
  readonly drainDeadlineMs?: number;
  /**
   * Where its dispatches come from: a gateway shares one reader of each
   * dispatch partition among all the workers it hosts. @default a reader of its own
   */
  readonly dispatches?: DispatchSource;
  readonly metrics?: Metrics;
}

/** Why an attempt was aborted: a cancel, a timeout, a move elsewhere, or the worker going away. */
class AttemptAborted extends Error {
  override readonly name = 'AttemptAborted';
}

interface Execution {
  readonly attempt: number;
  readonly controller: AbortController;
  readonly done: Promise<void>;
}

/** How many ended attempts a worker remembers, so a dispatch delivered again (reading is at-least-once) is not run again. */
const ENDED_ATTEMPTS_MEMORY = 10_000;

/**
 * One worker on the log: it reads its own partition of the dispatch topic
 * (from before announcing itself, so no dispatch is missed), admits attempts
 * up to its slots, heartbeats, and reports each attempt's start, chunks and
 * end on the log. What runs an attempt is its executor's job.
 */
export class WorkerHost {
  private id: string | undefined;
  private readonly lifecycle = new Lifecycle();
  private readonly executions = new Map<string, Execution>();
  private subscription: Subscription | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private logger: Logger;
  private draining = false;
  /** `runId:attempt` of attempts that ended here, oldest first. */
  private readonly endedAttempts = new Set<string>();
  private rejectedSinceReport = false;
  /** The worker's own figures: runs in flight, the most ever in flight at once, dispatches refused. */
  readonly metrics: Metrics;
  private readonly activeGauge;
  private readonly peakGauge;
  private readonly rejectedCounter;
  private readonly dispatchBytes;
  private peak = 0;

  constructor(private readonly options: WorkerHostOptions) {
    if (options.tasks.length === 0) throw new RangeError('a worker needs at least one task');
    this.metrics = options.metrics ?? new Metrics();
    this.activeGauge = this.metrics.gauge('chute_worker_active_runs', 'Runs executing now.');
    this.peakGauge = this.metrics.gauge('chute_worker_active_runs_peak', 'The most runs this worker executed at once.');
    this.rejectedCounter = this.metrics.counter('chute_worker_rejected_dispatches_total', 'Dispatches refused for want of a free slot.');
    this.dispatchBytes = this.metrics.counter(
      'chute_worker_dispatch_bytes_total',
      'Bytes of dispatch records fetched, for this worker (own) or another sharing its partition (other, skipped undecoded).',
    );
    this.logger = options.logger.child({ worker: options.name });
  }

  get name(): string {
    return this.options.name;
  }

  private get slots(): number {
    return this.options.slots;
  }

  /** The id the worker registered under: `<name>-<random>`, chosen at start. */
  get workerId(): string {
    if (this.id === undefined) throw new Error(`worker ${this.name} has no id until it has started`);
    return this.id;
  }

  /** Throws, saying why, unless the worker is registered and reading its dispatches. */
  checkReady(): void {
    if (this.lifecycle.state !== 'running') throw new Error(`worker is ${this.lifecycle.state}`);
    checkConsuming(this.options.log);
  }

  /** Runs in flight right now. */
  get activeRuns(): number {
    return this.executions.size;
  }

  /** Resolves once the worker is registered and taking dispatches. */
  start(): Promise<void> {
    return this.lifecycle.start(async () => {
      const { log, topics, heartbeatIntervalMs } = this.options;
      const id = (this.id = await pickWorkerId(log, topics, this.name, 3 * heartbeatIntervalMs));
      this.logger = this.options.logger.child({ worker: id });
      const dispatches = this.options.dispatches ?? new DispatchRouter(log, topics);
      this.subscription = await dispatches.subscribe(
        id,
        (dispatch) => this.onDispatch(dispatch),
        (record, mine) => this.dispatchBytes.inc({ record: mine ? 'own' : 'other' }, record.value.length),
      );
      const at = Date.now();
      await topics.workerEvents.append([
        { v: 1, type: 'WorkerRegistered', workerId: this.workerId, at, tenant: this.options.tenant, name: this.name, tasks: [...this.options.tasks], slots: this.slots },
      ]);
      if (this.options.selfHeartbeat) this.heartbeat = setInterval(() => void this.beat(), heartbeatIntervalMs);
      this.logger.info('worker registered', { tasks: this.options.tasks, slots: this.slots });
    });
  }

  /** Takes no more attempts: a dispatch from now on is refused, and goes to another worker. */
  drain(): void {
    this.draining = true;
  }

  /**
   * Gives up every running attempt without reporting an end: the worker is
   * gone (its connection closed), so its runs go to other workers as new
   * attempts, as for a worker that died. Then stops.
   */
  abandon(reason: string): Promise<void> {
    this.draining = true;
    for (const execution of this.executions.values()) execution.controller.abort(new AttemptAborted(reason));
    return this.stop();
  }

  /**
   * Drains: stops taking dispatches, waits for running tasks (up to the drain
   * deadline), then announces the stop so the scheduler stops counting on it.
   * Idempotent.
   */
  stop(): Promise<void> {
    return this.lifecycle.stop(async () => {
      clearInterval(this.heartbeat);
      await this.subscription?.stop();
      const running = [...this.executions.values()].map((e) => e.done);
      await withDeadline(Promise.all(running), this.options.drainDeadlineMs ?? 30_000, 'drain deadline passed').catch((error: unknown) =>
        this.logger.warn('stopping with runs still in flight', { err: error, runs: this.executions.size }),
      );
      if (this.id !== undefined) {
        await this.options.topics.workerEvents
          .append([{ v: 1, type: 'WorkerStopped', workerId: this.workerId, at: Date.now() }])
          .catch((error: unknown) => this.logger.warn('could not announce stop', { err: error }));
      }
    });
  }

  /** Tells the schedulers this worker is alive, with how many attempts it runs. */
  async beat(): Promise<void> {
    if (this.lifecycle.state !== 'running') return;
    try {
      await this.options.topics.workerEvents.append([
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
      // Reading is at-least-once (a reader rebuilt after a broker error may deliver a batch again): an attempt runs once.
      if ((current && current.attempt >= record.attempt) || this.endedAttempts.has(`${record.runId}:${record.attempt}`)) return;
      // The worker admits work: schedulers that share it each count only their own runs.
      if (!current && (this.draining || this.executions.size >= this.slots)) return this.reject(record);
      this.execute(record);
      return;
    }
    if (current?.attempt === record.attempt) current.controller.abort(new AttemptAborted(record.reason));
  }

  /** Refuses a dispatch for want of a slot; the scheduler then counts this worker full until it reports room. */
  private reject(dispatch: RunDispatched): void {
    this.rejectedSinceReport = true;
    this.rejectedCounter.inc();
    const reason = this.draining ? 'the worker is stopping' : `all ${this.slots} slots are busy`;
    this.options.topics.runEvents
      .append([new AttemptRecords(dispatch, this.workerId).rejected(reason, Date.now())])
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
    const topics = this.options.topics;
    const { runId } = dispatch;
    const records = new AttemptRecords(dispatch, this.workerId);
    const stream = new StreamWriter(topics.stream, records);
    // The task starts without waiting for the log to take its start, and the
    // start is appended a turn of the event loop later: a task that ends
    // before then (a no-op, a cache hit) reports its start with its end, in
    // one request. The log sends appends in call order, so a start sent alone
    // still lands before the end. A start the log refused does not lose the
    // outcome: a run may end without a recorded start.
    let start: RunStarted | undefined;
    let startPending: NodeJS.Immediate | undefined;
    let startSettled: Promise<void> | undefined;
    const sendStart = (): void => {
      startPending = undefined;
      startSettled = topics.runEvents
        .append([start!])
        .catch((error: unknown) => this.logger.warn('could not append the run start; its end is reported regardless', { runId, err: error }));
    };
    const started = (): void => {
      if (start) return;
      start = records.started(Date.now());
      startPending = setImmediate(sendStart);
    };
    /** The start, if it has not gone out yet: it goes with the end instead. */
    const unsentStart = (): RunStarted[] => {
      if (!startPending) return [];
      clearImmediate(startPending);
      startPending = undefined;
      return [start!];
    };

    let outcome: { ok: true; output: Json } | { ok: false; error: unknown };
    try {
      if (!this.options.tasks.includes(dispatch.task)) throw new NonRetryableError(`worker ${this.workerId} does not serve task "${dispatch.task}"`);
      // A task that ignores its abort signal must not hold the slot forever.
      const aborted = new Promise<never>((_, reject) => {
        if (controller.signal.aborted) reject(controller.signal.reason);
        controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
      });
      const io: AttemptIO = { workerId: this.workerId, signal: controller.signal, stream, started };
      const value = await Promise.race([Promise.resolve().then(() => this.options.executor.run(dispatch, io)), aborted]);
      outcome = { ok: true, output: toJsonOutput(value) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    // Every chunk is on the log before the run is reported finished; a stream
    // with a chunk missing fails the attempt rather than report it complete.
    const [, flushed] = await Promise.allSettled([startSettled, stream.flush()]);
    if (flushed.status === 'rejected' && outcome.ok) outcome = { ok: false, error: flushed.reason };

    if (controller.signal.aborted) {
      // The scheduler already wrote what ends the attempt: the run's end and
      // its stream's end (a cancel, a timeout), or the run's move elsewhere.
      unsentStart();
      return;
    }
    const now = Date.now();
    // The run's end and the stream's end are appended together, without
    // waiting for the first to be acknowledged: the log sends appends in call
    // order, so they share one request and the run's end is written first.
    if (outcome.ok) {
      await Promise.all([
        topics.runEvents.append([...unsentStart(), records.completed(outcome.output, now)]),
        this.endStream(records, 'COMPLETED', stream.lastSeq),
      ]);
      return;
    }
    const error = toTaskError(outcome.error);
    const retry = decideRetry(dispatch, error, now);
    const failed = topics.runEvents.append([...unsentStart(), records.failed(error, retry, now)]);
    await (retry.willRetry ? failed : Promise.all([failed, this.endStream(records, 'FAILED', stream.lastSeq)]));
  }

  private endStream(records: AttemptRecords, status: FinalStatus, lastSeq: number): Promise<void> {
    return this.options.topics.stream.append([records.streamEnd(status, lastSeq, Date.now())]);
  }
}
