import { z } from 'zod';
import { DEFAULT_TENANT, EpochMs, TaskName, TenantId, WorkerId, WorkerName } from './common';

const envelope = {
  v: z.literal(1),
  workerId: WorkerId,
  at: EpochMs,
};

export const WorkerRegistered = z.object({
  ...envelope,
  type: z.literal('WorkerRegistered'),
  /** The one tenant whose tasks it runs. */
  tenant: TenantId.default(DEFAULT_TENANT),
  name: WorkerName,
  tasks: z.array(TaskName).min(1),
  slots: z.number().int().min(1).max(10_000),
});
export type WorkerRegistered = z.infer<typeof WorkerRegistered>;

/** Liveness: a worker silent for longer than the scheduler's bound is presumed dead. */
export const WorkerHeartbeat = z.object({
  ...envelope,
  type: z.literal('WorkerHeartbeat'),
  activeRuns: z.number().int().nonnegative(),
});
export type WorkerHeartbeat = z.infer<typeof WorkerHeartbeat>;

export const WorkerStopped = z.object({
  ...envelope,
  type: z.literal('WorkerStopped'),
});
export type WorkerStopped = z.infer<typeof WorkerStopped>;

/** The worker-events topic, keyed by worker id. */
export const WorkerEvent = z.discriminatedUnion('type', [WorkerRegistered, WorkerHeartbeat, WorkerStopped]);
export type WorkerEvent = z.infer<typeof WorkerEvent>;
