import type { EpochMs, RetryDecision, RunDispatched, TaskError } from '@chute/schemas';

/** Back-off before retry n (1-based): 500 ms, 1 s, 2 s, ... capped at 30 s. */
export function retryDelayMs(retryNumber: number): number {
  return Math.min(30_000, 500 * 2 ** Math.max(0, retryNumber - 1));
}

/**
 * What a failed attempt leads to. The worker decides with what the dispatch
 * told it, so the decision travels in the RunFailed record and no reader has
 * to re-derive the policy.
 */
export function decideRetry(dispatch: Pick<RunDispatched, 'attempt' | 'retriesLeft' | 'retryDelayMs'>, error: TaskError, now: EpochMs): RetryDecision {
  if (error.nonRetryable || dispatch.retriesLeft <= 0) return { willRetry: false };
  return { willRetry: true, nextAttempt: dispatch.attempt + 1, retryAt: now + dispatch.retryDelayMs };
}
