// A lingering consumer (the projector's) asks the broker to hold each fetch
// until it has gathered LINGER_MIN_BYTES or its linger has passed: under load
// that makes large batches, but at rest the fetch comes back empty after every
// linger, so an idle projector polled its two groups every 50 ms (52 ms of CPU
// a second, the most of any service at rest). kafkajs reads `minBytes` and
// `maxWaitTime` from its consumer group on every fetch, so this makes them
// follow the traffic: after a fetch that brought nothing, the next one returns
// at the first record, as any other consumer's does; after one that brought
// records, it lingers again to gather the rest of the burst.

interface Batch {
  isEmpty(): boolean;
}

interface ConsumerGroupInternals {
  groupId: string;
  minBytes: number;
  maxWaitTime: number;
  fetch(nodeId: string): Promise<Batch[]>;
}

/** kafkajs's internal class (no types ship for it); kafkajs is pinned, so its path is known. */
const ConsumerGroup = require('kafkajs/src/consumer/consumerGroup.js') as { prototype: ConsumerGroupInternals };

export interface LingerWaits {
  /** While records come: gather this many bytes... */
  readonly minBytes: number;
  /** ...or wait this long. */
  readonly lingerMs: number;
  /** At rest: how long a fetch waits for a first record. */
  readonly idleWaitMs: number;
}

/** group id -> its waits. */
const lingering = new Map<string, LingerWaits>();
/** Per consumer group instance: the broker nodes whose last fetch brought nothing. */
const idleNodes = new WeakMap<ConsumerGroupInternals, Set<string>>();

/** Makes the consumer group `groupId` linger only while records come. */
export function registerLinger(groupId: string, waits: LingerWaits): void {
  lingering.set(groupId, waits);
  patch();
}

let patched = false;

function patch(): void {
  if (patched) return;
  const original = ConsumerGroup.prototype.fetch;
  if (typeof original !== 'function') throw new Error('kafkajs ConsumerGroup has no fetch: the pinned kafkajs changed; review this patch');
  ConsumerGroup.prototype.fetch = async function fetch(this: ConsumerGroupInternals, nodeId: string): Promise<Batch[]> {
    const waits = lingering.get(this.groupId);
    if (!waits) return original.call(this, nodeId);
    let idle = idleNodes.get(this);
    if (!idle) idleNodes.set(this, (idle = new Set()));
    const atRest = idle.has(nodeId);
    this.minBytes = atRest ? 1 : waits.minBytes;
    this.maxWaitTime = atRest ? waits.idleWaitMs : waits.lingerMs;
    const batches = await original.call(this, nodeId);
    if (batches.every((batch) => batch.isEmpty())) idle.add(nodeId);
    else idle.delete(nodeId);
    return batches;
  };
  patched = true;
}
