import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { evolveRun, type RunState } from '@chute/domain';
import type { Decoded } from '@chute/log';
import type { RunEvent } from '@chute/schemas';
import { RecentRuns } from './recent-runs';
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

describe('RecentRuns and RunWaiters', () => {
  test('a row the projector left at "dispatched" catches up to the log: started, then completed', () => {
    const runs = new RecentRuns();
    runs.observe(seen(requested, dispatched, started, completed));
    const lagging = fold(undefined, [requested, dispatched])!;
    const now = fold(lagging, runs.recentEvents(runId))!;
    assert.equal(now.status, 'COMPLETED');
    assert.equal(now.startedAt, 1002, 'the start the row had not seen yet is folded on');
    assert.equal(now.workerId, 'w-1');
    assert.equal(now.output, 'pong');
    // Folding onto a row that already holds every event changes nothing.
    assert.deepEqual(fold(now, runs.recentEvents(runId)), now);
  });

  test('a request after the run ended is answered at once with the end', async () => {
    const runs = new RecentRuns();
    const waiters = new RunWaiters(runs);
    runs.observe(seen(requested, dispatched, started, completed));
    assert.equal(await waiters.wait(runId, 60_000).ended, completed);
    assert.equal(runs.recentState(runId)?.runId, runId, 'the gateway knows the run was requested');
  });

  test('a waiting request is released by the end, and by the timeout without one', async () => {
    const runs = new RecentRuns();
    const waiters = new RunWaiters(runs);
    const waiter = waiters.wait(runId, 60_000);
    const feed = (...events: RunEvent[]): void => runs.observe(seen(...events)).forEach((end) => waiters.ended(end));
    feed(requested, dispatched);
    feed(started, completed);
    assert.equal(await waiter.ended, completed);
    assert.equal(await waiters.wait('00000000-0000-4000-8000-000000000000', 10).ended, undefined);
  });

  test('a failure that will be retried does not end the run; one that will not does', () => {
    const runs = new RecentRuns();
    const ends: RunEvent[] = [];
    const error = { name: 'Error', message: 'boom', nonRetryable: false };
    ends.push(...runs.observe(seen({ v: 1, tenant: 'default', type: 'RunFailed', runId, at: 1, attempt: 1, error, retry: { willRetry: true, nextAttempt: 2, retryAt: 5 } })));
    assert.equal(runs.recentEnd(runId), undefined);
    ends.push(...runs.observe(seen({ v: 1, tenant: 'default', type: 'RunFailed', runId, at: 2, attempt: 2, error, retry: { willRetry: false } })));
    assert.equal(runs.recentEnd(runId)?.type, 'RunFailed');
    assert.equal(ends.length, 1);
  });

  test("the dispatch's copy of the input is not kept in memory", () => {
    const runs = new RecentRuns();
    runs.observe(seen(requested, dispatched));
    const kept = runs.recentEvents(runId)[0]!;
    assert.equal(kept.type, 'RunDispatched');
    assert.equal(kept.type === 'RunDispatched' && kept.input, null);
  });

  test('a run seen from its request is held folded whole, equal to the fold of its events', () => {
    const runs = new RecentRuns();
    runs.observe(seen(requested, dispatched, started));
    assert.equal(runs.recentState(runId)?.status, 'RUNNING');
    runs.observe(seen(completed));
    assert.deepEqual(runs.recentState(runId), fold(undefined, [requested, dispatched, started, completed]));
  });

  test('a run whose request came before this gateway started is not held: its row is needed', () => {
    const runs = new RecentRuns();
    runs.observe(seen(dispatched, started, completed));
    assert.equal(runs.recentState(runId), undefined);
    assert.equal(runs.recentEvents(runId).length, 3);
  });

  test('past the byte bound the oldest runs are forgotten first', () => {
    const other = '6f1c3c1e-9d8a-4a55-9a57-3f4c2b1a0d02';
    const big = (id: string): RunEvent => ({ ...requested, runId: id, input: 'x'.repeat(1000) });
    const runs = new RecentRuns({ maxRuns: 100, maxBytes: 6000 });
    runs.observe(seen(big(runId)));
    assert.ok(runs.recentState(runId));
    runs.observe(seen(big(other)));
    assert.equal(runs.recentState(runId), undefined, 'the older run made room');
    assert.ok(runs.recentState(other));
  });

  test("a gateway's own request is held before its tail brings it back, and the echo changes nothing", () => {
    const runs = new RecentRuns();
    assert.equal(runs.recentState(runId), undefined);
    runs.requested(requested as Extract<RunEvent, { type: 'RunRequested' }>, 100);
    assert.equal(runs.recentState(runId)?.status, 'QUEUED');
    assert.equal(runs.recentState(runId)?.runId, runId, 'the gateway knows the run was requested');
    runs.observe(seen(requested, dispatched, started, completed));
    assert.deepEqual(runs.recentState(runId), fold(undefined, [requested, dispatched, started, completed]));
  });

  test("a trigger's size estimate is corrected by the record the tail brings, so the byte bound holds", () => {
    const runs = new RecentRuns({ maxRuns: 100, maxBytes: 6000 });
    const big = { ...requested, input: 'x'.repeat(1000) } as Extract<RunEvent, { type: 'RunRequested' }>;
    runs.requested(big, 0); // a chunked request has no content-length
    runs.observe(seen(big));
    const other = '6f1c3c1e-9d8a-4a55-9a57-3f4c2b1a0d03';
    runs.observe(seen({ ...big, runId: other }));
    assert.equal(runs.recentState(runId), undefined, 'the first run counted its real size and made room');
    assert.ok(runs.recentState(other));
  });

  test("a held run is not ended by a stale attempt's completion, only by its own", async () => {
    const runs = new RecentRuns();
    const waiters = new RunWaiters(runs);
    const ends: RunEvent[] = [];
    const feed = (...events: RunEvent[]): void => {
      for (const end of runs.observe(seen(...events))) {
        ends.push(end);
        waiters.ended(end);
      }
    };
    const redispatched: RunEvent = { ...dispatched, at: 1010, attempt: 2, workerId: 'w-2' } as RunEvent;
    const stale: RunEvent = { ...completed, at: 1011, attempt: 1, output: 'stale' } as RunEvent;
    const current: RunEvent = { ...completed, at: 1012, attempt: 2, output: 'fresh' } as RunEvent;
    feed(requested, dispatched, redispatched);
    const waiter = waiters.wait(runId, 60_000);
    feed(stale);
    assert.equal(runs.recentEnd(runId), undefined);
    assert.equal(ends.length, 0, 'no end is reported (the stream hub is not told the run ended)');
    feed(current);
    assert.equal(await waiter.ended, current);
    assert.equal(runs.recentState(runId)?.output, 'fresh');
    assert.equal(runs.recentEnd(runId), current);
  });
});
