// Records as the projector's tests build them.
import type { Decoded } from '@chute/log';
import type { Json, RunEvent } from '@chute/schemas';

/** The time the fixtures' runs are requested at. */
export const at = 1_767_225_600_000;

/** Events as a consumer hands them over: decoded, with their place in the log. */
export function decodedRecords<T extends { runId: string } | { workerId: string }>(
  values: readonly T[],
  from: { topic?: string; partition?: number; offset?: number } = {},
): Decoded<T>[] {
  return values.map((value, i) => ({
    value,
    record: {
      topic: from.topic ?? 'run-events',
      partition: from.partition ?? 0,
      offset: (from.offset ?? 0) + i,
      key: 'runId' in value ? value.runId : value.workerId,
      value: Buffer.from(JSON.stringify(value)),
      timestamp: at,
      headers: {},
    },
  }));
}

/** A run's whole life: requested with `input`, dispatched, started, completed with `output`. */
export function runLife(runId: string, input: Json, output: Json): RunEvent[] {
  return [
    { v: 1, tenant: 'default', type: 'RunRequested', runId, at, task: 'echo', input, retries: 0, executionTimeoutMs: 5000 },
    { v: 1, tenant: 'default', type: 'RunDispatched', runId, at: at + 1, task: 'echo', input, attempt: 1, workerId: 'w-1', deadlineAt: at + 5001, retriesLeft: 0, retryDelayMs: 500 },
    { v: 1, tenant: 'default', type: 'RunStarted', runId, at: at + 2, attempt: 1, workerId: 'w-1' },
    { v: 1, tenant: 'default', type: 'RunCompleted', runId, at: at + 3, attempt: 1, output },
  ];
}


/**
 * A dispatch the read model refuses on its data: the schema admits any
 * attempt number, but `runs.attempt` is an `integer`, and 2^31 is past its
 * range (SQLSTATE 22003).
 */
export function refusedDispatch(runId: string): RunEvent {
  const dispatched = runLife(runId, null, null)[1]!;
  return { ...dispatched, attempt: 2 ** 31 } as RunEvent;
}
