import { randomUUID } from 'node:crypto';
import { DISPATCH_WORKER_HEADER, type DispatchRecord } from '@chute/schemas';
import type { PlatformTopics } from './topics';
import type { DecodedHandler } from './typed';
import type { Log, LogRecord, Subscription } from './types';

/**
 * Picks an id for a worker named `name` whose dispatch partition no live
 * worker reads, while one is free: then each worker reads its own work only.
 * "Live" is what `window` ms of worker events show; two workers that start at
 * once may still pick the same partition, which costs bytes, not correctness
 * (each skips the other's records by header).
 */
export async function pickWorkerId(log: Log, topics: PlatformTopics, name: string, windowMs: number): Promise<string> {
  const live = new Set<string>();
  for (const event of await topics.workerEvents.readSince(Date.now() - windowMs)) {
    if (event.type === 'WorkerStopped') live.delete(event.workerId);
    else live.add(event.workerId);
  }
  const busy = new Set(await Promise.all([...live].map((id) => log.partitionOf(topics.dispatch.name, id))));
  const partitions = (await log.endOffsets(topics.dispatch.name)).length;
  const candidate = (): string => `${name}-${randomUUID().slice(0, 8)}`;
  if (busy.size >= partitions) return candidate();
  // Each try lands on a free partition with odds (free / partitions): a few dozen tries at worst.
  for (let tries = 0; tries < 1000; tries++) {
    const id = candidate();
    if (!busy.has(await log.partitionOf(topics.dispatch.name, id))) return id;
  }
  return candidate();
}

/**
 * Delivers what the schedulers append for these workers from now on: reads
 * only the dispatch partitions they hash to, and skips by header, undecoded,
 * any record for another worker that shares one.
 */
export async function tailDispatches(
  log: Log,
  topics: PlatformTopics,
  workerIds: () => ReadonlySet<string>,
  partitions: readonly number[],
  handler: DecodedHandler<DispatchRecord>,
  /** Sees every record fetched, before it is decoded or skipped: for counting what reading costs. */
  onFetched: (record: LogRecord, own: boolean) => void = () => undefined,
): Promise<Subscription> {
  const ends = new Map((await log.endOffsets(topics.dispatch.name)).map((p) => [p.partition, p.offset]));
  return topics.dispatch.read(
    partitions.map((partition) => ({ partition, offset: ends.get(partition) ?? 0 })),
    handler,
    {
      accept: (record) => {
        const own = workerIds().has(record.headers[DISPATCH_WORKER_HEADER] ?? '');
        onFetched(record, own);
        return own;
      },
    },
  );
}
