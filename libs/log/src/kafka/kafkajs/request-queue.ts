// kafkajs 2.2.4 keeps a 1 ms timer loop alive on every connection
// (tulios/kafkajs#1556, #1704, fix proposed in #1667, never released):
// RequestQueue.scheduleCheckPendingRequests re-arms a setTimeout with a negative
// delay even when no request waits and nothing is throttled, so each
// connection wakes its process ~1,000 times a second. Measured here: ~40 ms of
// CPU per second per idle service, and a large share of the CPU under load.
// This puts the fix on the class's prototype: a timer is armed only when a
// request waits (as before, so a marginal throttle still gets its check,
// tulios/kafkajs#1532) or a throttle has yet to end.
//
// The same class also sweeps its in-flight requests for timeouts every 100 ms
// on every connection (RequestQueue.scheduleRequestTimeoutCheck): ten wake-ups
// a second per connection, about 40 % of an idle service's CPU here. Requests
// time out after 30 s or more, so the patch sweeps once a second instead: a
// timeout fires at most a second late.

/** kafkajs's internal class (no types ship for it); kafkajs is pinned, so its path is known. */
export const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as { prototype: object };

/** kafkajs's own poll interval for requests waiting behind the in-flight limit. */
const CHECK_PENDING_REQUESTS_INTERVAL_MS = 10;

/** How often a connection looks for requests past their timeout. */
export const REQUEST_TIMEOUT_SWEEP_MS = 1000;

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

interface TimeoutFields {
  enforceRequestTimeout: boolean;
  requestTimeout: number;
  requestTimeoutIntervalId?: NodeJS.Timeout;
  inflight: Map<number, { sentAt: number; requestTimeout: number; timeoutRequest(): void }>;
  isConnected(): boolean;
  destroy(): void;
}

/** kafkajs's sweep, as it is, at most once a second. */
export function scheduleRequestTimeoutCheck(this: TimeoutFields): void {
  if (!this.enforceRequestTimeout) return;
  this.destroy();
  this.requestTimeoutIntervalId = setInterval(() => {
    for (const request of this.inflight.values()) {
      if (Date.now() - request.sentAt > request.requestTimeout) request.timeoutRequest();
    }
    if (!this.isConnected()) this.destroy();
  }, Math.min(this.requestTimeout, REQUEST_TIMEOUT_SWEEP_MS));
}

let patched = false;

/** Installs both fixes once per process; kafkajs is pinned, so the method it replaces is known. */
export function patchKafkajsRequestQueue(): void {
  if (patched) return;
  const proto = RequestQueue.prototype as { scheduleCheckPendingRequests?: unknown; scheduleRequestTimeoutCheck?: unknown };
  for (const method of ['scheduleCheckPendingRequests', 'scheduleRequestTimeoutCheck'] as const) {
    if (typeof proto[method] !== 'function') throw new Error(`kafkajs RequestQueue has no ${method}: the pinned kafkajs changed; review this patch`);
  }
  proto.scheduleCheckPendingRequests = scheduleCheckPendingRequests;
  proto.scheduleRequestTimeoutCheck = scheduleRequestTimeoutCheck;
  patched = true;
}
