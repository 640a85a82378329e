import type { Log } from '@chute/log';
import { createLogger, parseEnv, type Logger } from '@chute/runtime';
import { BrokerList, brokerConnectionOf, CheckedBrokerConnectionEnv, DEFAULT_PARTITIONS, type BrokerConnection } from '@chute/log/settings';
import {
  ApiError,
  DEFAULT_TENANT,
  ListRunsResponse,
  StreamTokenResponse,
  TenantId,
  RunView,
  TriggerRunResponse,
  type RunStatus,
  type TriggerRunBody,
} from '@chute/schemas';
import { z } from 'zod';
import { RunFailedError } from '../errors';
import { GatewayHttp } from './http';
import { streamOverWebSocket, type SubscribeOptions } from './stream';
import { defineTask, type TaskDefinition, type TaskOptions } from '../task';
import type { TaskWorker, WorkerOptions, WorkerTransport } from '../worker/types';

export interface ChuteOptions {
  /**
   * The gateway clients talk to. Workers over the gateway take a
   * comma-separated list and move to the next one when a connection is lost;
   * the client uses the first. @default process.env.CHUTE_GATEWAY_URL ?? 'http://127.0.0.1:8080'
   */
  gatewayUrl?: string;
  /** Sent as a bearer token. @default process.env.CHUTE_TOKEN */
  token?: string;
  /** Brokers workers talk to. @default process.env.CHUTE_KAFKA_BROKERS ?? '127.0.0.1:9092' */
  brokers?: string | readonly string[];
  /**
   * TLS and SASL for workers on the log (PEM contents, not file paths), e.g.
   * `{ tls: { ca }, sasl: { mechanism: 'scram-sha-256', username, password } }`.
   * @default read from the same variables as the services: CHUTE_KAFKA_TLS,
   * CHUTE_KAFKA_TLS_CA_FILE, CHUTE_KAFKA_TLS_CERT_FILE, CHUTE_KAFKA_TLS_KEY_FILE,
   * CHUTE_KAFKA_TLS_SERVERNAME, CHUTE_KAFKA_SASL_MECHANISM, CHUTE_KAFKA_SASL_USERNAME,
   * CHUTE_KAFKA_SASL_PASSWORD or CHUTE_KAFKA_SASL_PASSWORD_FILE (none set: plaintext, no login)
   */
  brokerConnection?: BrokerConnection;
  /** Must match the platform's services. @default process.env.CHUTE_TOPIC_PREFIX ?? 'chute' */
  topicPrefix?: string;
  /** Where workers log. @default JSON lines on stdout at 'info' */
  logger?: Logger;
  /** Supplies the log workers run on (e.g. the embedded log of the quick start). @default a Kafka log on `brokers` */
  log?: (clientId: string) => Log;
  /** @default 5000 */
  heartbeatIntervalMs?: number;
  /**
   * The tenant a worker on the log serves (a worker over the gateway serves
   * its token's). @default process.env.CHUTE_WORKER_TENANT ?? 'default'
   */
  tenant?: string;
}

type AnyTaskDefinition = TaskDefinition<never, unknown> | TaskDefinition<unknown, unknown>;

/** How long one request waits for a run to end before the client asks again (a long poll). */
const RESULT_WAIT_MS = 30_000;

const triggerPath = (definition: AnyTaskDefinition): string => `/api/v1/tasks/${encodeURIComponent(definition.name)}/runs`;

const triggerBody = (definition: AnyTaskDefinition, input: unknown): TriggerRunBody => ({
  input: input === undefined ? null : (input as TriggerRunBody['input']),
  retries: definition.retries,
  executionTimeoutMs: definition.executionTimeoutMs,
});

/** The settled end of a run: its output, or a RunFailedError. */
function outputOf<O>(run: RunView): O {
  if (run.status === 'COMPLETED') return run.output as O;
  throw new RunFailedError(run.runId, run.status, run.error);
}

/** A run that was triggered; names follow Hatchet's `WorkflowRunRef`. */
export class WorkflowRunRef<O> {
  private settled: Promise<O> | undefined;

  constructor(
    readonly runId: string,
    private readonly runs: Runs,
  ) {}

  async getWorkflowRunId(): Promise<string> {
    return this.runId;
  }

  /** Resolves with the task's output once the run completes; rejects with RunFailedError otherwise. */
  get output(): Promise<O> {
    return this.result();
  }

  result(): Promise<O> {
    return (this.settled ??= this.runs.waitForEnd(this.runId).then((run) => outputOf<O>(run)));
  }

  /** The run's stream: `chute.runs.subscribeToStream(ref.runId)`. */
  stream(options: SubscribeOptions & { raw?: false } = {}): AsyncIterable<string> {
    return this.runs.subscribeToStream(this.runId, options);
  }
}

/** A task bound to a client: what `chute.task(...)` returns. */
export class Task<I, O> {
  constructor(
    readonly definition: TaskDefinition<I, O>,
    private readonly runs: Runs,
  ) {}

  get name(): string {
    return this.definition.name;
  }

  /** Triggers a run and returns at once with its reference. */
  async runNoWait(input: I): Promise<WorkflowRunRef<O>> {
    const runId = await this.runs.trigger(this.definition, input);
    return new WorkflowRunRef<O>(runId, this.runs);
  }

  /** Triggers a run and waits for its output (rejects with RunFailedError if it does not complete). */
  async run(input: I): Promise<O> {
    return outputOf<O>(await this.runs.triggerAndWait(this.definition, input));
  }
}

export interface ListRunsOptions {
  task?: string;
  status?: RunStatus;
  limit?: number;
  cursor?: string;
}

/** Runs, through the gateway: what `chute.runs` is. */
export class Runs {
  constructor(
    private readonly http: GatewayHttp,
    private readonly gatewayUrl: string,
    private readonly token: string | undefined,
  ) {}

  /**
   * Iterates the chunks a run publishes from now on (chunks published before
   * this call are not delivered, unless `from: 'start'` or `after` asks for
   * them), ending when the run's stream ends. Bytes chunks are decoded as UTF-8
   * unless `raw` is set.
   */
  subscribeToStream(runId: string, options?: SubscribeOptions & { raw?: false }): AsyncIterable<string>;
  subscribeToStream(runId: string, options: SubscribeOptions & { raw: true }): AsyncIterable<string | Uint8Array>;
  subscribeToStream(runId: string, options: SubscribeOptions = {}): AsyncIterable<string | Uint8Array> {
    return streamOverWebSocket(this.gatewayUrl, this.token, runId, options);
  }

  /** @internal */
  async trigger(definition: AnyTaskDefinition, input: unknown): Promise<string> {
    const { data } = await this.http.request('POST', triggerPath(definition), TriggerRunResponse, triggerBody(definition, input));
    return data.runId;
  }

  /**
   * Triggers a run and waits for it to end. A run that ends within the
   * gateway's wait costs one exchange; a longer one goes on waiting on `/result`.
   * @internal
   */
  async triggerAndWait(definition: AnyTaskDefinition, input: unknown): Promise<RunView> {
    const path = `${triggerPath(definition)}?waitMs=${RESULT_WAIT_MS}`;
    const { status, data } = await this.http.request('POST', path, RunView, triggerBody(definition, input));
    return status === 200 ? data : this.waitForEnd(data.runId);
  }

  async get(runId: string): Promise<RunView> {
    return (await this.http.request('GET', `/api/v1/runs/${encodeURIComponent(runId)}`, RunView)).data;
  }

  /**
   * A short-lived token that reads this run's stream only, for a browser to
   * pass as `?token=` (EventSource and WebSocket cannot send headers).
   * Undefined when the gateway runs without auth: its streams need no token.
   */
  async streamToken(runId: string): Promise<{ token: string; expiresAt: string } | undefined> {
    const { status, data } = await this.http.request('POST', `/api/v1/runs/${encodeURIComponent(runId)}/stream-token`, StreamTokenResponse.or(ApiError), undefined, [201, 409]);
    if (status === 409) return undefined;
    return data as StreamTokenResponse;
  }

  /** Asks for the run to be cancelled; the running task's abortSignal fires. */
  async cancel(runId: string): Promise<void> {
    await this.http.request('POST', `/api/v1/runs/${encodeURIComponent(runId)}/cancel`, z.unknown());
  }

  async list(options: ListRunsOptions = {}): Promise<ListRunsResponse> {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(options)) if (v !== undefined) query.set(k, String(v));
    return (await this.http.request('GET', `/api/v1/runs?${query.toString()}`, ListRunsResponse)).data;
  }

  /** Waits (long-polling the gateway) until the run has ended, and returns it. */
  async waitForEnd(runId: string): Promise<RunView> {
    for (;;) {
      const { status, data } = await this.http.request('GET', `/api/v1/runs/${encodeURIComponent(runId)}/result?timeoutMs=${RESULT_WAIT_MS}`, RunView);
      if (status === 200) return data;
    }
  }
}

/**
 * The client. `Chute.init()` reads its settings from the environment, as
 * `Hatchet.init()` does; pass options to override them. It talks HTTP to a
 * gateway only: the Kafka client is loaded by `worker()`, and only for a
 * worker on the log.
 */
export class Chute {
  readonly runs: Runs;
  private readonly options: ChuteOptions;
  private readonly gatewayUrls: string[];
  private readonly token: string | undefined;
  private readonly brokersSetting: string | readonly string[] | undefined;
  private readonly topicPrefix: string;

  private constructor(options: ChuteOptions) {
    this.options = options;
    this.gatewayUrls = (options.gatewayUrl ?? process.env['CHUTE_GATEWAY_URL'] ?? 'http://127.0.0.1:8080')
      .split(',')
      .map((u) => u.trim())
      .filter((u) => u.length > 0);
    const gatewayUrl = this.gatewayUrls[0] ?? 'http://127.0.0.1:8080';
    this.token = options.token ?? process.env['CHUTE_TOKEN'];
    this.runs = new Runs(new GatewayHttp({ baseUrl: gatewayUrl, token: this.token }), gatewayUrl, this.token);
    this.brokersSetting = options.brokers ?? process.env['CHUTE_KAFKA_BROKERS'];
    this.topicPrefix = options.topicPrefix ?? process.env['CHUTE_TOPIC_PREFIX'] ?? 'chute';
  }

  static init(options: ChuteOptions = {}): Chute {
    return new Chute(options);
  }

  /** Defines a task. */
  task<I = unknown, O = unknown>(options: TaskOptions<I, O>): Task<I, O> {
    return new Task(defineTask(options), this.runs);
  }

  /** Creates a worker for the given tasks; call `start()` to serve them. */
  async worker(name: string, options: WorkerOptions): Promise<TaskWorker> {
    const logger = this.options.logger ?? createLogger({ service: 'worker', name });
    if (this.transportOf(options) === 'gateway') {
      const { GatewayWorker } = await import('../worker/gateway-worker');
      return new GatewayWorker(name, options, { gatewayUrls: this.gatewayUrls, token: this.token, logger });
    }
    // Loaded here, not with the client: an app that only triggers and reads runs never loads kafkajs.
    const { logWorker } = await import('../worker/log-worker');
    const brokers = this.brokersSetting ?? '127.0.0.1:9092';
    return logWorker(name, options, {
      brokers: BrokerList.parse(typeof brokers === 'string' ? brokers : brokers.join(',')),
      ...(this.options.log ? { log: this.options.log } : {}),
      // Read here, not in the constructor: a client that only triggers runs needs none of it.
      connection: this.options.brokerConnection ?? brokerConnectionOf(parseEnv(CheckedBrokerConnectionEnv)),
      topicPrefix: this.topicPrefix,
      tenant: TenantId.parse(this.options.tenant ?? process.env['CHUTE_WORKER_TENANT'] ?? DEFAULT_TENANT),
      logger,
      ...(this.options.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: this.options.heartbeatIntervalMs } : {}),
    });
  }

  private transportOf(options: WorkerOptions): WorkerTransport {
    if (options.transport) return options.transport;
    const fromEnv = process.env['CHUTE_WORKER_TRANSPORT'];
    if (fromEnv === 'kafka' || fromEnv === 'gateway') return fromEnv;
    if (fromEnv !== undefined) throw new RangeError(`CHUTE_WORKER_TRANSPORT must be kafka or gateway, got "${fromEnv}"`);
    return this.brokersSetting !== undefined || this.options.log ? 'kafka' : 'gateway';
  }

}
