import { randomUUID } from 'node:crypto';
import type { RunState } from '@chute/domain';
import type { GroupSubscription, Log, PlatformTopics } from '@chute/log';
import type { Logger } from '@chute/runtime';
import { safeParseJson, SchedulerSnapshotPointer, type SchedulerSnapshotPage } from '@chute/schemas';

/** A page stays well under the log's 2 MiB record limit, even with one run's 1 MiB input on it. */
const PAGE_BYTES = 1024 * 1024;

/** A run-events partition's live runs as of an offset. */
export interface Checkpoint {
  readonly partition: number;
  /** The runs are the fold of every record of the partition before this offset. */
  readonly offset: number;
  readonly runs: readonly RunState[];
  /** Runs of the partition that ended lately. */
  readonly ended: readonly string[];
}

/** A checkpoint as written: its pointer is the metadata of the group's commit for its partition. */
export interface WrittenCheckpoint extends Checkpoint {
  readonly pointer: string;
}

/** Splits runs into pages of at most PAGE_BYTES of JSON (a run larger than that gets a page alone). */
function paginate(runs: readonly RunState[]): RunState[][] {
  const pages: RunState[][] = [[]];
  let bytes = 0;
  for (const run of runs) {
    const size = JSON.stringify(run).length;
    if (bytes + size > PAGE_BYTES && pages.at(-1)!.length > 0) {
      pages.push([]);
      bytes = 0;
    }
    pages.at(-1)!.push(run);
    bytes += size;
  }
  return pages;
}

/**
 * The scheduler group's checkpoints of run-events partitions. A checkpoint's
 * pages go to the snapshot topic; then the group's commit for the partition
 * moves to the checkpoint's offset, with a pointer to the pages as its
 * metadata. The broker takes that commit only from the partition's owner, so a
 * scheduler that lost the partition cannot move the checkpoint; and a
 * checkpoint whose pages are gone (retention) or incomplete is not used.
 */
export class Checkpoints {
  constructor(
    private readonly log: Log,
    private readonly topics: PlatformTopics,
    private readonly group: string,
    private readonly logger: Logger,
  ) {}

  /** The latest checkpoint of each partition that has a usable one. */
  async load(partitions: readonly number[]): Promise<Map<number, WrittenCheckpoint>> {
    const wanted = new Set(partitions);
    const pointers = new Map<number, { offset: number; pointer: SchedulerSnapshotPointer; metadata: string }>();
    for (const committed of await this.log.committedOffsets(this.group, this.topics.runEvents.name)) {
      if (!wanted.has(committed.partition) || committed.metadata === null) continue;
      const pointer = safeParseJson(SchedulerSnapshotPointer, committed.metadata);
      if (pointer.success) pointers.set(committed.partition, { offset: committed.offset, pointer: pointer.data, metadata: committed.metadata });
      else this.logger.warn('ignoring a checkpoint pointer that does not decode', { partition: committed.partition });
    }
    const loaded = new Map<number, WrittenCheckpoint>();
    if (pointers.size === 0) return loaded;
    // Pages of all of them in one read: they sit in one partition of the snapshot topic.
    const from = Math.min(...[...pointers.values()].map((p) => p.pointer.from));
    const to = Math.max(...[...pointers.values()].map((p) => p.pointer.to));
    let pages: SchedulerSnapshotPage[];
    try {
      pages = (await this.topics.schedulerSnapshots.readRanges([{ partition: 0, from, to }])).map((d) => d.value);
    } catch (error) {
      this.logger.warn('could not read the checkpoints; reading the partitions from their start', { err: error });
      return loaded;
    }
    for (const [partition, { offset, pointer, metadata }] of pointers) {
      const own = pages.filter((p) => p.snapshotId === pointer.snapshotId && p.partition === partition);
      const expected = own[0]?.pages;
      if (expected === undefined || own.length !== expected || own.some((p) => p.offset !== offset)) {
        this.logger.warn('a checkpoint is incomplete; reading its partition from the start', { partition, snapshotId: pointer.snapshotId });
        continue;
      }
      own.sort((a, b) => a.page - b.page);
      loaded.set(partition, {
        partition,
        offset,
        runs: own.flatMap((p) => p.runs.map(({ v: _v, ...run }) => run)),
        ended: own.flatMap((p) => p.ended),
        pointer: metadata,
      });
    }
    return loaded;
  }

  /** Writes a checkpoint; resolves to its pointer, or undefined when the commit was refused (the partition moved to another scheduler). */
  async write(checkpoint: Checkpoint, subscription: GroupSubscription): Promise<string | undefined> {
    const snapshotId = randomUUID();
    const runPages = paginate(checkpoint.runs);
    const at = Date.now();
    const pages: SchedulerSnapshotPage[] = runPages.map((runs, page) => ({
      v: 1,
      type: 'SchedulerSnapshotPage',
      snapshotId,
      partition: checkpoint.partition,
      offset: checkpoint.offset,
      page,
      pages: runPages.length,
      runs: runs.map((run) => ({ v: 1 as const, ...run })),
      ended: page === 0 ? [...checkpoint.ended] : [],
      at,
    }));
    const topic = this.topics.schedulerSnapshots.name;
    // One writer may interleave with another scheduler's: the bounds still hold every page of this one.
    const from = (await this.log.endOffsets(topic))[0]!.offset;
    await this.topics.schedulerSnapshots.append(pages);
    const to = (await this.log.endOffsets(topic))[0]!.offset;
    const pointer: SchedulerSnapshotPointer = { v: 1, snapshotId, snapshotPartition: 0, from, to };
    const metadata = JSON.stringify(pointer);
    try {
      await subscription.commit([{ topic: this.topics.runEvents.name, partition: checkpoint.partition, offset: checkpoint.offset, metadata }]);
      return metadata;
    } catch (error) {
      this.logger.info('checkpoint not committed (the partition is moving)', { partition: checkpoint.partition, err: error });
      return undefined;
    }
  }
}
