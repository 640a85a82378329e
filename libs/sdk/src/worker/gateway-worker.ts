import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { Metrics, withDeadline, type Logger } from '@chute/runtime';
import {
  describeIssue,
  GatewayMessage,
  safeParseJson,
  WorkerCloseCode,
  type AssignedMessage,
  type RegisteredMessage,
  type WorkerMessage,
} from '@chute/schemas';
import { ChunkTooLargeError, NonRetryableError, toJsonOutput, toTaskError } from '@chute/domain';
import { Context, type ChunkSink } from './context';
import type { TaskDefinition } from '../task';
import { exitOnSignals, tasksByName, type TaskWorker, type WorkerOptions } from './types';

export interface GatewayWorkerSettings {
  /** Gateways to connect to, tried in turn on every reconnect. */
  gatewayUrls: readonly string[];
  token: string | undefined;
  logger: Logger;
  /** How long stop() waits for running tasks before giving up on them. @default 30000 */
  drainDeadlineMs?: number;
  /** How long a gateway may take to answer `register`. @default 10000 */
  registerTimeoutMs?: number;
}

/** The gateway refused the worker for good (its token): reconnecting would not help. */
export class WorkerRefusedError extends Error {
  override readonly name = 'WorkerRefusedError';
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Back-off between reconnects: 100 ms doubling to 5 s. */
const reconnectDelayMs = (failures: number): number => Math.min(5000, 100 * 2 ** failures);

interface Attempt {
  readonly controller: AbortController;
  readonly done: Promise<void>;
}

/**
 * A worker that runs its tasks' functions in this process and reaches the
 * platform through a gateway's worker protocol (`/api/v1/workers/connect`):
 * no broker access needed. The gateway hosts it on the log like any worker;
 * this side runs what it is assigned and reports over the socket, in order.
 * A lost connection gives up the attempts in flight (the platform runs them
 * elsewhere) and reconnects, to the next gateway of the list.
 */
export class GatewayWorker implements TaskWorker {
  readonly metrics = new Metrics();
  private readonly tasks: Map<string, TaskDefinition<never, unknown>>;
  private readonly slots: number;
  private readonly handleKill: boolean;
  private readonly attempts = new Map<string, Attempt>();
  private socket: WebSocket | undefined;
  private registered: RegisteredMessage | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private resolveStopped: () => void = () => undefined;
  private readonly stopped = new Promise<void>((resolve) => (this.resolveStopped = resolve));
  private readonly activeGauge = this.metrics.gauge('chute_worker_active_runs', 'Runs executing now.');
  private readonly reconnects = this.metrics.counter('chute_worker_reconnects_total', 'Connections to a gateway after the first.');

  constructor(
    readonly name: string,
    options: WorkerOptions,
    private readonly settings: GatewayWorkerSettings,
  ) {
    if (settings.gatewayUrls.length === 0) throw new RangeError('a gateway worker needs at least one gateway URL');
    this.tasks = tasksByName(options);
    this.slots = options.slots ?? 100;
    this.handleKill = options.handleKill ?? true;
  }

  get workerId(): string {
    if (!this.registered) throw new Error(`worker ${this.name} has no id until a gateway registered it`);
    return this.registered.workerId;
  }

  get activeRuns(): number {
    return this.attempts.size;
  }

  checkReady(): void {
    if (this.stopping) throw new Error('worker is stopping');
    if (!this.registered || this.socket?.readyState !== WebSocket.OPEN) throw new Error('worker is not connected to a gateway');
  }

  async start(): Promise<void> {
    if (this.handleKill) exitOnSignals(() => this.stop());
    await this.ready();
    await this.stopped;
  }

  /** Resolves once a gateway registered the worker; the connection is kept (and remade) from then on. */
  ready(): Promise<void> {
    return (this.starting ??= new Promise<void>((resolve, reject) => void this.serve(resolve, reject)));
  }

  stop(): Promise<void> {
    return (this.stopping ??= (async () => {
      await this.starting?.catch(() => undefined);
      this.send({ type: 'drain' });
      const running = [...this.attempts.values()].map((a) => a.done);
      await withDeadline(Promise.all(running), this.settings.drainDeadlineMs ?? 30_000, 'drain deadline passed').catch((error: unknown) =>
        this.settings.logger.warn('stopping with runs still in flight', { err: error, runs: this.attempts.size }),
      );
      clearInterval(this.heartbeat);
      const socket = this.socket;
      if (socket && socket.readyState === WebSocket.OPEN) {
        const closed = new Promise((resolve) => socket.once('close', resolve));
        socket.close(1000, 'worker stopped');
        await withDeadline(closed, 5000, 'close handshake').catch(() => socket.terminate());
      }
      this.resolveStopped();
    })());
  }

  /** Connects, and connects again after every loss, until stopped. */
  private async serve(onFirstRegistration: () => void, onRefused: (error: Error) => void): Promise<void> {
    let failures = 0;
    let registeredOnce = false;
    for (let turn = 0; !this.stopping; turn++) {
      const url = this.settings.gatewayUrls[turn % this.settings.gatewayUrls.length]!;
      if (turn > 0) this.reconnects.inc();
      const outcome = await this.connectOnce(url, () => {
        failures = 0;
        if (!registeredOnce) {
          registeredOnce = true;
          onFirstRegistration();
        }
      });
      if (outcome instanceof WorkerRefusedError) {
        if (!registeredOnce) onRefused(outcome);
        else this.settings.logger.error('the gateway refused this worker; not reconnecting', { err: outcome });
        this.resolveStopped();
        return;
      }
      if (this.stopping) return;
      await sleep(reconnectDelayMs(failures++));
    }
  }

  /** One connection's life: resolves when it closes (or a refusal that must not be retried). */
  private connectOnce(gatewayUrl: string, onRegistered: () => void): Promise<WorkerRefusedError | undefined> {
    return new Promise((resolve) => {
      const url = new URL('/api/v1/workers/connect', gatewayUrl);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      const socket = new WebSocket(url, this.settings.token ? { headers: { authorization: `Bearer ${this.settings.token}` } } : {});
      this.socket = socket;
      let refused: WorkerRefusedError | undefined;
      const registerTimer = setTimeout(() => {
        this.settings.logger.warn('the gateway did not register this worker in time; reconnecting', { gateway: gatewayUrl });
        socket.terminate();
      }, this.settings.registerTimeoutMs ?? 10_000);
      socket.on('open', () => {
        this.send({ type: 'register', name: this.name, tasks: [...this.tasks.keys()], slots: this.slots });
      });
      socket.on('unexpected-response', (_request, response) => {
        if (response.statusCode === 401 || response.statusCode === 403) {
          refused = new WorkerRefusedError(response.statusCode, `the gateway refused the worker with ${response.statusCode}: check CHUTE_TOKEN`);
        }
        socket.terminate();
      });
      socket.on('message', (data) => {
        const parsed = safeParseJson(GatewayMessage, String(data));
        if (!parsed.success) {
          const { field, detail } = describeIssue(parsed.error);
          this.settings.logger.warn('ignoring a gateway message this SDK does not understand', { field, detail });
          return;
        }
        const message = parsed.data;
        switch (message.type) {
          case 'registered':
            clearTimeout(registerTimer);
            this.registered = message;
            clearInterval(this.heartbeat);
            this.heartbeat = setInterval(() => this.send({ type: 'heartbeat' }), message.heartbeatIntervalMs);
            this.settings.logger.info('worker registered', { workerId: message.workerId, gateway: gatewayUrl, tasks: [...this.tasks.keys()], slots: this.slots });
            onRegistered();
            return;
          case 'assigned':
            this.run(message);
            return;
          case 'cancel':
            this.attempts.get(`${message.runId}:${message.attempt}`)?.controller.abort(new Error(message.reason));
            return;
          case 'error':
            this.settings.logger.error('the gateway reported an error', { code: message.code, message: message.message });
            return;
          default: {
            const _exhaustive: never = message;
            return _exhaustive;
          }
        }
      });
      socket.on('error', (error) => this.settings.logger.warn('gateway connection error', { gateway: gatewayUrl, err: error }));
      socket.on('close', (code, reason) => {
        clearTimeout(registerTimer);
        clearInterval(this.heartbeat);
        if (code === WorkerCloseCode.protocolViolation || code === WorkerCloseCode.invalidJson) {
          this.settings.logger.error('the gateway closed the connection for a protocol violation (a bug in this SDK)', { code, reason: String(reason) });
        }
        // The gateway gives these attempts to other workers: stop them here, and report nothing.
        for (const attempt of this.attempts.values()) attempt.controller.abort(new Error('the connection to the gateway was lost'));
        this.registered = undefined;
        resolve(refused);
      });
    });
  }

  private run(assigned: AssignedMessage): void {
    const key = `${assigned.runId}:${assigned.attempt}`;
    if (this.attempts.has(key)) return;
    const socket = this.socket;
    const controller = new AbortController();
    const { runId, attempt } = assigned;
    // Everything about this attempt goes on the socket it came from, and nothing once it was stopped.
    const report = (message: WorkerMessage): void => {
      if (!controller.signal.aborted && this.socket === socket) this.send(message);
    };
    const maxChunkBytes = this.registered?.maxChunkBytes ?? Number.POSITIVE_INFINITY;
    const sink: ChunkSink = {
      put: async (chunk) => {
        if (controller.signal.aborted) throw controller.signal.reason;
        if (typeof chunk === 'string') {
          const bytes = Buffer.byteLength(chunk, 'utf8');
          if (bytes > maxChunkBytes) throw new ChunkTooLargeError(bytes);
          report({ type: 'chunk', runId, attempt, data: chunk, encoding: 'utf8' });
        } else if (chunk instanceof Uint8Array) {
          if (chunk.byteLength > maxChunkBytes) throw new ChunkTooLargeError(chunk.byteLength);
          report({ type: 'chunk', runId, attempt, data: Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('base64'), encoding: 'base64' });
        } else {
          throw new TypeError('putStream takes a string or a Uint8Array');
        }
      },
    };
    const done = (async () => {
      report({ type: 'started', runId, attempt });
      const task = this.tasks.get(assigned.task);
      const aborted = new Promise<never>((_, reject) => controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true }));
      try {
        if (!task) throw new NonRetryableError(`worker ${this.name} does not serve task "${assigned.task}"`);
        const ctx = new Context(runId, attempt, this.workerId, controller.signal, sink);
        const value = await Promise.race([Promise.resolve().then(() => task.fn(assigned.input as never, ctx)), aborted]);
        report({ type: 'completed', runId, attempt, output: toJsonOutput(value) });
      } catch (error) {
        report({ type: 'failed', runId, attempt, error: toTaskError(error) });
      }
    })().finally(() => {
      this.attempts.delete(key);
      this.activeGauge.set(this.attempts.size);
    });
    this.attempts.set(key, { controller, done });
    this.activeGauge.set(this.attempts.size);
  }

  private send(message: WorkerMessage): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }
}
