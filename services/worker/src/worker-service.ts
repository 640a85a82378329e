import { kafkaLogFromConfig, startPlatformLog, type Log } from '@chute/log';
import { Lifecycle, Metrics, type Component, type Logger } from '@chute/runtime';
import type { WorkerConfig } from './config';

/**
 * The deployable worker that hosts the example tasks. At this stage it only
 * connects to the log and makes sure the platform's topics exist.
 */
export class WorkerService implements Component {
  private readonly lifecycle = new Lifecycle();
  private readonly metrics = new Metrics();
  private readonly log: Log;

  constructor(
    private readonly config: WorkerConfig,
    private readonly logger: Logger,
  ) {
    this.log = kafkaLogFromConfig(config, 'chute-worker', logger);
  }

  start(): Promise<void> {
    return this.lifecycle.start(async () => {
      await startPlatformLog(this.log, this.config, { logger: this.logger, metrics: this.metrics });
      this.logger.info('log ready');
    });
  }

  stop(): Promise<void> {
    return this.lifecycle.stop(() => this.log.stop());
  }
}
