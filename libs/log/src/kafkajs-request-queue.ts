// kafkajs 2.2.4 keeps a 1 ms timer loop alive on every connection
// (tulios/kafkajs#1556, #1704, fix proposed in #1667, never released):
// RequestQueue.scheduleCheckPendingRequests re-arms a setTimeout with a negative
// delay even when no request waits and nothing is throttled, so each
// connection wakes its process ~1,000 times a second. Measured here: ~40 ms of
// CPU per second per idle service, and a large share of the CPU under load.
// This puts the fix on the class's prototype: a timer is armed only when a
// request waits (as before, so a marginal throttle still gets its check,
// tulios/kafkajs#1532) or a throttle has yet to end.

/** kafkajs's internal class (no types ship for it); kafkajs is pinned, so its path is known. */
export const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as { prototype: object };

/** kafkajs's own poll interval for requests waiting behind the in-flight limit. */
const CHECK_PENDING_REQUESTS_INTERVAL_MS = 10;

interface QueueFields {
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  pending: unknown[];
  checkPendingRequests(): void;
}

export function scheduleCheckPendingRequests(this: QueueFields): void {
  if (this.throttleCheckTimeoutId) return;
  let delay = this.throttledUntil - Date.now();
  if (this.pending.length > 0) delay = delay > 0 ? delay : CHECK_PENDING_REQUESTS_INTERVAL_MS;
  else if (delay <= 0) return;
  this.throttleCheckTimeoutId = setTimeout(() => {
    this.throttleCheckTimeoutId = null;
    this.checkPendingRequests();
  }, delay);
}

let patched = false;

/** Installs the fix once per process; kafkajs is pinned, so the method it replaces is known. */
export function patchKafkajsRequestQueue(): void {
  if (patched) return;
  const proto = RequestQueue.prototype as { scheduleCheckPendingRequests?: unknown };
  if (typeof proto.scheduleCheckPendingRequests !== 'function') {
    throw new Error('kafkajs RequestQueue has no scheduleCheckPendingRequests: the pinned kafkajs changed; review this patch');
  }
  proto.scheduleCheckPendingRequests = scheduleCheckPendingRequests;
  patched = true;
}
