import { Lifecycle, Metrics, type Logger, type Probed } from '@chute/runtime';
import type { Log } from '@chute/log';
import { Chute, type TaskWorker } from '@chute/sdk';
import type { WorkerConfig } from './config';
import { exampleTasks } from './tasks';

/** The deployable worker: the SDK's worker runtime hosting the example tasks. */
export class WorkerService implements Probed {
  private readonly lifecycle = new Lifecycle();
  private readonly ownMetrics = new Metrics();
  private worker: TaskWorker | undefined;

  /** `deps.log` runs it on a given log (the one-process quick start); by default, Kafka from `config`. */
  constructor(
    private readonly config: WorkerConfig,
    private readonly logger: Logger,
    private readonly deps: { log?: (clientId: string) => Log } = {},
  ) {}

  start(): Promise<void> {
    return this.lifecycle.start(async () => {
      const chute = Chute.init({
        brokers: this.config.CHUTE_KAFKA_BROKERS,
        topicPrefix: this.config.CHUTE_TOPIC_PREFIX,
        logger: this.logger,
        heartbeatIntervalMs: this.config.CHUTE_HEARTBEAT_INTERVAL_MS,
        tenant: this.config.CHUTE_WORKER_TENANT,
        ...(this.deps.log ? { log: this.deps.log } : {}),
      });
      this.worker = await chute.worker(this.config.CHUTE_WORKER_NAME, {
        workflows: exampleTasks(chute),
        slots: this.config.CHUTE_WORKER_SLOTS,
        // runMain owns the signals and stops this component in order.
        handleKill: false,
      });
      await this.worker.ready();
      this.logger.info('serving', { workerId: this.worker.workerId });
    });
  }

  /** The worker's figures once it runs. */
  get metrics(): Metrics {
    return this.worker?.metrics ?? this.ownMetrics;
  }

  /** Ready while the worker is registered and reading its dispatches. */
  async checkReady(): Promise<void> {
    if (!this.worker) throw new Error('worker is not registered yet');
    this.worker.checkReady();
  }

  stop(): Promise<void> {
    // The worker drains its running tasks before it announces the stop.
    return this.lifecycle.stop(async () => {
      await this.worker?.stop();
    });
  }
}
