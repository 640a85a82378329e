import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { patchKafkajsRequestQueue, RequestQueue, scheduleCheckPendingRequests } from './kafkajs-request-queue';

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

  test("the patch replaces kafkajs's own method", () => {
    patchKafkajsRequestQueue();
    assert.equal((RequestQueue.prototype as { scheduleCheckPendingRequests?: unknown }).scheduleCheckPendingRequests, scheduleCheckPendingRequests);
  });
});
