import { emptySchedulerState, foldIntoScheduler, planScheduling } from '@chute/domain';
import { checkConsuming, kafkaLogFromConfig, startPlatformLog, type Decoded, type Log, type PlatformTopics, type Subscription } from '@chute/log';
import { Lifecycle, Metrics, type Logger, type Probed } from '@chute/runtime';
import type { RunEvent, WorkerEvent } from '@chute/schemas';
import type { SchedulerConfig } from './config';

/** How many ended run ids are remembered, so a duplicated request cannot revive a run. */
const ENDED_MEMORY = 100_000;

/**
 * Turns run requests into dispatches, retries, timeouts and cancellations.
 *
 * Its state is folded from the log alone: on start it reads the run-events and
 * worker-events topics from the beginning, and acts only once it has caught up
 * with where they ended at start, so a restart never acts on a partial picture.
 * Run one scheduler per deployment: two would each hand out every worker's slots.
 */
export class Scheduler implements Probed {
  private readonly lifecycle = new Lifecycle();
  readonly metrics = new Metrics();
  private readonly log: Log;
  private topics: PlatformTopics | undefined;
  private readonly state = emptySchedulerState();
  private readonly ended = new Set<string>();
  private subscriptions: Subscription[] = [];
  private timer: NodeJS.Timeout | undefined;
  private caughtUp = false;
  private pendingCatchUp = new Map<string, number>();
  private ticking: Promise<void> | undefined;
  private tickAgain = false;
  private readonly dispatched;

  constructor(
    private readonly config: SchedulerConfig,
    private readonly logger: Logger,
  ) {
    this.log = kafkaLogFromConfig(config, 'chute-scheduler', logger);
    this.dispatched = this.metrics.counter('chute_scheduler_events_total', 'Events the scheduler appended, by type.');
  }

  start(): Promise<void> {
    return this.lifecycle.start(async () => {
      const topics = (this.topics = await startPlatformLog(this.log, this.config, { logger: this.logger, metrics: this.metrics }));
      // Where "caught up" is: every partition's end at start.
      for (const topic of [topics.runEvents, topics.workerEvents]) {
        for (const { partition, offset } of await this.log.endOffsets(topic.name)) {
          if (offset > 0) this.pendingCatchUp.set(`${topic.name}/${partition}`, offset);
        }
      }
      const fromStart = async (name: string) =>
        (await this.log.endOffsets(name)).map(({ partition }) => ({ partition, offset: 0 }));
      this.subscriptions = [
        await topics.workerEvents.read(await fromStart(topics.workerEvents.name), (batch) => this.apply(batch)),
        await topics.runEvents.read(await fromStart(topics.runEvents.name), (batch) => this.apply(batch)),
      ];
      this.checkCaughtUp();
      this.timer = setInterval(() => this.requestTick(), this.config.CHUTE_SCHEDULER_TICK_MS);
    });
  }

  /** Ready once it has caught up with the log and every consumer is consuming. */
  async checkReady(): Promise<void> {
    if (this.lifecycle.state !== 'running') throw new Error(`scheduler is ${this.lifecycle.state}`);
    if (!this.caughtUp) throw new Error('scheduler is still reading the log up to where it ended at start');
    checkConsuming(this.log);
  }

  stop(): Promise<void> {
    // Stop deciding first, then stop reading, then let the log flush what was appended.
    return this.lifecycle.stop(async () => {
      clearInterval(this.timer);
      await this.ticking;
      await Promise.all(this.subscriptions.map((s) => s.stop()));
      await this.log.stop();
    });
  }

  private apply(batch: readonly Decoded<RunEvent | WorkerEvent>[]): void {
    for (const { value, record } of batch) {
      if (value.type === 'RunRequested' && this.ended.has(value.runId)) continue;
      this.fold(value);
      const key = `${record.topic}/${record.partition}`;
      const target = this.pendingCatchUp.get(key);
      if (target !== undefined && record.offset + 1 >= target) this.pendingCatchUp.delete(key);
    }
    this.checkCaughtUp();
    this.requestTick();
  }

  /** Folds one event; a run it ends is remembered, so a duplicated request cannot revive it. */
  private fold(event: RunEvent | WorkerEvent): void {
    if (!foldIntoScheduler(this.state, event).runEnded || !('runId' in event)) return;
    this.ended.add(event.runId);
    if (this.ended.size > ENDED_MEMORY) this.ended.delete(this.ended.values().next().value!);
  }

  private checkCaughtUp(): void {
    if (this.caughtUp || this.pendingCatchUp.size > 0) return;
    this.caughtUp = true;
    this.logger.info('caught up', { runs: this.state.runs.size, workers: this.state.workers.size });
  }

  /** Ticks never overlap: a request during a tick runs one more right after it. */
  private requestTick(): void {
    if (!this.caughtUp || this.lifecycle.state !== 'running') return;
    if (this.ticking) {
      this.tickAgain = true;
      return;
    }
    this.ticking = this.tick().finally(() => {
      this.ticking = undefined;
      if (this.tickAgain) {
        this.tickAgain = false;
        this.requestTick();
      }
    });
  }

  private async tick(): Promise<void> {
    const events = planScheduling(this.state, Date.now(), { heartbeatTimeoutMs: this.config.CHUTE_HEARTBEAT_TIMEOUT_MS });
    if (events.length === 0) return;
    try {
      await this.topics!.runEvents.append(events);
    } catch (error) {
      // Nothing was applied: the next tick plans the same events again.
      this.logger.error('append failed', { err: error });
      return;
    }
    // Applied now rather than when read back, so the next plan does not repeat them;
    // reading them back later is a no-op because evolve ignores duplicates.
    for (const event of events) {
      this.dispatched.inc({ type: event.type });
      this.fold(event);
    }
  }
}
