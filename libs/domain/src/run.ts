import type { EpochMs, FinalStatus, Json, RunCancelRequested, RunEvent, RunPhase, RunStatus, TaskError } from '@chute/schemas';

// One definition, beside the persisted state that stores it.
export type { RunPhase } from '@chute/schemas';

/**
 * One run, folded from its events. The read model's row and the scheduler's
 * state. The read model stores it as `PersistedRunState` (@chute/schemas),
 * which must keep the same fields: @chute/db checks that at compile time.
 */
export interface RunState {
  readonly runId: string;
  readonly tenant: string;
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
      tenant: event.tenant,
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
    case 'RunRejected':
      // The attempt never ran: the run is back to waiting, and its next dispatch reuses the attempt number.
      if (event.attempt !== state.attempt || state.phase !== 'dispatched' || state.workerId !== event.workerId) return state;
      return { ...state, status: 'QUEUED', phase: 'pending', attempt: state.attempt - 1, workerId: null, deadlineAt: null, updatedAt: event.at };
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

/**
 * The final status an event gives its run if it ends it: a completion, a
 * cancellation, a timeout, or a failure that will not be retried. Undefined
 * for any other event. "If": a stale attempt's end, or an end after the run
 * already ended, ends nothing; only the fold ({@link evolveRun}) can tell,
 * from the run's state.
 */
export function endStatusOf(event: RunEvent): FinalStatus | undefined {
  switch (event.type) {
    case 'RunCompleted':
      return 'COMPLETED';
    case 'RunCancelled':
      return 'CANCELLED';
    case 'RunTimedOut':
      return 'TIMED_OUT';
    case 'RunFailed':
      return event.retry.willRetry ? undefined : 'FAILED';
    case 'RunRequested':
    case 'RunDispatched':
    case 'RunStarted':
    case 'RunRejected':
    case 'RunCancelRequested':
      return undefined;
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
}

/**
 * Whether an event may have ended its run, for a reader that sees the event
 * without the run's state (see {@link endStatusOf}).
 */
export function mayEndRun(event: RunEvent): boolean {
  return endStatusOf(event) !== undefined;
}

/** A request to cancel a run. */
export interface CancelRun {
  readonly runId: string;
  /** When the request arrived: the domain reads no clock. */
  readonly at: EpochMs;
  readonly reason?: string;
}

/** What a cancel request comes to. */
export type CancelDecision =
  /** The run has not ended: the request goes on the log, and the scheduler cancels the run. */
  | { readonly outcome: 'accepted'; readonly status: RunStatus; readonly events: readonly [RunCancelRequested] }
  /** The run already ended: there is nothing left to cancel. */
  | { readonly outcome: 'already-ended'; readonly status: FinalStatus }
  /** No such run is known. */
  | { readonly outcome: 'unknown-run' };

/**
 * Decides a cancel request from the run's current state. A run that has not
 * ended is accepted even when a cancel was already requested: the request is
 * idempotent in the fold, and the caller is told the run's status either way.
 */
export function decideCancel(command: CancelRun, state: RunState | undefined): CancelDecision {
  if (!state) return { outcome: 'unknown-run' };
  if (isFinal(state.status)) return { outcome: 'already-ended', status: state.status };
  const requested: RunCancelRequested = { v: 1, type: 'RunCancelRequested', runId: command.runId, tenant: state.tenant, at: command.at };
  return {
    outcome: 'accepted',
    status: state.status,
    events: [command.reason === undefined ? requested : { ...requested, reason: command.reason }],
  };
}
