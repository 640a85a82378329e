import { createDb, migrateToLatest, pingDb, type Db } from '@chute/db';
import { checkConsuming, kafkaLogFromConfig, startPlatformLog, type Log, type Subscription } from '@chute/log';
import { Lifecycle, Metrics, type Logger, type Probed } from '@chute/runtime';
import type { ProjectorConfig } from './config';
import { BatchProjector, type BatchProjectorOptions } from './batch-projector';
import { RunsProjection } from './runs-projection';
import { applyRunEvents, applyWorkerEvents, type ApplyEvents } from './projection';

/** How often the projector commits its groups' positions (see start()). */
const PROJECTOR_COMMIT_INTERVAL_MS = 1000;

/**
 * Folds run and worker events into the PostgreSQL read model. Each batch is
 * written with its checkpoint in one transaction, so a crash between the write
 * and the log commit replays the batch harmlessly. A record the read model
 * refuses on its data is parked on `<prefix>.dead-letter` and skipped
 * (see {@link BatchProjector}); an outage is retried until it passes.
 */
export class ProjectorService implements Probed {
  private readonly lifecycle = new Lifecycle();
  /** Its counters (events applied, records parked), served on the probe port's /metrics. */
  readonly metrics = new Metrics();
  private readonly log: Log;
  private readonly db: Db;
  private subscriptions: Subscription[] = [];
  private readonly applied;

  /** Whether it made its database pool (and so closes it), or was handed one to share. */
  private readonly ownsDb: boolean;

  /** `deps` runs it on a given log client and database (the one-process quick start); by default, Kafka and PostgreSQL from `config`. */
  constructor(
    private readonly config: ProjectorConfig,
    private readonly logger: Logger,
    deps: { log?: Log; db?: Db } = {},
  ) {
    this.log = deps.log ?? kafkaLogFromConfig(config, 'chute-projector', logger, this.metrics);
    this.ownsDb = deps.db === undefined;
    this.db = deps.db ?? createDb({ url: config.CHUTE_DATABASE_URL });
    this.applied = this.metrics.counter('chute_projector_events_total', 'Events applied to the read model, by topic.');
  }

  start(): Promise<void> {
    return this.lifecycle.start(async () => {
      const applied = await migrateToLatest(this.db);
      this.logger.info('read model migrated', { applied });
      const topics = await startPlatformLog(this.log, this.config, { logger: this.logger, metrics: this.metrics });
      const group = this.config.CHUTE_PROJECTOR_GROUP ?? `${this.config.CHUTE_TOPIC_PREFIX}.projector`;
      // Reached when a batch could neither be projected nor have its refused
      // records parked (the database or the broker is out): the log delivers it again.
      const onError = (error: unknown) => this.logger.error('projection failed; retrying the batch', { err: error });
      const lingerMs = this.config.CHUTE_PROJECTOR_LINGER_MS;
      // The read model holds each projection's checkpoint, and a batch behind it changes nothing:
      // the group's position only saves reading again after a restart, so it is committed once a second, not per batch.
      const commitIntervalMs = PROJECTOR_COMMIT_INTERVAL_MS;
      const projector = <T>(projection: string, consumer: string, apply: ApplyEvents<T>, write?: BatchProjectorOptions<T>['write']) =>
        new BatchProjector<T>({
          db: this.db,
          projection,
          consumer,
          apply,
          ...(write ? { write } : {}),
          park: (letters) => topics.deadLetters.append(letters),
          logger: this.logger,
          metrics: this.metrics,
        });
      // Run events come often: most of their batches are one statement (see RunsProjection).
      const runsProjection = new RunsProjection(this.db, this.metrics);
      const runs = projector('runs', `${group}.runs`, applyRunEvents, (batch, next) => runsProjection.project(batch, next));
      const workers = projector('workers', `${group}.workers`, applyWorkerEvents);
      // Both groups join at once: after a crash each waits out its dead
      // predecessor's session timeout, and one after the other would wait twice.
      const joins = await Promise.allSettled([
        topics.runEvents.consume({
          group: `${group}.runs`,
          onError,
          lingerMs,
          commitIntervalMs,
          handler: async (batch, next) => {
            this.applied.inc({ topic: 'run-events' }, await runs.project(batch, next));
          },
        }),
        topics.workerEvents.consume({
          group: `${group}.workers`,
          onError,
          lingerMs,
          commitIntervalMs,
          handler: async (batch) => {
            this.applied.inc({ topic: 'worker-events' }, await workers.project(batch));
          },
        }),
      ]);
      // What did join is stopped with the rest if the other failed.
      for (const join of joins) if (join.status === 'fulfilled') this.subscriptions.push(join.value);
      const failed = joins.find((join) => join.status === 'rejected');
      if (failed) throw failed.reason;
      this.logger.info('projecting', { group });
    });
  }

  /** Ready while its consumers consume and the read model answers. */
  async checkReady(): Promise<void> {
    if (this.lifecycle.state !== 'running') throw new Error(`projector is ${this.lifecycle.state}`);
    checkConsuming(this.log);
    await pingDb(this.db).catch((error: unknown) => {
      throw new Error(`database did not answer: ${error instanceof Error ? error.message : String(error)}`);
    });
  }

  stop(): Promise<void> {
    // Consumers first (they finish the batch in flight and commit), then the pool they write through.
    return this.lifecycle.stop(async () => {
      await Promise.all(this.subscriptions.map((s) => s.stop()));
      await this.log.stop();
      if (this.ownsDb) await this.db.destroy();
    });
  }
}
