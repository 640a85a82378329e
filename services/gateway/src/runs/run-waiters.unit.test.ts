import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { evolveRun, type RunState } from '@chute/domain';
import type { Decoded } from '@chute/log';
import type { RunEvent } from '@chute/schemas';
import { RunWaiters } from './run-waiters';

const runId = '6f1c3c1e-9d8a-4a55-9a57-3f4c2b1a0d01';
const requested: RunEvent = { v: 1, tenant: 'default', type: 'RunRequested', runId, at: 1000, task: 'echo', input: { big: 'x' }, retries: 0, executionTimeoutMs: 60_000 };
const dispatched: RunEvent = {
  v: 1, tenant: 'default', type: 'RunDispatched', runId, at: 1001, task: 'echo', input: { big: 'x' }, attempt: 1, workerId: 'w-1',
  deadlineAt: 61_001, retriesLeft: 0, retryDelayMs: 1000,
};
const started: RunEvent = { v: 1, tenant: 'default', type: 'RunStarted', runId, at: 1002, attempt: 1, workerId: 'w-1' };
const completed: RunEvent = { v: 1, tenant: 'default', type: 'RunCompleted', runId, at: 1003, attempt: 1, output: 'pong' };

/** Events as the gateway's tail hands them over: decoded, with their records. */
const seen = (...events: RunEvent[]): Decoded<RunEvent>[] =>
  events.map((value, offset) => ({
    value,
    record: { topic: 'run-events', partition: 0, offset, key: value.runId, value: Buffer.from(JSON.stringify(value)), timestamp: 0, headers: {} },
  }));

const fold = (state: RunState | undefined, events: readonly RunEvent[]) => events.reduce<RunState | undefined>(evolveRun, state);

describe('RunWaiters', () => {
  test('a row the projector left at "dispatched" catches up to the log: started, then completed', () => {
    const waiters = new RunWaiters();
    waiters.observe(seen(requested, dispatched, started, completed));
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
    waiters.observe(seen(requested, dispatched, started, completed));
    assert.equal(await waiters.wait(runId, 60_000).ended, completed);
    assert.equal(waiters.recentState(runId)?.runId, runId, 'the gateway knows the run was requested');
  });

  test('a waiting request is released by the end, and by the timeout without one', async () => {
    const waiters = new RunWaiters();
    const waiter = waiters.wait(runId, 60_000);
    waiters.observe(seen(requested, dispatched));
    waiters.observe(seen(started, completed));
    assert.equal(await waiter.ended, completed);
    assert.equal(await waiters.wait('00000000-0000-4000-8000-000000000000', 10).ended, undefined);
  });

  test('a failure that will be retried does not end the run; one that will not does', () => {
    const waiters = new RunWaiters();
    const ends: RunEvent[] = [];
    waiters.onEnd = (e) => ends.push(e);
    const error = { name: 'Error', message: 'boom', nonRetryable: false };
    waiters.observe(seen({ v: 1, tenant: 'default', type: 'RunFailed', runId, at: 1, attempt: 1, error, retry: { willRetry: true, nextAttempt: 2, retryAt: 5 } }));
    assert.equal(waiters.recentEnd(runId), undefined);
    waiters.observe(seen({ v: 1, tenant: 'default', type: 'RunFailed', runId, at: 2, attempt: 2, error, retry: { willRetry: false } }));
    assert.equal(waiters.recentEnd(runId)?.type, 'RunFailed');
    assert.equal(ends.length, 1);
  });

  test("the dispatch's copy of the input is not kept in memory", () => {
    const waiters = new RunWaiters();
    waiters.observe(seen(requested, dispatched));
    const kept = waiters.recentEvents(runId)[0]!;
    assert.equal(kept.type, 'RunDispatched');
    assert.equal(kept.type === 'RunDispatched' && kept.input, null);
  });

  test('a run seen from its request is held folded whole, equal to the fold of its events', () => {
    const waiters = new RunWaiters();
    waiters.observe(seen(requested, dispatched, started));
    assert.equal(waiters.recentState(runId)?.status, 'RUNNING');
    waiters.observe(seen(completed));
    assert.deepEqual(waiters.recentState(runId), fold(undefined, [requested, dispatched, started, completed]));
  });

  test('a run whose request came before this gateway started is not held: its row is needed', () => {
    const waiters = new RunWaiters();
    waiters.observe(seen(dispatched, started, completed));
    assert.equal(waiters.recentState(runId), undefined);
    assert.equal(waiters.recentEvents(runId).length, 3);
  });

  test('past the byte bound the oldest runs are forgotten first', () => {
    const other = '6f1c3c1e-9d8a-4a55-9a57-3f4c2b1a0d02';
    const big = (id: string): RunEvent => ({ ...requested, runId: id, input: 'x'.repeat(1000) });
    const waiters = new RunWaiters({ maxRuns: 100, maxBytes: 6000 });
    waiters.observe(seen(big(runId)));
    assert.ok(waiters.recentState(runId));
    waiters.observe(seen(big(other)));
    assert.equal(waiters.recentState(runId), undefined, 'the older run made room');
    assert.ok(waiters.recentState(other));
  });

  test("a gateway's own request is held before its tail brings it back, and the echo changes nothing", () => {
    const waiters = new RunWaiters();
    assert.equal(waiters.recentState(runId), undefined);
    waiters.requested(requested as Extract<RunEvent, { type: 'RunRequested' }>, 100);
    assert.equal(waiters.recentState(runId)?.status, 'QUEUED');
    assert.equal(waiters.recentState(runId)?.runId, runId, 'the gateway knows the run was requested');
    waiters.observe(seen(requested, dispatched, started, completed));
    assert.deepEqual(waiters.recentState(runId), fold(undefined, [requested, dispatched, started, completed]));
  });

  test("a trigger's size estimate is corrected by the record the tail brings, so the byte bound holds", () => {
    const waiters = new RunWaiters({ maxRuns: 100, maxBytes: 6000 });
    const big = { ...requested, input: 'x'.repeat(1000) } as Extract<RunEvent, { type: 'RunRequested' }>;
    waiters.requested(big, 0); // a chunked request has no content-length
    waiters.observe(seen(big));
    const other = '6f1c3c1e-9d8a-4a55-9a57-3f4c2b1a0d03';
    waiters.observe(seen({ ...big, runId: other }));
    assert.equal(waiters.recentState(runId), undefined, 'the first run counted its real size and made room');
    assert.ok(waiters.recentState(other));
  });

  test("a held run is not ended by a stale attempt's completion, only by its own", async () => {
    const waiters = new RunWaiters();
    const ends: RunEvent[] = [];
    waiters.onEnd = (e) => ends.push(e);
    const redispatched: RunEvent = { ...dispatched, at: 1010, attempt: 2, workerId: 'w-2' } as RunEvent;
    const stale: RunEvent = { ...completed, at: 1011, attempt: 1, output: 'stale' } as RunEvent;
    const current: RunEvent = { ...completed, at: 1012, attempt: 2, output: 'fresh' } as RunEvent;
    waiters.observe(seen(requested, dispatched, redispatched));
    const waiter = waiters.wait(runId, 60_000);
    waiters.observe(seen(stale));
    assert.equal(waiters.recentEnd(runId), undefined);
    assert.equal(ends.length, 0, 'the stream hub is not told the run ended');
    waiters.observe(seen(current));
    assert.equal(await waiter.ended, current);
    assert.equal(waiters.recentState(runId)?.output, 'fresh');
    assert.equal(waiters.recentEnd(runId), current);
  });
});
