import { randomUUID } from 'node:crypto';
import { DISPATCH_WORKER_HEADER, type DispatchRecord } from '@chute/schemas';
import type { DecodedHandler, Log, LogRecord, PlatformTopics, Subscription } from '@chute/log';

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

/** Where a worker host gets the dispatches addressed to it. */
export interface DispatchSource {
  /**
   * Delivers the dispatches addressed to `workerId`, from now on, until the
   * returned subscription stops. `onFetched` sees every record fetched on the
   * worker's partition, before it is decoded or skipped: for counting what
   * reading costs (`own`: addressed to this worker).
   */
  subscribe(workerId: string, handler: (dispatch: DispatchRecord) => void, onFetched?: (record: LogRecord, own: boolean) => void): Promise<Subscription>;
}

interface Route {
  readonly handler: (dispatch: DispatchRecord) => void;
  readonly onFetched: (record: LogRecord, own: boolean) => void;
}

interface PartitionReader {
  readonly routes: Map<string, Route>;
  readonly opened: Promise<Subscription>;
}

/**
 * The dispatch topic read once per process, however many workers the process
 * hosts (a gateway hosts one per worker connected over the worker protocol):
 * each partition some hosted worker hashes to has one reader, from its end as
 * of the first such worker, and each record goes by its header, and only then
 * decoded, to the worker it names. A record for a worker hosted elsewhere is
 * skipped undecoded. A partition's reader stops with its last worker.
 */
export class DispatchRouter implements DispatchSource {
  private readonly readers = new Map<number, PartitionReader>();

  constructor(
    private readonly log: Log,
    private readonly topics: PlatformTopics,
    /** Told how many partitions it reads after each change, for a gauge. */
    private readonly onReaders: (count: number) => void = () => undefined,
  ) {}

  async subscribe(workerId: string, handler: (dispatch: DispatchRecord) => void, onFetched: (record: LogRecord, own: boolean) => void = () => undefined): Promise<Subscription> {
    const partition = await this.log.partitionOf(this.topics.dispatch.name, workerId);
    let reader = this.readers.get(partition);
    if (!reader) {
      const routes = new Map<string, Route>();
      reader = { routes, opened: this.open(partition, routes) };
      this.readers.set(partition, reader);
      this.onReaders(this.readers.size);
    }
    reader.routes.set(workerId, { handler, onFetched });
    let subscription: Subscription;
    try {
      subscription = await reader.opened;
    } catch (error) {
      await this.leave(partition, reader, workerId);
      throw error;
    }
    let left: Promise<void> | undefined;
    return {
      stop: () => (left ??= this.leave(partition, reader, workerId)),
      health: () => subscription.health(),
    };
  }

  private async open(partition: number, routes: ReadonlyMap<string, Route>): Promise<Subscription> {
    const end = (await this.log.endOffsets(this.topics.dispatch.name)).find((p) => p.partition === partition)?.offset ?? 0;
    return this.topics.dispatch.read(
      [{ partition, offset: end }],
      (batch) => {
        for (const { value, record } of batch) routes.get(record.headers[DISPATCH_WORKER_HEADER] ?? '')?.handler(value);
      },
      {
        accept: (record) => {
          const addressee = routes.get(record.headers[DISPATCH_WORKER_HEADER] ?? '');
          if (addressee) addressee.onFetched(record, true);
          else for (const route of routes.values()) route.onFetched(record, false);
          return addressee !== undefined;
        },
      },
    );
  }

  private async leave(partition: number, reader: PartitionReader, workerId: string): Promise<void> {
    reader.routes.delete(workerId);
    if (reader.routes.size > 0 || this.readers.get(partition) !== reader) return;
    this.readers.delete(partition);
    this.onReaders(this.readers.size);
    const subscription = await reader.opened.catch(() => undefined);
    await subscription?.stop();
  }
}
