import type { WebSocket } from 'ws';
import type { Log, PlatformTopics } from '@chute/log';
import { withDeadline, type Logger, type Metrics } from '@chute/runtime';
import { NonRetryableError } from '@chute/domain';
import { DispatchRouter, WorkerHost, type AttemptExecutor, type AttemptIO, type DispatchSource } from '@chute/worker-runtime';
import type { Principal } from '@chute/auth';
import {
  exceedsJsonDepth,
  MAX_JSON_DEPTH,
  describeIssue,
  MAX_CHUNK_BYTES,
  WorkerCloseCode,
  WorkerMessage,
  type ErrorMessage,
  type GatewayMessage,
  type RunDispatched,
  type TaskError,
} from '@chute/schemas';

export interface WorkerProtocolDeps {
  log: Log;
  topics: PlatformTopics;
  logger: Logger;
  metrics: Metrics;
  /** How often connected workers must send `heartbeat`. */
  heartbeatIntervalMs: number;
}

/** What a connection needs: the gateway's, and the one dispatch reader all its workers share. */
interface ConnectionDeps extends WorkerProtocolDeps {
  dispatches: DispatchSource;
}

/** The largest frame a worker may send: a chunk of MAX_CHUNK_BYTES, base64, in its JSON envelope. */
export const WORKER_MAX_FRAME_BYTES = Math.ceil((MAX_CHUNK_BYTES * 4) / 3) + 64 * 1024;

/** A task error as the worker reported it, carried to the log as is. */
class RemoteTaskError extends Error {
  readonly nonRetryable: boolean;
  constructor(error: TaskError) {
    super(error.message);
    this.name = error.name;
    this.nonRetryable = error.nonRetryable;
    if (error.stack !== undefined) this.stack = error.stack;
  }
}

/** A message that breaks the protocol: the socket is closed with `code` after an `error` naming it. */
class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ErrorMessage['code'],
    readonly closeCode: number,
    message: string,
  ) {
    super(message);
  }
}

interface PendingAttempt {
  readonly io: AttemptIO;
  resolve(output: unknown): void;
  reject(error: unknown): void;
}

const attemptKey = (runId: string, attempt: number): string => `${runId}:${attempt}`;

/**
 * One worker connected over the worker protocol. The gateway hosts it on the
 * log as a {@link WorkerHost}, exactly as a worker on the log is hosted, with
 * an executor that runs each attempt by telling the socket: the scheduler, the
 * stream path and the read model cannot tell the two apart. Messages are
 * handled in the order they arrive, so an attempt's chunks are put on the log
 * before its end.
 */
class WorkerConnection implements AttemptExecutor {
  private host: WorkerHost | undefined;
  private registering = false;
  private closed = false;
  private readonly pending = new Map<string, PendingAttempt>();
  private silence: NodeJS.Timeout | undefined;
  private resolveFinished: () => void = () => undefined;
  /** Resolves once the socket closed and the worker's stop is on the log. */
  readonly finished = new Promise<void>((resolve) => (this.resolveFinished = resolve));

  constructor(
    private readonly socket: WebSocket,
    private readonly tenant: string,
    private readonly deps: ConnectionDeps,
    private readonly onGone: (connection: WorkerConnection) => void,
  ) {
    socket.on('message', (data, isBinary) => this.receive(data as Buffer, isBinary));
    socket.on('close', () => void this.gone().finally(() => this.resolveFinished()));
    socket.on('error', (error) => deps.logger.warn('worker socket error', { err: error }));
    this.expectWordWithin();
  }

  /** The gateway is stopping: the worker reconnects elsewhere, and its attempts go to other workers. */
  goAway(): void {
    this.socket.close(1001, 'the gateway is stopping');
  }

  run(dispatch: RunDispatched, io: AttemptIO): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const key = attemptKey(dispatch.runId, dispatch.attempt);
      this.pending.set(key, { io, resolve, reject });
      io.signal.addEventListener(
        'abort',
        () => {
          if (!this.pending.delete(key)) return;
          const reason: unknown = io.signal.reason;
          this.send({ type: 'cancel', runId: dispatch.runId, attempt: dispatch.attempt, reason: reason instanceof Error ? reason.message : 'the attempt was stopped' });
        },
        { once: true },
      );
      this.send({ type: 'assigned', runId: dispatch.runId, attempt: dispatch.attempt, task: dispatch.task, input: dispatch.input, deadlineAt: dispatch.deadlineAt });
    });
  }

  private receive(data: Buffer, isBinary: boolean): void {
    this.expectWordWithin();
    try {
      if (isBinary) throw new ProtocolError('INVALID_MESSAGE', WorkerCloseCode.protocolViolation, 'messages are JSON text frames, not binary');
      let value: unknown;
      try {
        value = JSON.parse(data.toString('utf8'));
      } catch {
        throw new ProtocolError('INVALID_JSON', WorkerCloseCode.invalidJson, 'the message is not valid JSON');
      }
      // Checked before the schema walks it: a message nested thousands deep would exhaust the stack.
      if (exceedsJsonDepth(value)) throw new ProtocolError('INVALID_MESSAGE', WorkerCloseCode.protocolViolation, `the message nests deeper than ${MAX_JSON_DEPTH} levels`);
      const parsed = WorkerMessage.safeParse(value);
      if (!parsed.success) {
        const { field, detail } = describeIssue(parsed.error);
        throw new ProtocolError('INVALID_MESSAGE', WorkerCloseCode.protocolViolation, `${field}: ${detail}`);
      }
      this.handle(parsed.data);
    } catch (error) {
      if (error instanceof ProtocolError) return this.refuse(error);
      // A bug here must not take the gateway down with it (a throw from a socket listener would): this socket goes.
      this.deps.logger.error('worker message handling failed; closing the socket', { err: error });
      this.socket.close(1011, 'internal error');
    }
  }

  private handle(message: WorkerMessage): void {
    if (message.type === 'register') {
      if (this.registering) throw new ProtocolError('ALREADY_REGISTERED', WorkerCloseCode.protocolViolation, 'register is sent once, first');
      this.registering = true;
      void this.register(message.name, message.tasks, message.slots);
      return;
    }
    const host = this.host;
    if (!host) throw new ProtocolError('NOT_REGISTERED', WorkerCloseCode.protocolViolation, `${message.type} before registered: send register first and wait for registered`);
    switch (message.type) {
      case 'heartbeat':
        void host.beat();
        return;
      case 'drain':
        host.drain();
        return;
      case 'started':
        this.pending.get(attemptKey(message.runId, message.attempt))?.io.started();
        return;
      case 'chunk':
        this.chunk(message.runId, message.attempt, message.data, message.encoding);
        return;
      case 'completed':
        this.settle(message.runId, message.attempt)?.resolve(message.output);
        return;
      case 'failed':
        this.settle(message.runId, message.attempt)?.reject(new RemoteTaskError(message.error));
        return;
      default: {
        const _exhaustive: never = message;
        return _exhaustive;
      }
    }
  }

  private async register(name: string, tasks: readonly string[], slots: number): Promise<void> {
    const host = new WorkerHost({
      name,
      tenant: this.tenant,
      tasks,
      slots,
      executor: this,
      log: this.deps.log,
      topics: this.deps.topics,
      logger: this.deps.logger,
      heartbeatIntervalMs: this.deps.heartbeatIntervalMs,
      selfHeartbeat: false,
      dispatches: this.deps.dispatches,
    });
    try {
      await host.start();
    } catch (error) {
      this.deps.logger.warn('could not register a worker on the log', { err: error, name });
      this.refuse(new ProtocolError('UNAVAILABLE', WorkerCloseCode.tryAgainLater, 'the gateway cannot reach the log; connect again later'));
      return;
    }
    if (this.closed) {
      await host.abandon('the worker disconnected while registering');
      return;
    }
    this.host = host;
    this.send({ type: 'registered', workerId: host.workerId, heartbeatIntervalMs: this.deps.heartbeatIntervalMs, maxChunkBytes: MAX_CHUNK_BYTES });
  }

  private chunk(runId: string, attempt: number, data: string, encoding: 'utf8' | 'base64'): void {
    const pending = this.pending.get(attemptKey(runId, attempt));
    if (!pending) return;
    const chunk = encoding === 'base64' ? Buffer.from(data, 'base64') : data;
    const bytes = typeof chunk === 'string' ? Buffer.byteLength(chunk, 'utf8') : chunk.byteLength;
    if (bytes > MAX_CHUNK_BYTES) {
      // The worker's SDK checks this first; a chunk that still comes fails its attempt, not the socket.
      this.send({ type: 'error', code: 'CHUNK_TOO_LARGE', message: `chunk of ${bytes} bytes exceeds the limit of ${MAX_CHUNK_BYTES} bytes` });
      this.send({ type: 'cancel', runId, attempt, reason: 'a chunk exceeded the size limit' });
      this.settle(runId, attempt)?.reject(new NonRetryableError(`stream chunk of ${bytes} bytes exceeds the limit of ${MAX_CHUNK_BYTES} bytes`));
      return;
    }
    // Not awaited: the writer keeps call order, and a chunk the log refuses fails the attempt at its end.
    void pending.io.stream.put(chunk).catch(() => undefined);
  }

  private settle(runId: string, attempt: number): PendingAttempt | undefined {
    const key = attemptKey(runId, attempt);
    const pending = this.pending.get(key);
    this.pending.delete(key);
    return pending;
  }

  private send(message: GatewayMessage): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(message));
  }

  private refuse(error: ProtocolError): void {
    this.deps.logger.warn('closing a worker socket', { code: error.code, message: error.message });
    this.send({ type: 'error', code: error.code, message: error.message });
    this.socket.close(error.closeCode, error.message.slice(0, 120));
  }

  /** A worker that says nothing for three heartbeat intervals is gone, whatever TCP says. */
  private expectWordWithin(): void {
    clearTimeout(this.silence);
    this.silence = setTimeout(() => this.socket.terminate(), 3 * this.deps.heartbeatIntervalMs);
    this.silence.unref();
  }

  /** The socket closed: a drained worker stops; one with attempts running gives them up to other workers. */
  private async gone(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.silence);
    this.onGone(this);
    const host = this.host;
    if (!host) return;
    if (this.pending.size === 0) await host.stop();
    else await host.abandon('the worker disconnected');
  }
}

/** The workers connected to this gateway over the worker protocol (`/api/v1/workers/connect`). */
export class WorkerConnections {
  private readonly connections = new Set<WorkerConnection>();
  private readonly connected;
  private readonly deps: ConnectionDeps;

  constructor(deps: WorkerProtocolDeps) {
    this.connected = deps.metrics.gauge('chute_gateway_workers_connected', 'Workers connected over the worker protocol.');
    const readers = deps.metrics.gauge('chute_gateway_dispatch_readers', 'Dispatch partitions read for the connected workers: one reader each, shared by the workers that hash to it.');
    // One reader per dispatch partition for every worker connected here, not a Kafka consumer each.
    this.deps = { ...deps, dispatches: new DispatchRouter(deps.log, deps.topics, (count) => readers.set(count)) };
  }

  /** Takes a connection authenticated as this principal (scope `workers`): its worker serves the principal's tenant. */
  accept(socket: WebSocket, principal: Principal): void {
    const connection = new WorkerConnection(socket, principal.tenant, this.deps, (gone) => {
      this.connections.delete(gone);
      this.connected.set(this.connections.size);
    });
    this.connections.add(connection);
    this.connected.set(this.connections.size);
  }

  /**
   * Closes every connection (1001: the workers reconnect, to another gateway
   * or this one once it is back) and waits, up to a deadline, until each
   * worker's stop is on the log, so its attempts go to other workers at once.
   */
  async closeAll(deadlineMs = 10_000): Promise<void> {
    const all = [...this.connections];
    for (const connection of all) connection.goAway();
    await withDeadline(Promise.all(all.map((c) => c.finished)), deadlineMs, 'workers did not stop in time').catch((error: unknown) =>
      this.deps.logger.warn('stopping with workers still connected', { err: error }),
    );
  }
}
