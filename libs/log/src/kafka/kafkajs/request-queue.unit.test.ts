import { describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { patchKafkajsRequestQueue, REQUEST_TIMEOUT_SWEEP_MS, RequestQueue, scheduleCheckPendingRequests, scheduleRequestTimeoutCheck } from './request-queue';

function queue(fields: { pending?: unknown[]; throttledUntil?: number } = {}) {
  const q = {
    throttledUntil: fields.throttledUntil ?? -1,
    throttleCheckTimeoutId: null as NodeJS.Timeout | null,
    pending: fields.pending ?? [],
    checks: 0,
    checkPendingRequests() {
      this.checks++;
      scheduleCheckPendingRequests.call(this);
    },
  };
  return q;
}

describe('kafkajs request queue fix', () => {
  test('nothing waiting and no throttle: no timer is armed, so no 1 ms loop', async () => {
    const q = queue();
    scheduleCheckPendingRequests.call(q);
    assert.equal(q.throttleCheckTimeoutId, null);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(q.checks, 0);
  });

  test('a waiting request is checked again after the poll interval', async () => {
    const q = queue({ pending: [{}] });
    scheduleCheckPendingRequests.call(q);
    assert.notEqual(q.throttleCheckTimeoutId, null);
    q.pending.length = 0;
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(q.checks, 1, 'checked once, then no timer once nothing waits');
    assert.equal(q.throttleCheckTimeoutId, null);
  });

  test('a throttle still to end gets one check when it ends', async () => {
    const q = queue({ throttledUntil: Date.now() + 20 });
    scheduleCheckPendingRequests.call(q);
    assert.notEqual(q.throttleCheckTimeoutId, null);
    await new Promise((r) => setTimeout(r, 60));
    // A timer may fire a hair early and re-arm for the rest: at least one check, and then none pending.
    assert.ok(q.checks >= 1);
    assert.equal(q.throttleCheckTimeoutId, null, 'no timer left once the throttle has ended');
  });

  test('a request past its timeout is timed out by the next sweep, once a second rather than every 100 ms', () => {
    mock.timers.enable({ apis: ['setInterval', 'Date'], now: 1_000_000 });
    try {
      const timedOut: string[] = [];
      const request = (id: number, name: string, sentAt: number) => ({
        sentAt,
        requestTimeout: 30_000,
        // As kafkajs's: a timed-out request leaves the in-flight map.
        timeoutRequest: () => {
          timedOut.push(name);
          q.inflight.delete(id);
        },
      });
      const q = {
        enforceRequestTimeout: true,
        requestTimeout: 30_000,
        requestTimeoutIntervalId: undefined as NodeJS.Timeout | undefined,
        inflight: new Map<number, ReturnType<typeof request>>(),
        connected: true,
        isConnected() { return this.connected; },
        destroyed: 0,
        destroy() {
          this.destroyed++;
          clearInterval(this.requestTimeoutIntervalId);
        },
      };
      q.inflight.set(1, request(1, 'late', 1_000_000 - 29_500)).set(2, request(2, 'fresh', 1_000_000));
      scheduleRequestTimeoutCheck.call(q);
      mock.timers.tick(REQUEST_TIMEOUT_SWEEP_MS - 1);
      assert.deepEqual(timedOut, [], 'no sweep before a second has passed');
      mock.timers.tick(1);
      assert.deepEqual(timedOut, ['late'], 'the late request times out (30.5 s after it was sent), the fresh one does not');
      const destroyed = q.destroyed;
      q.connected = false;
      mock.timers.tick(REQUEST_TIMEOUT_SWEEP_MS);
      assert.equal(q.destroyed, destroyed + 1, 'a disconnected queue stops its sweep');
    } finally {
      mock.timers.reset();
    }
  });

  test("the patch replaces kafkajs's own methods", () => {
    patchKafkajsRequestQueue();
    const proto = RequestQueue.prototype as { scheduleCheckPendingRequests?: unknown; scheduleRequestTimeoutCheck?: unknown };
    assert.equal(proto.scheduleCheckPendingRequests, scheduleCheckPendingRequests);
    assert.equal(proto.scheduleRequestTimeoutCheck, scheduleRequestTimeoutCheck);
  });
});
