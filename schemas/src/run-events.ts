import { z } from 'zod';
import { Attempt, DEFAULT_TENANT, EpochMs, Json, RunId, TaskError, TaskName, TenantId, WorkerId } from './common';

/**
 * Every record on the run-events topic shares this envelope. `v` is the schema
 * version of the record: readers upcast older versions at the edge (see
 * `decodeRecord`) so the rest of the code sees only the newest shape.
 */
const envelope = {
  v: z.literal(1),
  runId: RunId,
  /** Whose run it is, on every record of it (records written before tenants existed read as the default tenant). */
  tenant: TenantId.default(DEFAULT_TENANT),
  at: EpochMs,
};

export const RunRequested = z.object({
  ...envelope,
  type: z.literal('RunRequested'),
  task: TaskName,
  input: Json,
  /** How many times a failed attempt is retried (0 = run once). */
  retries: z.number().int().min(0).max(100),
  /** Wall-clock budget of one attempt; the scheduler times the run out past it. */
  executionTimeoutMs: z.number().int().positive().max(7 * 24 * 3600 * 1000),
});
export type RunRequested = z.infer<typeof RunRequested>;

/**
 * The scheduler assigned an attempt of the run to a worker slot. It carries
 * everything the worker needs, so a worker never reads another topic to run it.
 */
export const RunDispatched = z.object({
  ...envelope,
  type: z.literal('RunDispatched'),
  task: TaskName,
  input: Json,
  attempt: Attempt,
  workerId: WorkerId,
  /** When the scheduler will time this attempt out unless it ends first. */
  deadlineAt: EpochMs,
  /** Retries still allowed if this attempt fails; the worker's retry decision reads it. */
  retriesLeft: z.number().int().min(0),
  /** How long after a failure of this attempt the retry is due (exponential back-off). */
  retryDelayMs: z.number().int().nonnegative(),
});
export type RunDispatched = z.infer<typeof RunDispatched>;

export const RunStarted = z.object({
  ...envelope,
  type: z.literal('RunStarted'),
  attempt: Attempt,
  workerId: WorkerId,
});
export type RunStarted = z.infer<typeof RunStarted>;

/**
 * The worker refused a dispatch: it had no free slot (several schedulers may
 * each believe a worker has room; the worker's own count is the authority).
 * The attempt never ran; the run waits for another dispatch.
 */
export const RunRejected = z.object({
  ...envelope,
  type: z.literal('RunRejected'),
  attempt: Attempt,
  workerId: WorkerId,
  reason: z.string().max(1000),
});
export type RunRejected = z.infer<typeof RunRejected>;

/**
 * The most a task's output may take as JSON: with its envelope it stays well
 * under the log's record limit, so a run's end is never refused for its size.
 */
export const MAX_OUTPUT_BYTES = 1024 * 1024;

export const RunCompleted = z.object({
  ...envelope,
  type: z.literal('RunCompleted'),
  attempt: Attempt,
  output: Json,
});
export type RunCompleted = z.infer<typeof RunCompleted>;

/** The retry decision travels with the failure, so readers never re-derive policy. */
export const RetryDecision = z.discriminatedUnion('willRetry', [
  z.object({ willRetry: z.literal(true), nextAttempt: Attempt, retryAt: EpochMs }),
  z.object({ willRetry: z.literal(false) }),
]);
export type RetryDecision = z.infer<typeof RetryDecision>;

export const RunFailed = z.object({
  ...envelope,
  type: z.literal('RunFailed'),
  attempt: Attempt,
  error: TaskError,
  retry: RetryDecision,
});
export type RunFailed = z.infer<typeof RunFailed>;

export const RunCancelRequested = z.object({
  ...envelope,
  type: z.literal('RunCancelRequested'),
  reason: z.string().max(1000).optional(),
});
export type RunCancelRequested = z.infer<typeof RunCancelRequested>;

export const RunCancelled = z.object({
  ...envelope,
  type: z.literal('RunCancelled'),
  /** The attempt that was running when the cancel landed; absent if none was. */
  attempt: Attempt.optional(),
  reason: z.string().max(1000).optional(),
});
export type RunCancelled = z.infer<typeof RunCancelled>;

export const RunTimedOut = z.object({
  ...envelope,
  type: z.literal('RunTimedOut'),
  attempt: Attempt,
  timeoutMs: z.number().int().positive(),
});
export type RunTimedOut = z.infer<typeof RunTimedOut>;

/** The run-events topic: the source of truth of every run's lifecycle. */
export const RunEvent = z.discriminatedUnion('type', [
  RunRequested,
  RunDispatched,
  RunStarted,
  RunRejected,
  RunCompleted,
  RunFailed,
  RunCancelRequested,
  RunCancelled,
  RunTimedOut,
]);
export type RunEvent = z.infer<typeof RunEvent>;
export type RunEventType = RunEvent['type'];
