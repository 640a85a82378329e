import { z } from 'zod';
import { Attempt, DEFAULT_TENANT, EpochMs, RunId, TenantId, WorkerId } from './common';
import { RunDispatched } from './run-events';

/**
 * The header that names the worker a dispatch record is for. A worker reads
 * only its own partition of the dispatch topic and skips, by this header and
 * without decoding, the records of any other worker that shares it.
 */
export const DISPATCH_WORKER_HEADER = 'chute-worker';

/**
 * Stop an attempt on the worker that runs it: the run was cancelled, timed
 * out (`finalStatus` says which, and the worker closes the stream with it),
 * or went to another worker because this one was presumed dead (no
 * `finalStatus`: the run goes on elsewhere).
 */
export const AttemptRevoked = z.object({
  v: z.literal(1),
  type: z.literal('AttemptRevoked'),
  runId: RunId,
  tenant: TenantId.default(DEFAULT_TENANT),
  at: EpochMs,
  attempt: Attempt,
  workerId: WorkerId,
  finalStatus: z.enum(['CANCELLED', 'TIMED_OUT']).optional(),
  reason: z.string().max(1000),
});
export type AttemptRevoked = z.infer<typeof AttemptRevoked>;

/**
 * The dispatch topic: what the schedulers tell each worker, keyed by worker
 * id. A `RunDispatched` here is a copy of the one on the run-events topic,
 * which stays the source of truth; this topic only routes it.
 */
export const DispatchRecord = z.discriminatedUnion('type', [RunDispatched, AttemptRevoked]);
export type DispatchRecord = z.infer<typeof DispatchRecord>;
