import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { evolveRun, type RunState } from '@chute/domain';
import type { RunEvent } from '@chute/schemas';
import { RunWaiters } from './run-waiters';

const runId = '6f1c3c1e-9d8a-4a55-9a57-3f4c2b1a0d01';
const requested: RunEvent = { v: 1, type: 'RunRequested', runId, at: 1000, task: 'echo', input: { big: 'x' }, retries: 0, executionTimeoutMs: 60_000 };
const dispatched: RunEvent = {
  v: 1, type: 'RunDispatched', runId, at: 1001, task: 'echo', input: { big: 'x' }, attempt: 1, workerId: 'w-1',
  deadlineAt: 61_001, retriesLeft: 0, retryDelayMs: 1000,
};
const started: RunEvent = { v: 1, type: 'RunStarted', runId, at: 1002, attempt: 1, workerId: 'w-1' };
const completed: RunEvent = { v: 1, type: 'RunCompleted', runId, at: 1003, attempt: 1, output: 'pong' };

const fold = (state: RunState | undefined, events: readonly RunEvent[]) => events.reduce<RunState | undefined>(evolveRun, state);

describe('RunWaiters', () => {
  test('a row the projector left at "dispatched" catches up to the log: started, then completed', () => {
    const waiters = new RunWaiters();
    waiters.observe([requested, dispatched, started, completed]);
    const lagging = fold(undefined, [requested, dispatched])!;
    const now = fold(lagging, waiters.recentEvents(runId))!;
    assert.equal(now.status, 'COMPLETED');
    assert.equal(now.startedAt, 1002, 'the start the row had not seen yet is folded on');
    assert.equal(now.workerId, 'w-1');
    assert.equal(now.output, 'pong');
    // Folding onto a row that already holds every event changes nothing.
    assert.deepEqual(fold(now, waiters.recentEvents(runId)), now);
  });

  test('a request after the run ended is answered at once with the end', async () => {
    const waiters = new RunWaiters();
    waiters.observe([requested, dispatched, started, completed]);
    assert.equal(await waiters.wait(runId, 60_000).ended, completed);
    assert.equal(waiters.seenRequest(runId), true);
  });

  test('a waiting request is released by the end, and by the timeout without one', async () => {
    const waiters = new RunWaiters();
    const waiter = waiters.wait(runId, 60_000);
    waiters.observe([requested, dispatched]);
    waiters.observe([started, completed]);
    assert.equal(await waiter.ended, completed);
    assert.equal(await waiters.wait('00000000-0000-4000-8000-000000000000', 10).ended, undefined);
  });

  test('a failure that will be retried does not end the run; one that will not does', () => {
    const waiters = new RunWaiters();
    const ends: RunEvent[] = [];
    waiters.onEnd = (e) => ends.push(e);
    const error = { name: 'Error', message: 'boom', nonRetryable: false };
    waiters.observe([{ v: 1, type: 'RunFailed', runId, at: 1, attempt: 1, error, retry: { willRetry: true, nextAttempt: 2, retryAt: 5 } }]);
    assert.equal(waiters.recentEnd(runId), undefined);
    waiters.observe([{ v: 1, type: 'RunFailed', runId, at: 2, attempt: 2, error, retry: { willRetry: false } }]);
    assert.equal(waiters.recentEnd(runId)?.type, 'RunFailed');
    assert.equal(ends.length, 1);
  });

  test("the dispatch's copy of the input is not kept in memory", () => {
    const waiters = new RunWaiters();
    waiters.observe([requested, dispatched]);
    const kept = waiters.recentEvents(runId)[0]!;
    assert.equal(kept.type, 'RunDispatched');
    assert.equal(kept.type === 'RunDispatched' && kept.input, null);
  });
});
