import { planScheduling, routeToWorkers, streamEndsOf } from '@chute/domain';
import { InvalidRecordError, RecordTooLargeError, UnknownTopicError, type ExclusiveAppender, type PlatformTopics } from '@chute/log';
import type { Counter, Logger } from '@chute/runtime';
import type { DispatchRecord, RunEvent, StreamEnd } from '@chute/schemas';
import type { RunBook } from './run-book';

/** Back-off before a partition is planned for again after its n-th append in a row failed: 100 ms doubling to 10 s. */
const appendRetryDelayMs = (failures: number): number => Math.min(10_000, 100 * 2 ** (failures - 1));

/** A run's plan for one run-events partition: what its owner appends in one exclusive append. */
interface PartitionPlan {
  readonly events: RunEvent[];
  readonly dispatches: DispatchRecord[];
  /** The stream ends of the runs it cancels or times out. */
  readonly streamEnds: StreamEnd[];
}

/** What the planner needs of the partitions' ownership and fence. */
export interface PlanOwnership {
  /** The owned partitions' map; a new identity means ownership moved. */
  owned(): Map<number, number> | undefined;
  /** Whether the scheduler may act: running, and the workers and every owned partition read up to date. */
  mayAct(): boolean;
  isReclaiming(partition: number): boolean;
  /** The partition's exclusive appender, claimed at assignment. */
  appender(partition: number): ExclusiveAppender | undefined;
  /** An append for the partition failed: its claim is lost, and claimed again if the partition is still ours. */
  reclaim(partition: number, cause: unknown): void;
}

export interface PlannerOptions {
  readonly book: RunBook;
  readonly topics: PlatformTopics;
  readonly ownership: PlanOwnership;
  readonly heartbeatTimeoutMs: number;
  readonly logger: Logger;
  /** Counts the events appended, by type. */
  readonly appended: Counter;
}

/**
 * Turns the run book into decisions, tick by tick: what a tick decides for a
 * partition (its run events, the dispatches and revocations that tell
 * workers of them, and the stream ends of the runs it ends) is one exclusive append under the partition's claim, so
 * workers and readers see a decision whole or not at all. A partition's
 * decision is folded once it landed, and the partition is planned for again
 * only then.
 */
export class Planner {
  private ticking: Promise<void> | undefined;
  private tickAgain = false;
  /** Each partition's append in flight, with the worker slots its dispatches take: planned for again only once it settled. */
  private readonly commits = new Map<number, { readonly done: Promise<void>; readonly slots: ReadonlyMap<string, number> }>();
  /** Partitions whose appends failed lately: not planned for until `until`. */
  private readonly setbacks = new Map<number, { failures: number; until: number }>();

  constructor(private readonly options: PlannerOptions) {}

  /** Resolves once the tick in flight and every append it started have settled. */
  async settled(): Promise<void> {
    await this.ticking;
    await Promise.all([...this.commits.values()].map((c) => c.done));
  }

  /** Ownership moved: the back-offs of the partitions owned before mean nothing now. */
  forgetSetbacks(): void {
    this.setbacks.clear();
  }

  /** Ticks never overlap: a request during a tick runs one more right after it. */
  request(): void {
    if (!this.options.ownership.mayAct()) return;
    if (this.ticking) {
      this.tickAgain = true;
      return;
    }
    this.ticking = this.tick().finally(() => {
      this.ticking = undefined;
      if (this.tickAgain) {
        this.tickAgain = false;
        this.request();
      }
    });
  }

  private async tick(): Promise<void> {
    const { book, ownership } = this.options;
    const owned = ownership.owned();
    const now = Date.now();
    const reserved = new Map<string, number>();
    for (const { slots } of this.commits.values()) for (const [workerId, n] of slots) reserved.set(workerId, (reserved.get(workerId) ?? 0) + n);
    const events = planScheduling(
      book.state,
      now,
      { heartbeatTimeoutMs: this.options.heartbeatTimeoutMs },
      // A partition whose last plan is being appended is planned for again once that landed and is folded;
      // its dispatches hold their workers' slots meanwhile.
      { deferred: (run) => !this.mayPlan(book.partitionOf(run.runId), now), reserved },
    );
    if (events.length === 0) return;
    const { assignments, revocations } = routeToWorkers(book.state, events);
    const plans = new Map<number, PartitionPlan>();
    const planOf = (runId: string): PartitionPlan => {
      const partition = book.partitionOf(runId)!;
      let plan = plans.get(partition);
      if (!plan) plans.set(partition, (plan = { events: [], dispatches: [], streamEnds: [] }));
      return plan;
    };
    for (const event of events) planOf(event.runId).events.push(event);
    // Stopping an attempt goes before starting another on the same worker.
    for (const record of [...revocations, ...assignments]) planOf(record.runId).dispatches.push(record);
    for (const end of streamEndsOf(events)) planOf(end.runId).streamEnds.push(end);
    // Each partition's append goes on without waiting for the others': a run
    // waits for its own partition's transaction, not for the slowest of the tick.
    for (const [partition, plan] of plans) {
      const slots = new Map<string, number>();
      for (const event of plan.events) if (event.type === 'RunDispatched') slots.set(event.workerId, (slots.get(event.workerId) ?? 0) + 1);
      const done = this.commitPlan(partition, plan, owned).finally(() => {
        this.commits.delete(partition);
        this.request();
      });
      this.commits.set(partition, { done, slots });
    }
  }

  /** Whether runs of this partition may be planned for now: it is ours, claimed, no append of it in flight, not backing off. */
  private mayPlan(partition: number | undefined, now: number): boolean {
    if (partition === undefined || this.options.ownership.isReclaiming(partition) || this.commits.has(partition)) return false;
    return (this.setbacks.get(partition)?.until ?? 0) <= now;
  }

  /** Appends a partition's plan in one exclusive append, and folds it once it landed. */
  private async commitPlan(partition: number, plan: PartitionPlan, owned: Map<number, number> | undefined): Promise<void> {
    const { ownership, topics } = this.options;
    const appender = ownership.appender(partition);
    if (!appender || plan.events.length === 0) return;
    try {
      const batches = [topics.dispatch.encode(plan.dispatches), topics.runEvents.encode(plan.events)];
      // Only a plan that ends runs writes to the stream topic (a partition more in its transaction).
      if (plan.streamEnds.length > 0) batches.push(topics.stream.encode(plan.streamEnds));
      await appender.append(batches);
    } catch (error) {
      // Nothing folded, and the partition waits a back-off that grows while appends keep failing.
      const failures = (this.setbacks.get(partition)?.failures ?? 0) + 1;
      this.setbacks.set(partition, { failures, until: Date.now() + appendRetryDelayMs(failures) });
      if (isRefusedBeforeSending(error)) {
        // Refused here, before anything was sent: the claim holds, and planning again cannot help until what refused it changes.
        this.options.logger.error('a plan was refused before it was sent; planning the partition again after a back-off', { partition, failures, err: error });
        return;
      }
      // Once claimed again, the partition is read up to its end, and the next plan starts from what landed.
      ownership.reclaim(partition, error);
      return;
    }
    this.setbacks.delete(partition);
    // Ownership moved while appending: the new owner reads these back from the log.
    if (ownership.owned() !== owned) return;
    // Applied now rather than when read back, so the next plan does not repeat them;
    // reading them back later is a no-op because evolve ignores duplicates.
    for (const event of plan.events) {
      this.options.appended.inc({ type: event.type });
      this.options.book.fold(event);
    }
  }
}

/** Errors an append raises before sending anything: the records, or the topic, are refused where they are. */
function isRefusedBeforeSending(error: unknown): boolean {
  return error instanceof InvalidRecordError || error instanceof RecordTooLargeError || error instanceof UnknownTopicError;
}
