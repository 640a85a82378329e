import { emptySchedulerState, foldIntoScheduler, planScheduling, routeToWorkers, unconfirmedDispatches } from '@chute/domain';
import {
  checkConsuming,
  kafkaLogFromConfig,
  startPlatformLog,
  type Decoded,
  type GroupSubscription,
  type Log,
  type LogRecord,
  type PlatformTopics,
  type Subscription,
  type TopicPartitionOffset,
} from '@chute/log';
import { Lifecycle, Metrics, type Logger, type Probed } from '@chute/runtime';
import type { DispatchRecord, RunEvent, WorkerEvent } from '@chute/schemas';
import { Checkpoints } from './checkpoints';
import type { SchedulerConfig } from './config';

/** How many ended run ids are remembered, so a duplicated request cannot revive a run. */
const ENDED_MEMORY = 100_000;

/** How many ended run ids of a partition its checkpoint carries. */
const ENDED_IN_CHECKPOINT = 1000;

/** How often partitions are looked at for a checkpoint. */
const CHECKPOINT_CHECK_MS = 1000;

/** Where a partition is read up to, and where and when it was last checkpointed. */
interface PartitionProgress {
  /** The next offset to read. */
  position: number;
  checkpointedAt: number;
  checkpointedOffset: number;
  /** Runs of the partition that ended lately, oldest first. */
  readonly ended: string[];
}

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
 * partition. It is told to stop an attempt before the run's end is on the log,
 * and to start one only after the dispatch is, so the run's record and the
 * worker never disagree about an attempt that ran. A scheduler that dies
 * between the two leaves a dispatch its worker may never have been told of:
 * the next owner sends every dispatch not started yet again, and workers
 * ignore one they already have.
 */
export class Scheduler implements Probed {
  private readonly lifecycle = new Lifecycle();
  readonly metrics = new Metrics();
  private readonly log: Log;
  private topics: PlatformTopics | undefined;
  private readonly state = emptySchedulerState();
  private readonly ended = new Set<string>();
  /** The partition each live run is in: a checkpoint holds one partition's runs. */
  private readonly runPartition = new Map<string, number>();
  private readonly progress = new Map<number, PartitionProgress>();
  private checkpoints: Checkpoints | undefined;
  private runEventsSubscription: GroupSubscription | undefined;
  private checkpointTimer: NodeJS.Timeout | undefined;
  private checkpointing: Promise<void> | undefined;
  private subscriptions: Subscription[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Run-events partitions owned now, each with the offset it must be read up to before acting; undefined while a rebalance is on. */
  private owned: Map<number, number> | undefined;
  private workersCaughtUpAt: number | undefined;
  private ticking: Promise<void> | undefined;
  private tickAgain = false;
  /** Dispatch records appended to the run events but not yet to the dispatch topic; sent first on the next tick. */
  private unsent: DispatchRecord[] = [];
  private readonly dispatched;
  private readonly ownedGauge;
  private readonly checkpointsWritten;

  /** `deps.log` runs it on a given log client (the one-process quick start); by default, Kafka from `config`. */
  constructor(
    private readonly config: SchedulerConfig,
    private readonly logger: Logger,
    deps: { log?: Log } = {},
  ) {
    this.log = deps.log ?? kafkaLogFromConfig(config, 'chute-scheduler', logger);
    this.dispatched = this.metrics.counter('chute_scheduler_events_total', 'Events the scheduler appended, by type.');
    this.ownedGauge = this.metrics.gauge('chute_scheduler_owned_partitions', 'Run-events partitions this scheduler owns.');
    this.checkpointsWritten = this.metrics.counter('chute_scheduler_checkpoints_total', 'Checkpoints of run-events partitions written.');
  }

  start(): Promise<void> {
    return this.lifecycle.start(async () => {
      const topics = (this.topics = await startPlatformLog(this.log, this.config, { logger: this.logger, metrics: this.metrics }));
      this.checkpoints = new Checkpoints(this.log, topics, this.group, this.logger);
      // Workers first: a scheduler that owns partitions must know who can take their runs.
      const workerEnds = await this.log.endOffsets(topics.workerEvents.name);
      const pendingWorkers = new Map(workerEnds.filter((p) => p.offset > 0).map((p) => [p.partition, p.offset]));
      if (pendingWorkers.size === 0) this.workersCaughtUpAt = Date.now();
      this.subscriptions.push(
        await topics.workerEvents.read(
          workerEnds.map(({ partition }) => ({ partition, offset: 0 })),
          (decoded, batch) => {
            for (const { value } of decoded) this.fold(value);
            // Caught up by the last record read, decoded or not: one that did not decode
            // (a foreign producer's, at the end of a partition) must not keep it waiting.
            const last = batch.at(-1);
            const target = last && pendingWorkers.get(last.partition);
            if (last && target !== undefined && last.offset + 1 >= target) pendingWorkers.delete(last.partition);
            if (this.workersCaughtUpAt === undefined && pendingWorkers.size === 0) this.workersCaughtUpAt = Date.now();
            this.requestTick();
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
        handler: (decoded, batch) => this.apply(decoded, batch),
      }));
      this.subscriptions.push(runEvents);
      this.timer = setInterval(() => this.requestTick(), this.config.CHUTE_SCHEDULER_TICK_MS);
      this.checkpointTimer = setInterval(() => this.requestCheckpoints(false), CHECKPOINT_CHECK_MS);
    });
  }

  /** Ready once it has caught up with what it owns and every consumer is consuming. */
  async checkReady(): Promise<void> {
    if (this.lifecycle.state !== 'running') throw new Error(`scheduler is ${this.lifecycle.state}`);
    if (this.workersCaughtUpAt === undefined) throw new Error('scheduler is still reading the worker events');
    if (!this.owned) throw new Error('scheduler is waiting for its partitions (a rebalance is on)');
    const behind = [...this.owned].filter(([, target]) => target > 0).map(([p]) => p);
    if (behind.length > 0) throw new Error(`scheduler is still reading partitions ${behind.join(', ')} up to where they ended at assignment`);
    checkConsuming(this.log);
  }

  stop(): Promise<void> {
    // Stop deciding first, then stop reading (leaving the group hands the
    // partitions to the other schedulers at once), then let the log flush what was appended.
    return this.lifecycle.stop(async () => {
      clearInterval(this.timer);
      clearInterval(this.checkpointTimer);
      await this.ticking;
      // A clean stop leaves a checkpoint of everything read, so the next owner starts from here.
      await this.checkpointing;
      this.requestCheckpoints(true);
      await this.checkpointing;
      this.owned = undefined;
      await Promise.all(this.subscriptions.map((s) => s.stop()));
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
   * This scheduler now owns these partitions: forget every run (what it owned
   * before may have moved and changed meanwhile), start each partition from
   * its checkpoint (or its first record when it has none), and act once each
   * is read up to its end as of now.
   */
  private async assign(partitions: readonly number[]): Promise<readonly TopicPartitionOffset[]> {
    const topic = this.topics!.runEvents.name;
    // A tick that began before the rebalance finishes its appends before ownership moves on.
    await this.ticking;
    await this.checkpointing;
    const ends = new Map((await this.log.endOffsets(topic)).map((p) => [p.partition, p.offset]));
    const checkpoints = await this.checkpoints!.load(partitions);
    this.state.runs.clear();
    this.ended.clear();
    this.runPartition.clear();
    this.progress.clear();
    const owned = new Map<number, number>();
    const from: Record<number, number> = {};
    for (const partition of partitions) {
      const checkpoint = checkpoints.get(partition);
      const start = checkpoint?.offset ?? 0;
      for (const run of checkpoint?.runs ?? []) {
        this.state.runs.set(run.runId, run);
        this.runPartition.set(run.runId, partition);
      }
      for (const runId of checkpoint?.ended ?? []) this.ended.add(runId);
      this.progress.set(partition, { position: start, checkpointedAt: Date.now(), checkpointedOffset: start, ended: [...(checkpoint?.ended ?? [])] });
      const end = ends.get(partition) ?? 0;
      owned.set(partition, start >= end ? 0 : end);
      from[partition] = start;
    }
    this.owned = owned;
    this.ownedGauge.set(partitions.length);
    this.logger.info('partitions assigned', { partitions, from, checkpointRuns: this.state.runs.size });
    if ([...owned.values()].every((t) => t === 0)) this.caughtUpWithOwned();
    return partitions.map((partition) => ({ topic, partition, offset: from[partition]! }));
  }

  /**
   * Folds a batch of one partition. `batch` is every record read, `decoded`
   * those that decoded: how far the partition is read counts them all, so a
   * record that did not decode (skipped, and counted, by the topic) neither
   * holds back catching up nor is read again after a checkpoint.
   */
  private apply(decoded: readonly Decoded<RunEvent>[], batch: readonly LogRecord[]): void {
    const owned = this.owned;
    const last = batch.at(-1);
    // A batch fetched before a rebalance may still arrive: only what is owned counts.
    if (!last || !owned?.has(last.partition)) return;
    for (const { value, record } of decoded) {
      if (!(value.type === 'RunRequested' && this.ended.has(value.runId))) {
        if (value.type === 'RunRequested' && !this.state.runs.has(value.runId)) this.runPartition.set(value.runId, record.partition);
        this.fold(value);
      }
    }
    const progress = this.progress.get(last.partition)!;
    // A checkpoint may be ahead of what is read (it holds the scheduler's own appends): never go back.
    progress.position = Math.max(progress.position, last.offset + 1);
    const target = owned.get(last.partition)!;
    if (target > 0 && last.offset + 1 >= target) {
      owned.set(last.partition, 0);
      if ([...owned.values()].every((t) => t === 0)) this.caughtUpWithOwned();
    }
    this.requestTick();
  }

  /** The predecessor may have died between a dispatch and telling its worker: tell them all again. */
  private caughtUpWithOwned(): void {
    const resend = unconfirmedDispatches(this.state, Date.now());
    this.unsent.push(...resend);
    this.logger.info('caught up', { partitions: [...this.owned!.keys()], runs: this.state.runs.size, dispatchesResent: resend.length });
  }

  /** Folds one event; a run it ends is remembered, so a duplicated request cannot revive it. */
  private fold(event: RunEvent | WorkerEvent): void {
    if (!foldIntoScheduler(this.state, event).runEnded || !('runId' in event)) return;
    this.ended.add(event.runId);
    if (this.ended.size > ENDED_MEMORY) this.ended.delete(this.ended.values().next().value!);
    const partition = this.runPartition.get(event.runId);
    this.runPartition.delete(event.runId);
    const ended = partition === undefined ? undefined : this.progress.get(partition)?.ended;
    if (!ended) return;
    ended.push(event.runId);
    if (ended.length > ENDED_IN_CHECKPOINT) ended.shift();
  }

  /**
   * Checkpoints every owned partition that is read up to date and due: enough
   * records since its last checkpoint, or records since and old enough; with
   * `all`, every one that moved at all (a clean stop). One pass at a time.
   */
  private requestCheckpoints(all: boolean): void {
    if (this.checkpointing || !this.caughtUp || !this.runEventsSubscription) return;
    const owned = this.owned;
    const now = Date.now();
    const due = [...this.progress].filter(([, p]) => {
      const read = p.position - p.checkpointedOffset;
      if (read <= 0) return false;
      return all || read >= this.config.CHUTE_SCHEDULER_CHECKPOINT_RECORDS || now - p.checkpointedAt >= this.config.CHUTE_SCHEDULER_CHECKPOINT_MAX_AGE_MS;
    });
    if (due.length === 0) return;
    // Taken in one synchronous step, between batches: each is exactly the fold up to its position
    // (plus this scheduler's own appends not read back yet, which folding again ignores).
    const checkpoints = due.map(([partition, p]) => ({
      partition,
      offset: p.position,
      runs: [...this.state.runs.values()].filter((run) => this.runPartition.get(run.runId) === partition),
      ended: [...p.ended],
    }));
    const subscription = this.runEventsSubscription;
    this.checkpointing = (async () => {
      for (const checkpoint of checkpoints) {
        if (this.owned !== owned) return;
        try {
          if (!(await this.checkpoints!.write(checkpoint, subscription))) return;
        } catch (error) {
          this.logger.warn('checkpoint failed; trying again later', { partition: checkpoint.partition, err: error });
          return;
        }
        const progress = this.progress.get(checkpoint.partition);
        if (this.owned !== owned || !progress) return;
        progress.checkpointedAt = Date.now();
        progress.checkpointedOffset = checkpoint.offset;
        this.checkpointsWritten.inc();
        this.logger.info('checkpoint written', { partition: checkpoint.partition, offset: checkpoint.offset, runs: checkpoint.runs.length });
      }
    })().finally(() => (this.checkpointing = undefined));
  }

  /** Acting needs the workers read and every owned partition caught up. */
  private get caughtUp(): boolean {
    return this.workersCaughtUpAt !== undefined && this.owned !== undefined && [...this.owned.values()].every((t) => t === 0);
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
    const owned = this.owned;
    if (!(await this.sendUnsent())) return;
    const events = planScheduling(this.state, Date.now(), { heartbeatTimeoutMs: this.config.CHUTE_HEARTBEAT_TIMEOUT_MS });
    if (events.length === 0) return;
    const { assignments, revocations } = routeToWorkers(this.state, events);
    try {
      // Stopping an attempt before the run's end is recorded: a scheduler that
      // dies in between leaves the end undecided, and the next owner decides it again.
      if (revocations.length > 0) await this.topics!.dispatch.append(revocations);
      await this.topics!.runEvents.append(events);
    } catch (error) {
      // Nothing was applied: the next tick plans the same events again.
      this.logger.error('append failed', { err: error });
      return;
    }
    // Ownership moved while appending: the new owner reads these back from the log
    // and sends the dispatches again.
    if (this.owned !== owned) return;
    // Applied now rather than when read back, so the next plan does not repeat them;
    // reading them back later is a no-op because evolve ignores duplicates.
    for (const event of events) {
      this.dispatched.inc({ type: event.type });
      this.fold(event);
    }
    this.unsent.push(...assignments);
    await this.sendUnsent();
  }

  /** Tells workers of their dispatches; false while the dispatch topic refuses them (they are kept and sent again). */
  private async sendUnsent(): Promise<boolean> {
    if (this.unsent.length === 0) return true;
    const batch = this.unsent;
    this.unsent = [];
    try {
      await this.topics!.dispatch.append(batch);
      return true;
    } catch (error) {
      this.logger.error('could not tell workers of their dispatches; sending them again', { err: error, dispatches: batch.length });
      this.unsent = [...batch, ...this.unsent];
      return false;
    }
  }
}
