import type { GroupSubscription } from '@chute/log';
import type { Counter, Logger } from '@chute/runtime';
import type { Checkpoints, WrittenCheckpoint } from './checkpoints';
import type { RunBook } from './run-book';

/** What the checkpointer needs to know of the partitions' ownership. */
export interface CheckpointOwnership {
  /** The owned partitions' map; a new identity means ownership moved. */
  owned(): Map<number, number> | undefined;
  /** Whether the scheduler lost its claim on the partition and is claiming it again. */
  isReclaiming(partition: number): boolean;
  /** Whether the workers and every owned partition are read up to date. */
  caughtUp(): boolean;
  /** The run-events group subscription, whose commits carry the checkpoints. */
  subscription(): GroupSubscription | undefined;
}

export interface CheckpointerOptions {
  readonly book: RunBook;
  readonly store: Checkpoints;
  readonly ownership: CheckpointOwnership;
  /** A partition is due after this many records since its last checkpoint... */
  readonly everyRecords: number;
  /** ...or after this long, with records since. */
  readonly maxAgeMs: number;
  readonly logger: Logger;
  readonly written: Counter;
}

/**
 * Decides when the owned partitions are checkpointed, and writes them (to
 * {@link Checkpoints}) one pass at a time: a partition is due after enough records since its last
 * checkpoint, or records since and old enough.
 */
export class Checkpointer {
  private running: Promise<void> | undefined;

  constructor(private readonly options: CheckpointerOptions) {}

  /** The latest usable checkpoint of each partition: where a new owner starts. */
  load(partitions: readonly number[]): Promise<Map<number, WrittenCheckpoint>> {
    return this.options.store.load(partitions);
  }

  /** Resolves once the pass in flight, if any, is over. */
  get idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /**
   * Checkpoints every owned partition that is read up to date and due; with
   * `all`, every one that moved at all (a clean stop). One pass at a time.
   */
  request(all: boolean): void {
    const { book, ownership } = this.options;
    const subscription = ownership.subscription();
    if (this.running || !ownership.caughtUp() || !subscription) return;
    const owned = ownership.owned();
    const now = Date.now();
    const due = [...book.progress].filter(([partition, p]) => {
      if (ownership.isReclaiming(partition)) return false;
      const read = p.position - p.checkpointedOffset;
      if (read <= 0) return false;
      return all || read >= this.options.everyRecords || now - p.checkpointedAt >= this.options.maxAgeMs;
    });
    if (due.length === 0) return;
    // Taken in one synchronous step, between batches: each is exactly the fold up to its position
    // (plus this scheduler's own appends not read back yet, which folding again ignores).
    // A partition being claimed again is left out: its next claim must prove ownership with the checkpoint it has.
    const checkpoints = due.map(([partition, p]) => ({ partition, offset: p.position, runs: book.runsOf(partition), ended: [...p.ended] }));
    this.running = (async () => {
      for (const checkpoint of checkpoints) {
        if (ownership.owned() !== owned) return;
        let pointer: string | undefined;
        try {
          pointer = await this.options.store.write(checkpoint, subscription);
          if (pointer === undefined) return;
        } catch (error) {
          this.options.logger.warn('checkpoint failed; trying again later', { partition: checkpoint.partition, err: error });
          return;
        }
        const progress = book.progress.get(checkpoint.partition);
        if (ownership.owned() !== owned || !progress) return;
        progress.checkpointedAt = Date.now();
        progress.checkpointedOffset = checkpoint.offset;
        progress.checkpointPointer = pointer;
        this.options.written.inc();
        this.options.logger.info('checkpoint written', { partition: checkpoint.partition, offset: checkpoint.offset, runs: checkpoint.runs.length });
      }
    })().finally(() => (this.running = undefined));
  }
}
