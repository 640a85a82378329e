import { z } from 'zod';
import { DEFAULT_TENANT, EpochMs, RunId, RunStatus, TaskError, TaskName, TenantId, WorkerId, type Json } from './common';

/**
 * Where a run stands between request and end. Finer than the public status:
 * the scheduler tells a run waiting for a first dispatch from one waiting out
 * a retry back-off or one already handed to a worker.
 */
export const RunPhase = z.enum(['pending', 'dispatched', 'running', 'retrying', 'ended']);
export type RunPhase = z.infer<typeof RunPhase>;

/**
 * A JSON value read back from a `json` column. The database checked it was
 * JSON when it was written and `JSON.parse` yields nothing else, so only its
 * presence is checked: walking a run's input (up to 1 MiB) with `z.json()`
 * costs several times the parse itself, on every read.
 */
const StoredJson = z.custom<Json>((value) => value !== undefined, { message: 'expected a JSON value' });

/**
 * A run's folded state as the read model keeps it (`runs.state`): the
 * projector resumes folding from it, the gateway answers from it. Stored data
 * outlives the code that wrote it, so it carries a version like a log record,
 * and a reader upcasts older versions before use (`decodeRunState` in
 * @chute/db). The same shape as the domain's `RunState`, plus `v`; @chute/db
 * checks at compile time that the two agree.
 */
export const PersistedRunState = z.object({
  v: z.literal(1),
  runId: RunId,
  /** Runs stored before tenants existed belong to the default tenant. */
  tenant: TenantId.default(DEFAULT_TENANT),
  task: TaskName,
  status: RunStatus,
  phase: RunPhase,
  input: StoredJson,
  output: StoredJson.nullable(),
  error: TaskError.nullable(),
  attempt: z.number().int().nonnegative(),
  retries: z.number().int().nonnegative(),
  failures: z.number().int().nonnegative(),
  executionTimeoutMs: z.number().int().positive(),
  workerId: WorkerId.nullable(),
  deadlineAt: EpochMs.nullable(),
  nextRetryAt: EpochMs.nullable(),
  cancelRequested: z.boolean(),
  createdAt: EpochMs,
  updatedAt: EpochMs,
  startedAt: EpochMs.nullable(),
  finishedAt: EpochMs.nullable(),
});
export type PersistedRunState = z.infer<typeof PersistedRunState>;
