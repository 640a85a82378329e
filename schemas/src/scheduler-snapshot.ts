import { z } from 'zod';
import { EpochMs, RunId } from './common';
import { PersistedRunState } from './run-state';

/**
 * One page of a scheduler's checkpoint of a run-events partition: the runs of
 * that partition still live at `offset`, so a scheduler taking the partition
 * over starts from them and reads the partition from `offset` on, instead of
 * from its first record. A checkpoint is written as pages (a record holds at
 * most 2 MiB) and is whole only with every page of its `snapshotId`.
 */
export const SchedulerSnapshotPage = z.object({
  v: z.literal(1),
  type: z.literal('SchedulerSnapshotPage'),
  snapshotId: z.uuid(),
  /** The run-events partition. */
  partition: z.number().int().nonnegative(),
  /** The state is the fold of every record of the partition before this offset. */
  offset: z.number().int().nonnegative(),
  page: z.number().int().nonnegative(),
  pages: z.number().int().positive(),
  runs: z.array(PersistedRunState),
  /** Runs of the partition that ended lately: a duplicated request for one must not revive it. */
  ended: z.array(RunId),
  at: EpochMs,
});
export type SchedulerSnapshotPage = z.infer<typeof SchedulerSnapshotPage>;

export const SchedulerSnapshotRecord = z.discriminatedUnion('type', [SchedulerSnapshotPage]);
export type SchedulerSnapshotRecord = z.infer<typeof SchedulerSnapshotRecord>;

/**
 * Where a partition's latest checkpoint is: kept as the scheduler group's
 * commit metadata beside the offset it is as of, so the checkpoint and its
 * offset move together, and only the partition's owner can move them.
 * `from` and `to` bound the snapshot topic's offsets that hold its pages.
 */
export const SchedulerSnapshotPointer = z.object({
  v: z.literal(1),
  snapshotId: z.uuid(),
  snapshotPartition: z.number().int().nonnegative(),
  from: z.number().int().nonnegative(),
  to: z.number().int().nonnegative(),
});
export type SchedulerSnapshotPointer = z.infer<typeof SchedulerSnapshotPointer>;
