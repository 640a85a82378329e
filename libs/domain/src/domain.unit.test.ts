import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunEvent, WorkerEvent } from '@chute/schemas';
import { decideRetry, retryDelayMs } from './retry';
import { evolveRun, type RunState } from './run';
import {
  emptySchedulerState,
  evolveScheduler,
  foldIntoScheduler,
  planScheduling,
  routeToWorkers,
  streamEndsOf,
  type SchedulerState,
} from './scheduling';

const runId = '6f1c3c1e-9d8a-4a55-9a57-3f4c2b1a0d01';
const at = 1_000_000;
const requested: RunEvent = { v: 1, tenant: 'default', type: 'RunRequested', runId, at, task: 'echo', input: { x: 1 }, retries: 1, executionTimeoutMs: 5000 };
const dispatched = (attempt: number, workerId = 'w1', t = at + attempt): RunEvent => ({
  v: 1,
  tenant: 'default',
  type: 'RunDispatched',
  runId,
  at: t,
  task: 'echo',
  input: { x: 1 },
  attempt,
  workerId,
  deadlineAt: t + 5000,
  retriesLeft: 1,
  retryDelayMs: 500,
});
const fold = (events: RunEvent[]): RunState | undefined => events.reduce<RunState | undefined>(evolveRun, undefined);

describe('evolveRun', () => {
  test('a completed run has its output, attempt and timestamps', () => {
    const run = fold([
      requested,
      dispatched(1),
      { v: 1, tenant: 'default', type: 'RunStarted', runId, at: at + 10, attempt: 1, workerId: 'w1' },
      { v: 1, tenant: 'default', type: 'RunCompleted', runId, at: at + 20, attempt: 1, output: 'ok' },
    ])!;
    assert.equal(run.status, 'COMPLETED');
    assert.equal(run.output, 'ok');
    assert.equal(run.attempt, 1);
    assert.equal(run.startedAt, at + 10);
    assert.equal(run.finishedAt, at + 20);
  });

  test('replaying with duplicates gives the same state', () => {
    const events: RunEvent[] = [requested, dispatched(1), { v: 1, tenant: 'default', type: 'RunStarted', runId, at: at + 10, attempt: 1, workerId: 'w1' }];
    const once = fold(events);
    const twice = fold(events.flatMap((e) => [e, e]));
    assert.deepEqual(twice, once);
  });

  test('a failure with a retry decision re-queues the run; without one it ends FAILED', () => {
    const error = { name: 'Error', message: 'boom', nonRetryable: false };
    const retrying = fold([requested, dispatched(1), { v: 1, tenant: 'default', type: 'RunFailed', runId, at: at + 5, attempt: 1, error, retry: { willRetry: true, nextAttempt: 2, retryAt: at + 505 } }])!;
    assert.equal(retrying.status, 'QUEUED');
    assert.equal(retrying.phase, 'retrying');
    assert.equal(retrying.nextRetryAt, at + 505);
    const failed = [dispatched(2), { v: 1, tenant: 'default', type: 'RunFailed', runId, at: at + 600, attempt: 2, error, retry: { willRetry: false } } as RunEvent].reduce(evolveRun, retrying)!;
    assert.equal(failed.status, 'FAILED');
    assert.equal(failed.failures, 2);
    assert.deepEqual(failed.error, error);
  });

  test('the first terminal event wins: a late completion after a timeout is ignored', () => {
    const run = fold([
      requested,
      dispatched(1),
      { v: 1, tenant: 'default', type: 'RunTimedOut', runId, at: at + 5000, attempt: 1, timeoutMs: 5000 },
      { v: 1, tenant: 'default', type: 'RunCompleted', runId, at: at + 5001, attempt: 1, output: 'late' },
    ])!;
    assert.equal(run.status, 'TIMED_OUT');
    assert.equal(run.output, null);
    assert.match(run.error!.message, /exceeded its execution timeout of 5000 ms/);
  });

  test('a rejected dispatch puts the run back in the queue with its attempt unspent; only the rejecting worker can reject', () => {
    const rejected: RunEvent = { v: 1, tenant: 'default', type: 'RunRejected', runId, at: at + 5, attempt: 1, workerId: 'w1', reason: 'all 2 slots are busy' };
    const back = fold([requested, dispatched(1), rejected])!;
    assert.deepEqual([back.status, back.phase, back.attempt, back.workerId, back.deadlineAt], ['QUEUED', 'pending', 0, null, null]);
    const redispatched = evolveRun(back, dispatched(1, 'w2', at + 6))!;
    assert.deepEqual([redispatched.attempt, redispatched.workerId], [1, 'w2']);
    assert.equal(evolveRun(redispatched, rejected), redispatched, 'the first worker cannot reject the second one\'s attempt');
  });

  test("a stale attempt's events do not touch the current attempt", () => {
    const run = fold([requested, dispatched(1), dispatched(2, 'w2'), { v: 1, tenant: 'default', type: 'RunCompleted', runId, at: at + 50, attempt: 1, output: 'stale' }])!;
    assert.equal(run.status, 'QUEUED');
    assert.equal(run.attempt, 2);
    assert.equal(run.workerId, 'w2');
  });

  test('events of a run whose request was never seen are ignored', () => {
    assert.equal(evolveRun(undefined, dispatched(1)), undefined);
  });
});

describe('decideRetry', () => {
  const error = { name: 'Error', message: 'x', nonRetryable: false };
  test('retries while retries are left, after the dispatch back-off', () => {
    assert.deepEqual(decideRetry({ attempt: 1, retriesLeft: 2, retryDelayMs: 500 }, error, 100), { willRetry: true, nextAttempt: 2, retryAt: 600 });
  });
  test('does not retry when none are left or the error says so', () => {
    assert.deepEqual(decideRetry({ attempt: 3, retriesLeft: 0, retryDelayMs: 500 }, error, 100), { willRetry: false });
    assert.deepEqual(decideRetry({ attempt: 1, retriesLeft: 5, retryDelayMs: 500 }, { ...error, nonRetryable: true }, 100), { willRetry: false });
  });
  test('back-off doubles and is capped', () => {
    assert.deepEqual([1, 2, 3].map(retryDelayMs), [500, 1000, 2000]);
    assert.equal(retryDelayMs(50), 30_000);
  });
});

describe('planScheduling', () => {
  const policy = { heartbeatTimeoutMs: 15_000 };
  const worker = (workerId: string, slots: number, tasks = ['echo']): WorkerEvent => ({ v: 1, type: 'WorkerRegistered', workerId, at, tenant: 'default', name: workerId, tasks, slots });
  const request = (id: string, t = at): RunEvent => ({ ...requested, runId: id, at: t } as RunEvent);
  const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
  const build = (events: Array<RunEvent | WorkerEvent>): SchedulerState => events.reduce(evolveScheduler, emptySchedulerState());

  test('dispatches queued runs FIFO without exceeding any worker slot', () => {
    const runIds = ids(5);
    const state = build([worker('w1', 2), worker('w2', 1), ...runIds.map((id, i) => request(id, at + i))]);
    const events = planScheduling(state, at + 10, policy);
    assert.equal(events.length, 3);
    assert.deepEqual(events.map((e) => e.runId), runIds.slice(0, 3));
    const perWorker = events.reduce<Record<string, number>>((acc, e) => {
      if (e.type === 'RunDispatched') acc[e.workerId] = (acc[e.workerId] ?? 0) + 1;
      return acc;
    }, {});
    assert.deepEqual(perWorker, { w1: 2, w2: 1 });
  });

  test('decisions on their way to the log: their runs wait, and their dispatches hold their slots', () => {
    const [a, b, c] = ids(3) as [string, string, string];
    const state = build([worker('w1', 2), request(a, at), request(b, at + 1), request(c, at + 2)]);
    // a's dispatch to w1 is being appended: a waits, and w1 has one slot left, which b (next in line) takes.
    const events = planScheduling(state, at + 10, policy, { deferred: (run) => run.runId === a, reserved: new Map([['w1', 1]]) });
    assert.deepEqual(events.map((e) => [e.type, e.runId]), [['RunDispatched', b]]);
    assert.deepEqual(planScheduling(state, at + 10, policy, { reserved: new Map([['w1', 2]]) }), [], 'no slot left');
  });

  test('applying its own dispatches makes the plan settle (no double dispatch)', () => {
    let state = build([worker('w1', 1), request(ids(1)[0]!)]);
    const first = planScheduling(state, at + 1, policy);
    state = first.reduce(evolveScheduler, state);
    assert.deepEqual(planScheduling(state, at + 2, policy), []);
  });

  test('a worker that rejected a dispatch gets none until it reports a free slot', () => {
    const [a, b] = ids(2) as [string, string];
    let state = build([worker('w1', 1), request(a), request(b, at + 1)]);
    const first = planScheduling(state, at + 2, policy);
    assert.equal(first.length, 1);
    state = first.reduce(evolveScheduler, state);
    // Another scheduler filled the slot: the worker refuses this one.
    state = evolveScheduler(state, { v: 1, tenant: 'default', type: 'RunRejected', runId: a, at: at + 3, attempt: 1, workerId: 'w1', reason: 'busy' });
    assert.deepEqual(planScheduling(state, at + 4, policy), [], 'the saturated worker is left alone');
    state = evolveScheduler(state, { v: 1, type: 'WorkerHeartbeat', workerId: 'w1', at: at + 5, activeRuns: 1 });
    assert.deepEqual(planScheduling(state, at + 6, policy), [], 'still full by its own count');
    state = evolveScheduler(state, { v: 1, type: 'WorkerHeartbeat', workerId: 'w1', at: at + 7, activeRuns: 0 });
    const again = planScheduling(state, at + 8, policy);
    assert.deepEqual(again.map((e) => [e.type, e.runId, e.type === 'RunDispatched' && e.attempt]), [['RunDispatched', a, 1]]);
  });

  test('a run for a task no live worker serves stays queued', () => {
    const state = build([worker('w1', 5, ['other']), request(ids(1)[0]!)]);
    assert.deepEqual(planScheduling(state, at + 1, policy), []);
  });

  test('an attempt past its deadline is timed out', () => {
    let state = build([worker('w1', 1), request(runId)]);
    state = planScheduling(state, at, policy).reduce(evolveScheduler, state);
    const events = planScheduling(state, at + 5000, policy);
    assert.deepEqual(events.map((e) => e.type), ['RunTimedOut']);
  });

  test("a dead worker's run goes to a live worker as a new attempt that spends no retry", () => {
    let state = build([worker('w1', 1), worker('w2', 1), { ...requested, executionTimeoutMs: 60_000 } as RunEvent]);
    state = planScheduling(state, at, policy).reduce(evolveScheduler, state);
    const first = [...state.runs.values()][0]!;
    const survivor = first.workerId === 'w1' ? 'w2' : 'w1';
    state = evolveScheduler(state, { v: 1, type: 'WorkerHeartbeat', workerId: survivor, at: at + 14_000, activeRuns: 0 });
    const events = planScheduling(state, at + 16_000, policy);
    assert.equal(events.length, 1);
    const redispatch = events[0]!;
    assert.equal(redispatch.type, 'RunDispatched');
    assert.equal(redispatch.type === 'RunDispatched' && redispatch.workerId, survivor);
    assert.equal(redispatch.type === 'RunDispatched' && redispatch.attempt, 2);
    assert.equal(redispatch.type === 'RunDispatched' && redispatch.retriesLeft, 1);
  });

  test('a cancel request ends the run, whatever its phase', () => {
    const state = build([request(runId), { v: 1, tenant: 'default', type: 'RunCancelRequested', runId, at: at + 1 }]);
    assert.deepEqual(planScheduling(state, at + 2, policy).map((e) => e.type), ['RunCancelled']);
  });

  test('each dispatch is routed to its worker; a move elsewhere stops the attempt on the presumed-dead one', () => {
    let state = build([worker('w1', 1), worker('w2', 1), { ...requested, executionTimeoutMs: 60_000 } as RunEvent]);
    const first = planScheduling(state, at, policy);
    assert.deepEqual(routeToWorkers(state, first), { assignments: first, revocations: [] });
    state = first.reduce(evolveScheduler, state);
    const holder = [...state.runs.values()][0]!.workerId!;
    const survivor = holder === 'w1' ? 'w2' : 'w1';
    state = evolveScheduler(state, { v: 1, type: 'WorkerHeartbeat', workerId: survivor, at: at + 14_000, activeRuns: 0 });
    const moved = planScheduling(state, at + 16_000, policy);
    const routed = routeToWorkers(state, moved);
    assert.deepEqual(routed.assignments.map((d) => [d.workerId, d.attempt]), [[survivor, 2]]);
    assert.deepEqual(routed.revocations.map((r) => [r.workerId, r.attempt, r.finalStatus]), [[holder, 1, undefined]]);
  });

  test('a cancel or a timeout stops the attempt where it runs, with the final status; a queued run needs no worker told', () => {
    let state = build([worker('w1', 1), request(runId)]);
    state = planScheduling(state, at, policy).reduce(evolveScheduler, state);
    const timedOut = routeToWorkers(state, planScheduling(state, at + 5000, policy));
    assert.deepEqual(timedOut.revocations.map((r) => [r.workerId, r.attempt, r.finalStatus]), [['w1', 1, 'TIMED_OUT']]);
    const cancelling = evolveScheduler(state, { v: 1, tenant: 'default', type: 'RunCancelRequested', runId, at: at + 1 });
    const cancelled = routeToWorkers(cancelling, planScheduling(cancelling, at + 2, policy));
    assert.deepEqual(cancelled.revocations.map((r) => [r.workerId, r.finalStatus]), [['w1', 'CANCELLED']]);
    const queued = build([request(runId), { v: 1, tenant: 'default', type: 'RunCancelRequested', runId, at: at + 1 }]);
    assert.deepEqual(routeToWorkers(queued, planScheduling(queued, at + 2, policy)), { assignments: [], revocations: [] });
  });

  test("the plan's cancels and timeouts end their runs' streams; its dispatches end none", () => {
    let state = build([worker('w1', 1), request(runId)]);
    const dispatching = planScheduling(state, at, policy);
    assert.deepEqual(streamEndsOf(dispatching), []);
    state = dispatching.reduce(evolveScheduler, state);
    assert.deepEqual(streamEndsOf(planScheduling(state, at + 5000, policy)), [
      { v: 1, type: 'StreamEnd', runId, tenant: 'default', at: at + 5000, status: 'TIMED_OUT', attempt: 1 },
    ]);
    const queued = build([request(runId), { v: 1, tenant: 'default', type: 'RunCancelRequested', runId, at: at + 1 }]);
    assert.deepEqual(streamEndsOf(planScheduling(queued, at + 2, policy)), [
      { v: 1, type: 'StreamEnd', runId, tenant: 'default', at: at + 2, status: 'CANCELLED' },
    ], 'a run cancelled while queued had no attempt: its end names none');
  });

  test('a retry is dispatched only once its back-off has passed', () => {
    let state = build([worker('w1', 1), request(runId)]);
    state = planScheduling(state, at, policy).reduce(evolveScheduler, state);
    state = evolveScheduler(state, {
      v: 1,
      tenant: 'default',
      type: 'RunFailed',
      runId,
      at: at + 10,
      attempt: 1,
      error: { name: 'Error', message: 'x', nonRetryable: false },
      retry: { willRetry: true, nextAttempt: 2, retryAt: at + 510 },
    });
    assert.deepEqual(planScheduling(state, at + 500, policy), []);
    const due = planScheduling(state, at + 510, policy);
    assert.equal(due.length, 1);
    assert.equal(due[0]!.type === 'RunDispatched' && due[0]!.attempt, 2);
  });

  test('folding in place keeps each run as evolveRun folds it alone, and drops ended runs', () => {
    const [a, b] = ids(2) as [string, string];
    const events: Array<RunEvent | WorkerEvent> = [
      worker('w1', 10),
      request(a),
      request(b, at + 1),
      { ...dispatched(1), runId: a } as RunEvent,
      { ...dispatched(1), runId: b } as RunEvent,
      { v: 1, tenant: 'default', type: 'RunCompleted', runId: b, at: at + 5, attempt: 1, output: 'done' },
    ];
    const state = emptySchedulerState();
    const ended = events.map((e) => foldIntoScheduler(state, e).runEnded);
    assert.deepEqual(ended, [false, false, false, false, false, true], 'only the completion ends a run');
    // The oracle: run a's events folded by themselves.
    const alone = events.filter((e): e is RunEvent => 'runId' in e && e.runId === a).reduce<RunState | undefined>(evolveRun, undefined);
    assert.deepEqual([...state.runs.keys()], [a], 'the ended run is gone');
    assert.deepEqual(state.runs.get(a), alone);
    assert.equal(state.workers.get('w1')?.slots, 10);
    assert.deepEqual(planScheduling(state, at + 20, policy), [], 'nothing to do while the worker lives and time is left');
  });

  test('the pure evolve leaves the state it is given untouched', () => {
    const state = build([worker('w1', 1), request(runId)]);
    const before = structuredClone(state);
    const next = evolveScheduler(state, dispatched(1));
    assert.deepEqual(state, before);
    assert.equal(next.runs.get(runId)?.phase, 'dispatched');
  });
});
