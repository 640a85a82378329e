import type { FastifyInstance } from 'fastify';
import { mintToken, type AuthKeys } from '@chute/auth';
import { createDb, pingDb, type Db } from '@chute/db';
import { checkConsuming, kafkaLogFromConfig, startPlatformLog, type Decoded, type Log, type PlatformTopics, type Subscription } from '@chute/log';
import type { RunEvent } from '@chute/schemas';
import { ChuteError, Lifecycle, Metrics, withDeadline, type Component, type Logger } from '@chute/runtime';
import { buildGateway } from './app';
import { authKeysOf, type GatewayConfig } from './config';
import { RecentRuns } from './runs/recent-runs';
import { RunWaiters } from './runs/run-waiters';
import type { StreamTokens } from './streams/stream-api';
import { StreamHub } from './streams/stream-hub';
import { WorkerConnections } from './workers/worker-protocol';

/**
 * How long a request waits for the log to take its event. The log retries an
 * append until the broker takes it (a broker restart takes seconds); a client
 * is told 503 sooner than its own timeout would fire.
 */
const APPEND_DEADLINE_MS = 10_000;

/** The append, or a 503 once the deadline passes (the append goes on: the event may still land). */
function appendWithin(append: Promise<void>, ms: number): Promise<void> {
  const unavailable = (): Error =>
    new ChuteError('UNAVAILABLE', `the log did not take the request within ${ms / 1000} s (broker unreachable?); it may still take it later`);
  return withDeadline(append, ms, unavailable);
}

/**
 * Connections the kernel may hold for the gateway before it accepts them
 * (capped by net.core.somaxconn). Node's default, 511, overflowed when a
 * thousand subscribers connected at once on a busy gateway: the kernel dropped
 * their handshakes (TcpExtListenOverflows) and they were retried seconds later
 * or reset.
 */
const LISTEN_BACKLOG = 4096;

/** Run-scoped stream tokens: `stream:read` for one run of one tenant, signed like every token. */
function streamTokens(keys: AuthKeys, ttlMs: number): StreamTokens {
  return {
    async mint(tenant, runId) {
      const now = Date.now();
      const token = await mintToken(keys, { tenant, scopes: ['stream:read'], ttlMs, run: runId, subject: `stream:${runId}`, now });
      return { token, expiresAt: Math.floor((now + ttlMs) / 1000) * 1000 };
    },
  };
}

/** The gateway process: HTTP in front, the log and the read model behind. */
export class GatewayServer implements Component {
  private readonly lifecycle = new Lifecycle();
  private readonly metrics = new Metrics();
  private readonly log: Log;
  private readonly db: Db;
  private app: FastifyInstance | undefined;
  private topics: PlatformTopics | undefined;
  private readonly recentRuns = new RecentRuns();
  private readonly waiters = new RunWaiters(this.recentRuns);
  private tail: Subscription | undefined;
  private hub: StreamHub | undefined;
  private workers: WorkerConnections | undefined;
  private readonly keys: AuthKeys | undefined;

  /** Whether it made its database pool (and so closes it), or was handed one to share. */
  private readonly ownsDb: boolean;

  /** `deps` runs it on a given log client and database (the one-process quick start); by default, Kafka and PostgreSQL from `config`. */
  constructor(
    private readonly config: GatewayConfig,
    private readonly logger: Logger,
    deps: { log?: Log; db?: Db } = {},
  ) {
    this.log = deps.log ?? kafkaLogFromConfig(config, 'chute-gateway', logger, this.metrics);
    this.ownsDb = deps.db === undefined;
    this.db = deps.db ?? createDb({ url: config.CHUTE_DATABASE_URL });
    this.keys = authKeysOf(config);
  }

  /** The bound address, once started (port 0 picks a free one). */
  address(): string {
    const address = this.app?.server.address();
    if (!address || typeof address === 'string') throw new Error('gateway is not listening');
    return `http://${address.address}:${address.port}`;
  }

  start(): Promise<void> {
    return this.lifecycle.start(async () => {
      this.topics = await startPlatformLog(this.log, this.config, { logger: this.logger, metrics: this.metrics });
      this.logger.info('log ready');
      const topics = this.topics;
      this.hub = new StreamHub({
        log: this.log,
        records: topics.stream,
        logger: this.logger,
        metrics: this.metrics,
        maxBufferBytes: this.config.CHUTE_STREAM_BUFFER_BYTES,
      });
      const runEventsTopic = topics.runEvents.name;
      // One reader of both topics, from their ends on: the stream topic feeds
      // the hub's subscribers, the run-events topic every waiting /result
      // request. A worker appends a run's end and its stream's end together,
      // and one fetch brings both (one reader per topic would be woken twice).
      this.tail = await this.log.readAll([
        await this.hub.reading(),
        topics.runEvents.reading(await this.log.endOffsets(runEventsTopic), (batch) => this.runEventsRead(batch)),
      ]);
      this.workers = new WorkerConnections({
        log: this.log,
        topics,
        logger: this.logger,
        metrics: this.metrics,
        heartbeatIntervalMs: this.config.CHUTE_WORKER_HEARTBEAT_INTERVAL_MS,
      });
      this.app = buildGateway({
        logger: this.logger,
        metrics: this.metrics,
        db: this.db,
        recentRuns: this.recentRuns,
        waiters: this.waiters,
        appendRunEvents: (events) => appendWithin(topics.runEvents.append(events), APPEND_DEADLINE_MS),
        hub: this.hub!,
        workers: this.workers,
        auth: {
          keys: this.keys,
          logger: this.logger,
          publicPrefixes: [...(this.config.CHUTE_METRICS_PUBLIC ? ['/metrics'] : []), ...(this.config.CHUTE_DOCS_PUBLIC ? ['/docs'] : [])],
        },
        streamTokens: this.keys ? streamTokens(this.keys, this.config.CHUTE_STREAM_TOKEN_TTL) : undefined,
        corsOrigins: this.config.CHUTE_CORS_ORIGINS,
        triggersPerMinute: this.config.CHUTE_RATE_LIMIT_TRIGGERS_PER_MINUTE,
        checkReady: async () => {
          await withDeadline(this.log.endOffsets(runEventsTopic), 2000, 'log did not answer within 2 s');
          await withDeadline(pingDb(this.db), 2000, 'database did not answer within 2 s');
          checkConsuming(this.log);
        },
      });
      await this.app.listen({ host: this.config.CHUTE_GATEWAY_HOST, port: this.config.CHUTE_GATEWAY_PORT, backlog: LISTEN_BACKLOG });
      this.logger.info('listening', { address: this.address() });
    });
  }

  /**
   * What the gateway's tail of run-events brings: the recent runs fold it,
   * and each run it ends releases the requests waiting for it. (A run's
   * streams end by the stream topic's own end record, which whoever ended the
   * run wrote.)
   */
  private runEventsRead(batch: readonly Decoded<RunEvent>[]): void {
    for (const event of this.recentRuns.observe(batch)) this.waiters.ended(event);
  }

  stop(): Promise<void> {
    // Intake first (no new requests), then the log (flushes accepted appends), then the pool.
    return this.lifecycle.stop(async () => {
      this.waiters.close();
      // Connected workers' stops go on the log while it is still open.
      await this.workers?.closeAll();
      await this.hub?.stop();
      await this.app?.close();
      await this.tail?.stop();
      await this.log.stop();
      if (this.ownsDb) await this.db.destroy();
    });
  }
}
