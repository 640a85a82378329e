import type { LogRecord, PartitionOffset } from '@chute/log';

/** Records oldest first; those before `head` are evicted (dropped from the array now and then, not one by one). */
interface Queue {
  readonly records: LogRecord[];
  head: number;
}

/** One partition's window: the records held, and an index of them by run. */
interface PartitionWindow extends Queue {
  readonly byRun: Map<string, Queue>;
  /** The offset after the last record seen: how far the tail has read this partition. */
  next: number;
  /** Every record of the partition written after this time is held (the tail's start, then the newest evicted record's time). */
  coveredSince: number;
}

/**
 * The stream records the gateway's tail saw lately, per partition, in offset
 * order, up to a byte budget (oldest evicted first). A subscriber that asks for
 * a run from its start usually attaches a moment after the trigger: its
 * replay is read from here, not from the log, where each replay costs a
 * consumer-group join (tens of milliseconds) and the broker's work.
 *
 * Every record a partition's tail delivered since it started is held, until
 * evicted, so a run begun after the tail started (and after the newest record
 * evicted) has all its records here; for any other, `covers` says so and the
 * hub reads the log.
 */
export class RecentStreamRecords {
  private readonly partitions = new Map<number, PartitionWindow>();
  /** Partitions in the order their records were added: the front is where the oldest record is. */
  private readonly order: number[] = [];
  private orderHead = 0;
  private bytes = 0;
  private readonly waiters = new Map<number, Array<{ offset: number; resolve: () => void }>>();

  constructor(private readonly maxBytes: number) {}

  /** The tail starts at these offsets, now: what was written before is not held. */
  startAt(from: readonly PartitionOffset[], at: number): void {
    for (const { partition, offset } of from) this.partitions.set(partition, { records: [], head: 0, byRun: new Map(), next: offset, coveredSince: at });
  }

  /** A record the tail delivered; a partition's records come in offset order. */
  add(record: LogRecord): void {
    let window = this.partitions.get(record.partition);
    // A partition the tail was not started on (added since): nothing of it counts as held.
    if (!window) this.partitions.set(record.partition, (window = { records: [], head: 0, byRun: new Map(), next: record.offset, coveredSince: Infinity }));
    // A copy: a slice would keep the whole fetched batch's buffer alive.
    const held: LogRecord = { ...record, value: Buffer.from(record.value) };
    window.records.push(held);
    const run = window.byRun.get(record.key);
    if (run) run.records.push(held);
    else window.byRun.set(record.key, { records: [held], head: 0 });
    window.next = record.offset + 1;
    this.order.push(record.partition);
    this.bytes += held.value.length;
    while (this.bytes > this.maxBytes) this.evictOldest();
    this.wake(record.partition, window.next);
  }

  /**
   * The run's records below `boundary`, when this window holds every one of
   * them: it covers `since` (the earliest the run's first record can have been
   * written) and the tail has read up to `boundary` (see `untilRead`).
   * Undefined otherwise: read the log.
   */
  runRecords(partition: number, runId: string, since: number, boundary: number): readonly LogRecord[] | undefined {
    const window = this.partitions.get(partition);
    if (!window || !this.covers(partition, since) || window.next < boundary) return undefined;
    const run = window.byRun.get(runId);
    return run ? run.records.slice(run.head).filter((record) => record.offset < boundary) : [];
  }

  /** The run's last record below `boundary` that is still held, if any. */
  lastRecord(partition: number, runId: string, boundary: number): LogRecord | undefined {
    const run = this.partitions.get(partition)?.byRun.get(runId);
    if (!run) return undefined;
    for (let i = run.records.length - 1; i >= run.head; i--) if (run.records[i]!.offset < boundary) return run.records[i];
    return undefined;
  }

  /** Whether every record of the partition written after `since` is held: then a run begun since is all here. */
  covers(partition: number, since: number): boolean {
    const window = this.partitions.get(partition);
    return window !== undefined && window.coveredSince <= since;
  }

  /** Resolves once the tail has read the partition up to `offset`, or after `ms` (false then). */
  untilRead(partition: number, offset: number, ms: number): Promise<boolean> {
    if ((this.partitions.get(partition)?.next ?? -1) >= offset) return Promise.resolve(true);
    return new Promise((resolve) => {
      const list = this.waiters.get(partition) ?? [];
      this.waiters.set(partition, list);
      const waiter = {
        offset,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      const timer = setTimeout(() => {
        const at = list.indexOf(waiter);
        if (at >= 0) list.splice(at, 1);
        resolve(false);
      }, ms);
      list.push(waiter);
    });
  }

  /** Bytes of record values held now. */
  get heldBytes(): number {
    return this.bytes;
  }

  private wake(partition: number, next: number): void {
    const list = this.waiters.get(partition);
    if (!list || list.length === 0) return;
    const ready = list.filter((w) => w.offset <= next);
    if (ready.length === 0) return;
    this.waiters.set(
      partition,
      list.filter((w) => w.offset > next),
    );
    for (const waiter of ready) waiter.resolve();
  }

  private evictOldest(): void {
    const partition = this.order[this.orderHead++]!;
    const window = this.partitions.get(partition)!;
    const record = window.records[window.head++]!;
    window.coveredSince = Math.max(window.coveredSince, record.timestamp);
    const run = window.byRun.get(record.key)!;
    // A run's records are held in offset order: the partition's oldest is its run's oldest.
    run.head++;
    if (run.head === run.records.length) window.byRun.delete(record.key);
    else compact(run);
    compact(window);
    this.bytes -= record.value.length;
    if (this.orderHead > 4096 && this.orderHead * 2 > this.order.length) {
      this.order.splice(0, this.orderHead);
      this.orderHead = 0;
    }
  }
}

/** Drops a queue's evicted prefix once it is most of the array: amortised constant time per eviction. */
function compact(queue: Queue): void {
  if (queue.head < 64 || queue.head * 2 < queue.records.length) return;
  queue.records.splice(0, queue.head);
  queue.head = 0;
}
