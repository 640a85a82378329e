import type { EpochMs, FinalStatus, Json, RunEvent, RunPhase, RunStatus, TaskError } from '@chute/schemas';

// One definition, beside the persisted state that stores it.
export type { RunPhase } from '@chute/schemas';

/**
 * One run, folded from its events. The read model's row and the scheduler's
 * state. The read model stores it as `PersistedRunState` (@chute/schemas),
 * which must keep the same fields: @chute/db checks that at compile time.
 */
export interface RunState {
  readonly runId: string;
  readonly task: string;
  readonly status: RunStatus;
  readonly phase: RunPhase;
  readonly input: Json;
  readonly output: Json | null;
  readonly error: TaskError | null;
  /** The attempt in progress or last made; 0 before the first dispatch. */
  readonly attempt: number;
  readonly retries: number;
  /** Failed attempts so far; retries are spent by failures only, not by lost workers. */
  readonly failures: number;
  readonly executionTimeoutMs: number;
  readonly workerId: string | null;
  readonly deadlineAt: EpochMs | null;
  readonly nextRetryAt: EpochMs | null;
  readonly cancelRequested: boolean;
  readonly createdAt: EpochMs;
  readonly updatedAt: EpochMs;
  readonly startedAt: EpochMs | null;
  readonly finishedAt: EpochMs | null;
}

export const FINAL_STATUSES: readonly FinalStatus[] = ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT'];

export function isFinal(status: RunStatus): status is FinalStatus {
  return (FINAL_STATUSES as readonly string[]).includes(status);
}

function end(state: RunState, at: EpochMs, status: FinalStatus, patch: Partial<RunState> = {}): RunState {
  return { ...state, ...patch, status, phase: 'ended', deadlineAt: null, nextRetryAt: null, updatedAt: at, finishedAt: at };
}

/**
 * Folds one event into a run. Pure and idempotent: a duplicate or stale event
 * (an earlier attempt's, or anything after the run ended) leaves the state as
 * it is, so replaying the log — duplicates included — gives the same result.
 * The first terminal event wins.
 */
export function evolveRun(state: RunState | undefined, event: RunEvent): RunState | undefined {
  if (event.type === 'RunRequested') {
    if (state) return state;
    return {
      runId: event.runId,
      task: event.task,
      status: 'QUEUED',
      phase: 'pending',
      input: event.input,
      output: null,
      error: null,
      attempt: 0,
      retries: event.retries,
      failures: 0,
      executionTimeoutMs: event.executionTimeoutMs,
      workerId: null,
      deadlineAt: null,
      nextRetryAt: null,
      cancelRequested: false,
      createdAt: event.at,
      updatedAt: event.at,
      startedAt: null,
      finishedAt: null,
    };
  }
  // Nothing can be folded into a run whose request was never seen, nor into an ended one.
  if (!state || state.phase === 'ended') return state;

  switch (event.type) {
    case 'RunDispatched':
      if (event.attempt <= state.attempt) return state;
      return {
        ...state,
        status: 'QUEUED',
        phase: 'dispatched',
        attempt: event.attempt,
        workerId: event.workerId,
        deadlineAt: event.deadlineAt,
        nextRetryAt: null,
        updatedAt: event.at,
      };
    case 'RunStarted':
      if (event.attempt !== state.attempt || state.phase !== 'dispatched') return state;
      return { ...state, status: 'RUNNING', phase: 'running', startedAt: state.startedAt ?? event.at, updatedAt: event.at };
    case 'RunCompleted':
      if (event.attempt !== state.attempt) return state;
      return end(state, event.at, 'COMPLETED', { output: event.output, error: null });
    case 'RunFailed': {
      if (event.attempt !== state.attempt || state.phase === 'retrying') return state;
      const failures = state.failures + 1;
      if (event.retry.willRetry) {
        return {
          ...state,
          status: 'QUEUED',
          phase: 'retrying',
          error: event.error,
          failures,
          deadlineAt: null,
          nextRetryAt: event.retry.retryAt,
          updatedAt: event.at,
        };
      }
      return end(state, event.at, 'FAILED', { error: event.error, failures });
    }
    case 'RunCancelRequested':
      return { ...state, cancelRequested: true, updatedAt: event.at };
    case 'RunCancelled':
      return end(state, event.at, 'CANCELLED', {
        error: { name: 'CancelledError', message: event.reason ?? 'the run was cancelled', nonRetryable: true },
      });
    case 'RunTimedOut':
      if (event.attempt !== state.attempt) return state;
      return end(state, event.at, 'TIMED_OUT', {
        error: {
          name: 'TimeoutError',
          message: `attempt ${event.attempt} exceeded its execution timeout of ${event.timeoutMs} ms`,
          nonRetryable: true,
        },
      });
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
}
