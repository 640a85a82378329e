import { z } from 'zod';
import { Json, RunId, RunStatus, TaskError, TaskName } from './common';

/**
 * The gateway's HTTP API, shared by the gateway (which validates requests) and
 * the SDK (which validates responses). Not log records, so not versioned by
 * envelope: the URL carries the version (/api/v1).
 */

export const TriggerRunBody = z
  .object({
    input: Json.default(null),
    /** Retries after a failed attempt. @default 0 */
    retries: z.number().int().min(0).max(100).default(0),
    /** Budget of one attempt in milliseconds. @default 300000 */
    executionTimeoutMs: z.number().int().min(1).max(7 * 24 * 3600 * 1000).default(300_000),
  })
  .strict()
  // An absent body means "all defaults"; prefault parses {} so the field defaults apply.
  .prefault({});
export type TriggerRunBody = z.infer<typeof TriggerRunBody>;

export const TaskNameParams = z.object({ name: TaskName });
export const RunIdParams = z.object({ id: RunId });

export const TriggerRunResponse = z.object({ runId: RunId });
export type TriggerRunResponse = z.infer<typeof TriggerRunResponse>;

/** A run as the read model shows it. Times are ISO-8601 strings. */
export const RunView = z.object({
  runId: RunId,
  task: TaskName,
  status: RunStatus,
  input: Json,
  output: Json.nullable(),
  error: TaskError.nullable(),
  attempt: z.number().int().nonnegative(),
  retries: z.number().int().nonnegative(),
  workerId: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});
export type RunView = z.infer<typeof RunView>;

/**
 * Where a page of runs ends: the last run's creation time (ms since the epoch)
 * and id, `<ms>.<uuid>`. The pattern admits only what the query can use (no
 * negative or out-of-range times, ids of hex digits only), so a cursor that
 * passes validation never fails the query.
 */
export const ListCursor = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,14})\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, {
    message: 'not a cursor this API returned; pass nextCursor from the previous page',
  });
export type ListCursor = z.infer<typeof ListCursor>;

export const ListRunsQuery = z.object({
  task: TaskName.optional(),
  status: RunStatus.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  /** The `nextCursor` of the previous page; its pattern is all a client may rely on. */
  cursor: ListCursor.optional(),
});
export type ListRunsQuery = z.infer<typeof ListRunsQuery>;

export const ListRunsResponse = z.object({ runs: z.array(RunView), nextCursor: z.string().nullable() });
export type ListRunsResponse = z.infer<typeof ListRunsResponse>;

/** The longest a request may wait for a run to end (a long poll, answered 202 past it). */
export const MAX_WAIT_MS = 120_000;

export const ResultQuery = z.object({
  /** How long to wait for the run to end before answering 202 with its current state. @default 30000 */
  timeoutMs: z.coerce.number().int().min(0).max(MAX_WAIT_MS).default(30_000),
});

export const TriggerRunQuery = z.object({
  /**
   * Wait up to this long for the run to end, and answer with the run itself
   * (200 once it ended, 202 with its current state past the wait) instead of
   * 201 with its id: a run that ends in time costs one exchange, not a trigger
   * and a `/result`. Absent: answer 201 at once.
   */
  waitMs: z.coerce.number().int().min(0).max(MAX_WAIT_MS).optional(),
});
export type TriggerRunQuery = z.infer<typeof TriggerRunQuery>;

export const ApiError = z.object({ code: z.string(), message: z.string() });

export const CancelRunResponse = z.object({ runId: RunId, status: RunStatus });
export type CancelRunResponse = z.infer<typeof CancelRunResponse>;
export type ApiError = z.infer<typeof ApiError>;

export const StreamQuery = z
  .object({
    /** Resume after this chunk: `N`, or `A:N` for a chunk of attempt A (an SSE id as sent). */
    after: z
      .string()
      .regex(/^([1-9][0-9]{0,8}:)?[0-9]{1,12}$/, { message: 'must be a chunk position such as 12, or 2:12 for attempt 2' })
      .optional(),
    /** `start` replays the run's stream from its first chunk. */
    from: z.literal('start').optional(),
    /** A stream token (POST /api/v1/runs/:id/stream-token), for clients that cannot send headers. */
    token: z.string().max(4096).optional(),
  })
  .strict();
export type StreamQuery = z.infer<typeof StreamQuery>;

export const StreamTokenResponse = z.object({
  /** Reads this run's stream only: `?token=` on GET /api/v1/runs/:id/stream. */
  token: z.string(),
  /** ISO-8601. A stream attached before then runs to its end; a resume must come before it. */
  expiresAt: z.string(),
});
export type StreamTokenResponse = z.infer<typeof StreamTokenResponse>;

/** A worker process as the read model shows it (GET /api/v1/workers). Times are ISO-8601 strings. */
export const WorkerView = z.object({
  workerId: z.string(),
  name: z.string(),
  /** The tasks it serves. */
  tasks: z.array(z.string()),
  /** Runs it takes at once. */
  slots: z.number().int().nonnegative(),
  status: z.enum(['ACTIVE', 'STOPPED', 'DEAD']),
  registeredAt: z.string(),
  lastHeartbeatAt: z.string(),
});
export type WorkerView = z.infer<typeof WorkerView>;

export const ListWorkersResponse = z.object({ workers: z.array(WorkerView) });
export type ListWorkersResponse = z.infer<typeof ListWorkersResponse>;
