import { setTimeout as sleep } from 'node:timers/promises';
import {
  checkConsuming,
  FencedError,
  kafkaLogFromConfig,
  startPlatformLog,
  type Decoded,
  type ExclusiveAppender,
  type GroupSubscription,
  type Log,
  type PartitionOffset,
  type PlatformTopics,
  type Subscription,
  type TopicPartitionOffset,
} from '@chute/log';
import { Lifecycle, Metrics, type Logger, type Probed } from '@chute/runtime';
import type { RunEvent } from '@chute/schemas';
import { Checkpointer } from './checkpointer';
import { Checkpoints } from './checkpoints';
import type { SchedulerConfig } from './config';
import { Planner } from './planner';
import { RunBook } from './run-book';

/** How often partitions are looked at for a checkpoint. */
const CHECKPOINT_CHECK_MS = 1000;

/** Back-off between tries to claim a partition back: 100 ms doubling to 5 s. */
const reclaimDelayMs = (attempt: number): number => Math.min(5000, 100 * 2 ** attempt);

/**
 * Turns run requests into dispatches, retries, timeouts and cancellations.
 *
 * Any number of schedulers share the work: they form one consumer group on
 * the run-events topic, and the partition that holds a run decides which
 * scheduler owns it. On every assignment a scheduler rebuilds the state of the
 * partitions it now owns, and acts only once it has read each up to where it
 * ended at the assignment, so it never acts on a partial picture. It starts
 * each partition from its latest checkpoint (the live runs as of an offset,
 * written by whoever owned it) and reads on from there, so taking a partition
 * over costs its live runs and the records since the checkpoint, not its
 * whole history.
 * Workers are shared by all: every scheduler reads the whole worker-events topic.
 *
 * Each worker is told of its work on the dispatch topic, in its own
 * partition. What a tick decides for a partition (its run events, and the
 * dispatches and revocations that tell workers of them) is one exclusive
 * append under the partition's own id (`<prefix>.scheduler.<partition>`), so
 * workers and readers see a decision whole or not at all.
 *
 * Fencing: a scheduler claims a partition's id before it reads the partition
 * to act on it, and claiming fences whoever held it. So a scheduler that lost
 * a partition, even one frozen in the middle of a tick past its session
 * timeout, can never append a decision for it again: only the latest claimant
 * can, and it read every decision taken before its claim. A claim is lost to
 * a failed append too (its outcome is unknown); the scheduler then checks it
 * is still in the group's current generation (the group refuses a commit from
 * a member of an older one), claims it again and reads up to the new end
 * before it acts. Safety rests on the claim and the read, not on that check:
 * it only keeps a scheduler that lost its partitions from taking them back.
 *
 * This class owns the partitions and their fence; what it knows of the runs
 * is the {@link RunBook}, what it decides the {@link Planner}'s, and when it
 * checkpoints the {@link Checkpointer}'s.
 */
export class Scheduler implements Probed {
  private readonly lifecycle = new Lifecycle();
  readonly metrics = new Metrics();
  private readonly log: Log;
  private topics: PlatformTopics | undefined;
  private readonly book = new RunBook();
  private planner: Planner | undefined;
  private checkpointer: Checkpointer | undefined;
  private runEventsSubscription: GroupSubscription | undefined;
  private checkpointTimer: NodeJS.Timeout | undefined;
  private subscriptions: Subscription[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Run-events partitions owned now, each with the offset it must be read up to before acting; undefined while a rebalance is on. */
  private owned: Map<number, number> | undefined;
  /** Each owned partition's exclusive appender, claimed at assignment. */
  private readonly appenders = new Map<number, ExclusiveAppender>();
  /** Owned partitions whose claim was lost (an append failed or was fenced): nothing is appended for them until claimed again. */
  private readonly reclaiming = new Set<number>();
  private workersCaughtUpAt: number | undefined;
  private readonly dispatched;
  private readonly reclaims;
  private readonly ownedGauge;
  private readonly checkpointsWritten;

  /** `deps.log` runs it on a given log client (the one-process quick start); by default, Kafka from `config`. */
  constructor(
    private readonly config: SchedulerConfig,
    private readonly logger: Logger,
    deps: { log?: Log } = {},
  ) {
    this.log = deps.log ?? kafkaLogFromConfig(config, 'chute-scheduler', logger, this.metrics);
    this.dispatched = this.metrics.counter('chute_scheduler_events_total', 'Events the scheduler appended, by type.');
    this.ownedGauge = this.metrics.gauge('chute_scheduler_owned_partitions', 'Run-events partitions this scheduler owns.');
    this.checkpointsWritten = this.metrics.counter('chute_scheduler_checkpoints_total', 'Checkpoints of run-events partitions written.');
    this.reclaims = this.metrics.counter('chute_scheduler_reclaims_total', 'Claims of a partition lost to a failed append, by why it failed (fenced, failed) and how it ended.');
  }

  start(): Promise<void> {
    return this.lifecycle.start(async () => {
      const topics = (this.topics = await startPlatformLog(this.log, this.config, { logger: this.logger, metrics: this.metrics }));
      const fence = {
        owned: () => this.owned,
        isReclaiming: (partition: number) => this.reclaiming.has(partition),
        caughtUp: () => this.caughtUp,
      };
      this.checkpointer = new Checkpointer({
        book: this.book,
        store: new Checkpoints(this.log, topics, this.group, this.logger),
        ownership: { ...fence, subscription: () => this.runEventsSubscription },
        everyRecords: this.config.CHUTE_SCHEDULER_CHECKPOINT_RECORDS,
        maxAgeMs: this.config.CHUTE_SCHEDULER_CHECKPOINT_MAX_AGE_MS,
        logger: this.logger,
        written: this.checkpointsWritten,
      });
      this.planner = new Planner({
        book: this.book,
        topics,
        ownership: {
          ...fence,
          mayAct: () => this.caughtUp && this.lifecycle.state === 'running',
          appender: (partition) => this.appenders.get(partition),
          reclaim: (partition, cause) => this.reclaim(partition, cause),
        },
        heartbeatTimeoutMs: this.config.CHUTE_HEARTBEAT_TIMEOUT_MS,
        logger: this.logger,
        appended: this.dispatched,
      });
      // Workers first: a scheduler that owns partitions must know who can take their runs.
      const workerEnds = await this.log.endOffsets(topics.workerEvents.name);
      const pendingWorkers = new Map(workerEnds.filter((p) => p.offset > 0).map((p) => [p.partition, p.offset]));
      if (pendingWorkers.size === 0) this.workersCaughtUpAt = Date.now();
      this.subscriptions.push(
        await topics.workerEvents.read(
          workerEnds.map(({ partition }) => ({ partition, offset: 0 })),
          (decoded, next) => {
            for (const { value } of decoded) this.book.fold(value);
            // Caught up by where reading goes on, past records that did not decode
            // (a foreign producer's, at the end of a partition): they must not keep it waiting.
            const target = pendingWorkers.get(next.partition);
            if (target !== undefined && next.offset >= target) pendingWorkers.delete(next.partition);
            if (this.workersCaughtUpAt === undefined && pendingWorkers.size === 0) this.workersCaughtUpAt = Date.now();
            this.planner?.request();
          },
          { everyBatch: true },
        ),
      );
      const runEvents = (this.runEventsSubscription = await topics.runEvents.consume({
        group: this.group,
        commit: false,
        onRevoked: () => this.revoke(),
        onAssigned: (assigned) => this.assign(assigned.flatMap((a) => [...a.partitions])),
        everyBatch: true,
        handler: (decoded, next) => this.apply(decoded, next),
      }));
      this.subscriptions.push(runEvents);
      this.timer = setInterval(() => this.planner?.request(), this.config.CHUTE_SCHEDULER_TICK_MS);
      this.checkpointTimer = setInterval(() => this.checkpointer?.request(false), CHECKPOINT_CHECK_MS);
    });
  }

  /** Ready once it has caught up with what it owns and every consumer is consuming. */
  async checkReady(): Promise<void> {
    if (this.lifecycle.state !== 'running') throw new Error(`scheduler is ${this.lifecycle.state}`);
    if (this.workersCaughtUpAt === undefined) throw new Error('scheduler is still reading the worker events');
    if (!this.owned) throw new Error('scheduler is waiting for its partitions (a rebalance is on)');
    const behind = [...this.owned].filter(([, target]) => target > 0).map(([p]) => p);
    if (behind.length > 0) throw new Error(`scheduler is still reading partitions ${behind.join(', ')} up to where they ended at assignment`);
    if (this.reclaiming.size > 0) throw new Error(`scheduler lost its claim on partitions ${[...this.reclaiming].join(', ')} and is claiming them again`);
    checkConsuming(this.log);
  }

  stop(): Promise<void> {
    // Stop deciding first, then stop reading (leaving the group hands the
    // partitions to the other schedulers at once), then let the log flush what was appended.
    return this.lifecycle.stop(async () => {
      clearInterval(this.timer);
      clearInterval(this.checkpointTimer);
      await this.planner?.settled();
      // A clean stop leaves a checkpoint of everything read, so the next owner starts from here.
      await this.checkpointer?.idle;
      this.checkpointer?.request(true);
      await this.checkpointer?.idle;
      this.owned = undefined;
      await Promise.all(this.subscriptions.map((s) => s.stop()));
      // Stops the appenders too.
      await this.log.stop();
    });
  }

  private get group(): string {
    return `${this.config.CHUTE_TOPIC_PREFIX}.scheduler`;
  }

  /** A rebalance began: nothing is owned until the next assignment. */
  private revoke(): void {
    this.owned = undefined;
    this.ownedGauge.set(0);
  }

  /**
   * This scheduler now owns these partitions: claim each (fencing whoever
   * wrote to it before), forget every run (what it owned before may have
   * moved and changed meanwhile), start each partition from its checkpoint (or
   * its first record when it has none), and act once each is read up to its
   * end as of the claim.
   */
  private async assign(partitions: readonly number[]): Promise<readonly TopicPartitionOffset[]> {
    const topic = this.topics!.runEvents.name;
    // Nothing is decided until the state is rebuilt below. kafkajs rejoins a
    // member the group dropped (one frozen past its session) without a
    // rebalance event, so this may be the first word that ownership moved:
    // a tick on the old state after the claims below would append with a
    // fresh claim what the state no longer justifies.
    this.revoke();
    // A tick that began before the rebalance finishes its appends before ownership moves on.
    await this.planner!.settled();
    await this.checkpointer!.idle;
    this.reclaiming.clear();
    this.planner!.forgetSetbacks();
    for (const [partition, appender] of this.appenders) {
      if (partitions.includes(partition)) continue;
      this.appenders.delete(partition);
      void appender.stop();
    }
    // Claimed before the ends are read: the claim settles what a previous owner
    // left half appended, so the ends below hold every decision taken before.
    await Promise.all(partitions.map((partition) => this.appenderOf(partition).claim()));
    const ends = new Map((await this.log.endOffsets(topic)).map((p) => [p.partition, p.offset]));
    const checkpoints = await this.checkpointer!.load(partitions);
    this.book.forgetRuns();
    const owned = new Map<number, number>();
    const from: Record<number, number> = {};
    for (const partition of partitions) {
      const start = this.book.startPartition(partition, checkpoints.get(partition));
      const end = ends.get(partition) ?? 0;
      owned.set(partition, start >= end ? 0 : end);
      from[partition] = start;
    }
    this.owned = owned;
    this.ownedGauge.set(partitions.length);
    this.logger.info('partitions assigned', { partitions, from, checkpointRuns: this.book.state.runs.size });
    if ([...owned.values()].every((t) => t === 0)) this.caughtUpWithOwned();
    return partitions.map((partition) => ({ topic, partition, offset: from[partition]! }));
  }

  private appenderOf(partition: number): ExclusiveAppender {
    let appender = this.appenders.get(partition);
    if (!appender) this.appenders.set(partition, (appender = this.log.exclusiveAppender(`${this.group}.${partition}`)));
    return appender;
  }

  /**
   * Folds a batch of one partition. `next` is where reading the partition goes
   * on: past every record read, decoded or not, and past commit markers, so a
   * record that did not decode (skipped, and counted, by the topic) neither
   * holds back catching up nor is read again after a checkpoint.
   */
  private apply(decoded: readonly Decoded<RunEvent>[], next: PartitionOffset): void {
    const owned = this.owned;
    // A batch fetched before a rebalance may still arrive: only what is owned counts.
    if (!owned?.has(next.partition)) return;
    for (const { value, record } of decoded) this.book.read(value, record.partition);
    const progress = this.book.progress.get(next.partition)!;
    // Never go back: a batch fetched before a claim may still arrive after the position moved on.
    progress.position = Math.max(progress.position, next.offset);
    const target = owned.get(next.partition)!;
    if (target > 0 && next.offset >= target) {
      owned.set(next.partition, 0);
      if ([...owned.values()].every((t) => t === 0)) this.caughtUpWithOwned();
    }
    this.planner?.request();
  }

  private caughtUpWithOwned(): void {
    this.logger.info('caught up', { partitions: [...this.owned!.keys()], runs: this.book.state.runs.size });
  }

  /**
   * An append for the partition failed, so this scheduler holds no claim on it:
   * another claimed it (fenced), or the outcome is unknown. Check it is still
   * in the group's current generation by committing the partition's checkpoint
   * again (the group refuses a member of an older generation, which then keeps
   * being refused until its rebalance ends this), claim it again, and read up
   * to its new end before acting on it: what landed is then folded, whoever
   * appended it.
   */
  private reclaim(partition: number, cause: unknown): void {
    if (this.reclaiming.has(partition)) return;
    this.reclaiming.add(partition);
    const owned = this.owned;
    const why = cause instanceof FencedError ? 'fenced' : 'failed';
    this.logger.warn(why === 'fenced' ? 'another scheduler claimed a partition of ours; claiming it back if we still own it' : 'an append failed; claiming the partition again', {
      partition,
      err: cause,
    });
    const stillOwned = (): boolean => this.owned === owned && owned !== undefined && owned.has(partition) && this.lifecycle.state === 'running';
    void (async () => {
      for (let attempt = 0; stillOwned(); attempt++) {
        try {
          await this.checkpointer!.idle;
          const progress = this.book.progress.get(partition)!;
          const pointer = progress.checkpointPointer;
          await this.runEventsSubscription!.commit([
            { topic: this.topics!.runEvents.name, partition, offset: progress.checkpointedOffset, ...(pointer !== undefined ? { metadata: pointer } : {}) },
          ]);
          if (!stillOwned()) break;
          await this.appenders.get(partition)!.claim();
          const end = (await this.log.endOffsets(this.topics!.runEvents.name)).find((p) => p.partition === partition)?.offset ?? 0;
          if (!stillOwned()) break;
          if (end > progress.position) owned!.set(partition, end);
          this.reclaiming.delete(partition);
          this.reclaims.inc({ why, outcome: 'claimed' });
          this.logger.info('partition claimed again', { partition, readingUpTo: end });
          this.planner?.request();
          return;
        } catch (error) {
          if (!stillOwned()) break;
          this.logger.info('could not claim the partition again yet', { partition, attempt, err: error });
          await sleep(reclaimDelayMs(attempt));
        }
      }
      this.reclaims.inc({ why, outcome: 'lost' });
      this.logger.info('gave up claiming a partition back: it is no longer ours', { partition });
    })();
  }

  /** Acting needs the workers read and every owned partition caught up. */
  private get caughtUp(): boolean {
    return this.workersCaughtUpAt !== undefined && this.owned !== undefined && [...this.owned.values()].every((t) => t === 0);
  }
}
