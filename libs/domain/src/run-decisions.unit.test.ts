// Given/when/then: given a run's events, when a command or event arrives,
// then the decision. The run's state is always the fold of its events.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunEvent, TaskError } from '@chute/schemas';
import { decideCancel, endStatusOf, evolveRun, mayEndRun, type RunState } from './run';

const runId = '6f1c3c1e-9d8a-4a55-9a57-3f4c2b1a0d01';
const at = 1_000_000;
const error: TaskError = { name: 'Error', message: 'boom', nonRetryable: false };

const requested: RunEvent = { v: 1, tenant: 'default', type: 'RunRequested', runId, at, task: 'echo', input: null, retries: 1, executionTimeoutMs: 5000 };
const dispatched: RunEvent = {
  v: 1, tenant: 'default', type: 'RunDispatched', runId, at: at + 1, task: 'echo', input: null, attempt: 1, workerId: 'w1',
  deadlineAt: at + 5001, retriesLeft: 1, retryDelayMs: 500,
};
const started: RunEvent = { v: 1, tenant: 'default', type: 'RunStarted', runId, at: at + 2, attempt: 1, workerId: 'w1' };
const completed: RunEvent = { v: 1, tenant: 'default', type: 'RunCompleted', runId, at: at + 3, attempt: 1, output: 'ok' };
const failedForGood: RunEvent = { v: 1, tenant: 'default', type: 'RunFailed', runId, at: at + 3, attempt: 1, error, retry: { willRetry: false } };
const failedWillRetry: RunEvent = { v: 1, tenant: 'default', type: 'RunFailed', runId, at: at + 3, attempt: 1, error, retry: { willRetry: true, nextAttempt: 2, retryAt: at + 503 } };
const cancelRequested: RunEvent = { v: 1, tenant: 'default', type: 'RunCancelRequested', runId, at: at + 3 };
const cancelled: RunEvent = { v: 1, tenant: 'default', type: 'RunCancelled', runId, at: at + 4, attempt: 1 };
const timedOut: RunEvent = { v: 1, tenant: 'default', type: 'RunTimedOut', runId, at: at + 5001, attempt: 1, timeoutMs: 5000 };

/** The run as its events leave it. */
const given = (...events: RunEvent[]): RunState | undefined => events.reduce<RunState | undefined>(evolveRun, undefined);

describe('decideCancel', () => {
  const command = { runId, at: at + 100 };

  test('given no run, when a cancel arrives, then the run is unknown', () => {
    assert.deepEqual(decideCancel(command, given()), { outcome: 'unknown-run' });
  });

  test('given a queued run, when a cancel arrives, then a RunCancelRequested at the given time is decided', () => {
    assert.deepEqual(decideCancel(command, given(requested)), {
      outcome: 'accepted',
      status: 'QUEUED',
      events: [{ v: 1, tenant: 'default', type: 'RunCancelRequested', runId, at: at + 100 }],
    });
  });

  test('given a running run, when a cancel arrives with a reason, then it is accepted and the reason travels with the request', () => {
    const decision = decideCancel({ ...command, reason: 'no longer needed' }, given(requested, dispatched, started));
    assert.equal(decision.outcome, 'accepted');
    assert.equal(decision.outcome === 'accepted' && decision.status, 'RUNNING');
    assert.deepEqual(decision.outcome === 'accepted' && decision.events, [
      { v: 1, tenant: 'default', type: 'RunCancelRequested', runId, at: at + 100, reason: 'no longer needed' },
    ]);
  });

  test('given a run waiting out a retry back-off, when a cancel arrives, then it is accepted', () => {
    assert.equal(decideCancel(command, given(requested, dispatched, started, failedWillRetry)).outcome, 'accepted');
  });

  test('given a run whose cancel was already requested, when another arrives, then it is accepted again', () => {
    const decision = decideCancel(command, given(requested, cancelRequested));
    assert.deepEqual(decision.outcome === 'accepted' && decision.status, 'QUEUED');
  });

  test('given a run that ended, when a cancel arrives, then it conflicts with the status the run ended with', () => {
    const ends: Array<[RunEvent, string]> = [
      [completed, 'COMPLETED'],
      [failedForGood, 'FAILED'],
      [cancelled, 'CANCELLED'],
      [timedOut, 'TIMED_OUT'],
    ];
    for (const [end, status] of ends) {
      assert.deepEqual(decideCancel(command, given(requested, dispatched, started, end)), { outcome: 'already-ended', status }, end.type);
    }
  });
});

describe('endStatusOf and mayEndRun', () => {
  test('given an ending event, then it names the status it ends its run with', () => {
    assert.equal(endStatusOf(completed), 'COMPLETED');
    assert.equal(endStatusOf(failedForGood), 'FAILED');
    assert.equal(endStatusOf(cancelled), 'CANCELLED');
    assert.equal(endStatusOf(timedOut), 'TIMED_OUT');
    for (const event of [completed, failedForGood, cancelled, timedOut]) assert.equal(mayEndRun(event), true, event.type);
  });

  test('given a failure that will be retried, or any event that is not an end, then it ends nothing', () => {
    for (const event of [requested, dispatched, started, failedWillRetry, cancelRequested]) {
      assert.equal(endStatusOf(event), undefined, event.type);
      assert.equal(mayEndRun(event), false, event.type);
    }
  });

  test('given a running run, when any event is folded in, then it ends the run exactly when endStatusOf says, with that status', () => {
    const running = given(requested, dispatched, started)!;
    for (const event of [completed, failedForGood, failedWillRetry, cancelRequested, cancelled, timedOut, started]) {
      const after = evolveRun(running, event)!;
      const ended = after.phase === 'ended';
      assert.equal(ended, mayEndRun(event), event.type);
      if (ended) assert.equal(after.status, endStatusOf(event), event.type);
    }
  });
});
