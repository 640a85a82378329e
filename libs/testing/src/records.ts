import { randomUUID } from 'node:crypto';
import type { RunDispatched } from '@chute/schemas';

/**
 * A dispatch as the scheduler appends it, for tests that play the scheduler's
 * part: attempt 1 of a run of the default tenant, due in a minute, no retries
 * left; `fields` names the task and the worker, and overrides the rest.
 */
export function runDispatched(fields: Pick<RunDispatched, 'task' | 'workerId'> & Partial<RunDispatched>): RunDispatched {
  return {
    v: 1,
    tenant: 'default',
    type: 'RunDispatched',
    runId: randomUUID(),
    at: Date.now(),
    input: null,
    attempt: 1,
    deadlineAt: Date.now() + 60_000,
    retriesLeft: 0,
    retryDelayMs: 500,
    ...fields,
  };
}
