import { emptySchedulerState, foldIntoScheduler, type RunState } from '@chute/domain';
import type { RunEvent, WorkerEvent } from '@chute/schemas';
import type { WrittenCheckpoint } from './checkpoints';

/** How many ended run ids are remembered, so a duplicated request cannot revive a run. */
const ENDED_MEMORY = 100_000;

/** How many ended run ids of a partition its checkpoint carries. */
const ENDED_IN_CHECKPOINT = 1000;

/** Where a partition is read up to, and where and when it was last checkpointed. */
export interface PartitionProgress {
  /** The next offset to read. */
  position: number;
  checkpointedAt: number;
  checkpointedOffset: number;
  /** The group commit's metadata for the last checkpoint: committed again to prove ownership. */
  checkpointPointer: string | undefined;
  /** Runs of the partition that ended lately, oldest first. */
  readonly ended: string[];
}

/**
 * What a scheduler knows of the runs of the partitions it owns, and of the
 * workers: the fold of what it read (from each partition's checkpoint on) and
 * of what it appended, with the partition of each live run and how far each
 * partition is read and checkpointed.
 */
export class RunBook {
  readonly state = emptySchedulerState();
  private readonly ended = new Set<string>();
  /** The partition each live run is in: a checkpoint holds one partition's runs. */
  private readonly runPartition = new Map<string, number>();
  readonly progress = new Map<number, PartitionProgress>();

  /** Forgets every run: what it owned before may have moved and changed meanwhile. Workers stay. */
  forgetRuns(): void {
    this.state.runs.clear();
    this.ended.clear();
    this.runPartition.clear();
    this.progress.clear();
  }

  /** Starts a partition from its checkpoint, or from its first record when it has none; returns where reading starts. */
  startPartition(partition: number, checkpoint: WrittenCheckpoint | undefined): number {
    const start = checkpoint?.offset ?? 0;
    for (const run of checkpoint?.runs ?? []) {
      this.state.runs.set(run.runId, run);
      this.runPartition.set(run.runId, partition);
    }
    for (const runId of checkpoint?.ended ?? []) this.ended.add(runId);
    this.progress.set(partition, {
      position: start,
      checkpointedAt: Date.now(),
      checkpointedOffset: start,
      checkpointPointer: checkpoint?.pointer,
      ended: [...(checkpoint?.ended ?? [])],
    });
    return start;
  }

  /** The partition of a live run. */
  partitionOf(runId: string): number | undefined {
    return this.runPartition.get(runId);
  }

  /** The live runs of a partition: what its checkpoint holds. */
  runsOf(partition: number): RunState[] {
    return [...this.state.runs.values()].filter((run) => this.runPartition.get(run.runId) === partition);
  }

  /** A run event read from `partition`. A request for a run that ended is a duplicate: it cannot revive the run. */
  read(event: RunEvent, partition: number): void {
    if (event.type === 'RunRequested') {
      if (this.ended.has(event.runId)) return;
      if (!this.state.runs.has(event.runId)) this.runPartition.set(event.runId, partition);
    }
    this.fold(event);
  }

  /** Folds one event; a run it ends is remembered, so a duplicated request cannot revive it. */
  fold(event: RunEvent | WorkerEvent): void {
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
}
