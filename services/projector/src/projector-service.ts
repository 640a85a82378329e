import { createDb, migrateToLatest, type Db } from '@chute/db';
import { kafkaLogFromConfig, startPlatformLog, type Log } from '@chute/log';
import { Lifecycle, Metrics, type Component, type Logger } from '@chute/runtime';
import type { ProjectorConfig } from './config';

/**
 * Folds run events into the Postgres read model. At this stage it migrates the
 * read model's schema and connects to the log.
 */
export class ProjectorService implements Component {
  private readonly lifecycle = new Lifecycle();
  private readonly metrics = new Metrics();
  private readonly log: Log;
  private readonly db: Db;

  constructor(
    private readonly config: ProjectorConfig,
    private readonly logger: Logger,
  ) {
    this.log = kafkaLogFromConfig(config, 'chute-projector', logger);
    this.db = createDb({ url: config.CHUTE_DATABASE_URL });
  }

  start(): Promise<void> {
    return this.lifecycle.start(async () => {
      const applied = await migrateToLatest(this.db);
      this.logger.info('read model migrated', { applied });
      await startPlatformLog(this.log, this.config, { logger: this.logger, metrics: this.metrics });
      this.logger.info('log ready');
    });
  }

  stop(): Promise<void> {
    return this.lifecycle.stop(async () => {
      await this.log.stop();
      await this.db.destroy();
    });
  }
}
