import type { FinalStatus, StreamRecord, StreamRecords } from '@chute/schemas';
import type { Log, LogRecord, Subscription, Topic, TopicRead } from '@chute/log';
import type { Logger, Metrics } from '@chute/runtime';
import { RecentStreamRecords } from './recent-stream-records';

/** Where a chunk stands in its run's stream: attempts in order, chunks in order within one. */
export interface StreamPosition {
  readonly attempt: number;
  readonly seq: number;
}

export const isAfter = (a: StreamPosition, b: StreamPosition): boolean =>
  a.attempt > b.attempt || (a.attempt === b.attempt && a.seq > b.seq);

/** `N` for the first attempt (the common case, and what SSE ids look like), `A:N` after a retry. */
export function formatPosition(p: StreamPosition): string {
  return p.attempt === 1 ? String(p.seq) : `${p.attempt}:${p.seq}`;
}

export function parsePosition(text: string): StreamPosition | undefined {
  const match = /^(?:([1-9]\d{0,6}):)?(0|[1-9]\d{0,15})$/.exec(text.trim());
  if (!match) return undefined;
  return { attempt: match[1] ? Number(match[1]) : 1, seq: Number(match[2]) };
}

/**
 * What a subscriber is sent. Immutable and shared: the hub makes one per record
 * and hands the same object to every subscriber of the run, so a transport can
 * encode it once for all of them (see `stream-api`).
 */
export type StreamItem =
  | { readonly type: 'chunk'; readonly attempt: number; readonly seq: number; readonly encoding: 'utf8' | 'base64'; readonly data: string }
  /**
   * Sent before the first chunk of an attempt other than the one the
   * subscriber's last chunk belonged to (or, for its first chunk, other than
   * attempt 1): what follows is a retry's output, not more of the same text.
   */
  | { readonly type: 'attempt'; readonly attempt: number }
  | { readonly type: 'end'; readonly status: FinalStatus };

function toItem(record: StreamRecord): StreamItem {
  return record.type === 'StreamEnd'
    ? { type: 'end', status: record.status }
    : { type: 'chunk', attempt: record.attempt, seq: record.seq, encoding: record.encoding, data: record.data };
}

export type CloseReason = 'end' | 'slow' | 'shutdown' | 'client';

/** A transport (chunked HTTP, SSE, WebSocket) as the hub sees it. */
export interface Sink {
  write(item: StreamItem): void;
  /** Bytes written but not yet sent to the client. */
  bufferedBytes(): number;
  close(reason: CloseReason): void;
}

/** Where a subscriber starts: now (drop-before-subscribe), after a position, or the run's first chunk. */
export type StreamFrom = { readonly kind: 'now' } | { readonly kind: 'after'; readonly position: StreamPosition } | { readonly kind: 'start' };

const itemBytes = (item: StreamItem): number => (item.type === 'chunk' ? item.data.length + 64 : 64);

/**
 * One subscriber of one run. Receives records in log order, from replay first
 * (when it asked to resume) and then live; drops anything at or before the last
 * position it delivered, so a replay overlapping the live tail yields no
 * duplicate. Everything it holds for a slow client counts against its budget.
 */
export class StreamSubscriber {
  private sink: Sink | undefined;
  private held: StreamItem[] = [];
  private heldBytes = 0;
  /** Live items that arrived while the replay was still reading. */
  private liveDuringReplay: Array<{ offset: number; item: StreamItem }> = [];
  private last: StreamPosition | undefined;
  private boundary: number | undefined;
  private partition: number | undefined;
  private replaying: boolean;
  private done = false;
  private closedFor: CloseReason | undefined;

  constructor(
    readonly runId: string,
    readonly from: StreamFrom,
    private readonly maxBufferBytes: number,
    private readonly onClose: (subscriber: StreamSubscriber, reason: CloseReason) => void,
  ) {
    this.replaying = from.kind !== 'now';
    if (from.kind === 'after') this.last = from.position;
  }

  /** Why it closed, once it has. */
  get closed(): CloseReason | undefined {
    return this.closedFor;
  }

  /** @internal Records below this offset of the run's partition predate the subscription. */
  setBoundary(offset: number, partition: number): void {
    this.boundary = offset;
    this.partition = partition;
    // Without a replay, what the tail brought while the boundary was being read counts now.
    if (!this.replaying) this.admitQueued();
  }

  /** @internal The run's partition and the offset the subscription began at. */
  position(): { partition: number; boundary: number } {
    return { partition: this.partition ?? 0, boundary: this.boundary ?? 0 };
  }

  /** @internal A live record's item from the hub's tail, with the record's offset. */
  offerLive(offset: number, item: StreamItem): void {
    if (this.done) return;
    if (this.boundary === undefined || this.replaying) {
      this.liveDuringReplay.push({ offset, item });
      return;
    }
    this.admit(offset, item);
  }

  /** @internal A record read back from the log for a resume or replay. */
  offerReplay(record: StreamRecord): void {
    if (!this.done) this.accept(toItem(record));
  }

  /** @internal The replay reached the boundary: what arrived live meanwhile follows, in order. */
  replayDone(): void {
    this.replaying = false;
    this.admitQueued();
  }

  /** Ends the stream with the status of a run that ended before the subscription. */
  endWith(status: FinalStatus): void {
    this.push({ type: 'end', status });
  }

  private admitQueued(): void {
    const queued = this.liveDuringReplay;
    this.liveDuringReplay = [];
    for (const { offset, item } of queued) this.admit(offset, item);
  }

  /**
   * A live item, once the boundary is known. What predates the subscription
   * was replayed if it was asked for, and is dropped otherwise - except the
   * end: drop-before-subscribe drops chunks, and a stream that ended just
   * before its subscriber attached still ends it.
   */
  private admit(offset: number, item: StreamItem): void {
    if (offset >= (this.boundary ?? 0) || (item.type === 'end' && this.from.kind === 'now')) this.accept(item);
  }

  /** Connects the transport; what was held for it goes out first. */
  attach(sink: Sink): void {
    this.sink = sink;
    if (this.closedFor) {
      sink.close(this.closedFor);
      return;
    }
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    for (const item of held) this.write(item);
  }

  /** Detaches and closes (idempotent): the client left, the gateway stops, or the stream is over. */
  close(reason: CloseReason): void {
    if (this.closedFor) return;
    this.closedFor = reason;
    this.done = true;
    this.onClose(this, reason);
    this.sink?.close(reason);
  }

  private accept(item: StreamItem): void {
    if (item.type === 'chunk') {
      if (this.last && !isAfter(item, this.last)) return;
      if (item.attempt !== (this.last?.attempt ?? 1)) this.push({ type: 'attempt', attempt: item.attempt });
      this.last = item;
    }
    this.push(item);
  }

  private push(item: StreamItem): void {
    if (this.done) return;
    // After the end nothing more is accepted, though the end itself may still wait for a transport.
    if (item.type === 'end') this.done = true;
    if (this.sink) {
      this.write(item);
      return;
    }
    this.held.push(item);
    this.heldBytes += itemBytes(item);
    if (this.heldBytes > this.maxBufferBytes) this.close('slow');
  }

  private write(item: StreamItem): void {
    if (this.closedFor) return;
    this.sink!.write(item);
    if (item.type === 'end') this.close('end');
    // The socket buffers what the client has not read; past the budget the client is too slow.
    else if (this.sink!.bufferedBytes() > this.maxBufferBytes) this.close('slow');
  }
}

export interface StreamHubOptions {
  log: Log;
  /**
   * The stream topic: records are decoded through it, so one that does not
   * decode is logged, counted in `chute_log_invalid_records_total` and skipped.
   */
  records: Topic<typeof StreamRecords.schema>;
  logger: Logger;
  metrics: Metrics;
  /** Per subscriber: bytes held for a client that does not read. @default 4 MiB */
  maxBufferBytes?: number;
  /** Bytes of recent stream records kept in memory for replays (see RecentStreamRecords). @default 32 MiB */
  recentBytes?: number;
}

/** Clocks of other machines may run behind ours: a run's records may carry times this much before its request. */
const CLOCK_SKEW_MS = 5000;

/**
 * The gateway's one consumer of the stream topic, fanning records out in memory
 * to the subscribers of each run. A record for a run nobody follows is skipped
 * by its key, without being decoded.
 */
export class StreamHub {
  private readonly subscribers = new Map<string, Set<StreamSubscriber>>();
  private tail: Subscription | undefined;
  private readonly maxBufferBytes: number;
  private readonly gauge;
  private readonly slowClosed;
  private readonly delivered;
  private readonly replays;
  private readonly recent: RecentStreamRecords;

  constructor(private readonly options: StreamHubOptions) {
    this.recent = new RecentStreamRecords(options.recentBytes ?? 32 * 1024 * 1024);
    this.maxBufferBytes = options.maxBufferBytes ?? 4 * 1024 * 1024;
    this.gauge = options.metrics.gauge('chute_gateway_stream_subscribers', 'Stream subscribers attached now.');
    this.slowClosed = options.metrics.counter('chute_gateway_stream_slow_closed_total', 'Subscribers closed for not reading (past their buffer).');
    this.delivered = options.metrics.counter('chute_gateway_stream_records_total', 'Stream records fanned out to subscribers.');
    this.replays = options.metrics.counter('chute_gateway_stream_replays_total', 'Replays of what came before a subscription, by where they were read from (memory or log).');
  }

  /** Reads the stream topic from its end on, in a reader of its own (see {@link StreamHub.reading}). */
  async start(): Promise<void> {
    this.tail = await this.options.log.readAll([await this.reading()]);
  }

  /**
   * The hub's read of the stream topic, from its end on, for a reader that
   * serves other reads of the process too (the gateway reads run events in
   * the same one); whoever starts it stops it.
   */
  async reading(): Promise<TopicRead> {
    const { log, records } = this.options;
    const ends = await log.endOffsets(records.name);
    this.recent.startAt(ends, Date.now());
    return { topic: records.name, from: ends, handler: (batch) => this.fanOut(batch) };
  }

  async stop(): Promise<void> {
    for (const set of [...this.subscribers.values()]) for (const s of [...set]) s.close('shutdown');
    await this.tail?.stop();
  }

  get size(): number {
    let n = 0;
    for (const set of this.subscribers.values()) n += set.size;
    return n;
  }

  /**
   * Subscribes to a run's stream. Registered before the partition's end offset
   * is read, so nothing appended from then on is missed; records below that
   * offset are "before" and only a resume or a replay reads them, from the log
   * (see `begin`).
   */
  async subscribe(runId: string, from: StreamFrom): Promise<StreamSubscriber> {
    const subscriber = new StreamSubscriber(runId, from, this.maxBufferBytes, (s, reason) => this.remove(s, reason));
    let set = this.subscribers.get(runId);
    if (!set) this.subscribers.set(runId, (set = new Set()));
    set.add(subscriber);
    this.gauge.set(this.size);
    try {
      const { log } = this.options;
      const topic = this.options.records.name;
      const partition = await log.partitionOf(topic, runId);
      subscriber.setBoundary((await log.endOffsets(topic)).find((p) => p.partition === partition)!.offset, partition);
    } catch (error) {
      subscriber.close('shutdown');
      throw error;
    }
    return subscriber;
  }

  /**
   * Delivers what came before the subscription, when asked for (a resume or a
   * replay, read from the log from the run's request on), then goes live.
   *
   * @param finalStatus the run's status if it has already ended: the stream
   *   ends with it once whatever was asked for has been delivered.
   * @param createdAt when the run was requested: where a replay starts in the log.
   */
  async begin(subscriber: StreamSubscriber, finalStatus: FinalStatus | undefined, createdAt: number): Promise<void> {
    const { partition, boundary } = subscriber.position();
    if (subscriber.from.kind !== 'now') {
      const since = Math.max(0, createdAt - CLOCK_SKEW_MS);
      const held = await this.heldRecords(subscriber.runId, partition, since, boundary);
      if (held) {
        for (const record of held) {
          const value = this.decode(record);
          if (value) subscriber.offerReplay(value);
        }
      } else {
        const start = await this.options.log.offsetForTime(this.options.records.name, partition, since);
        await this.replay(subscriber, partition, start, boundary);
      }
      this.replays.inc({ from: held ? 'memory' : 'log' });
      subscriber.replayDone();
    } else {
      finalStatus ??= await this.endedBefore(subscriber.runId, partition, boundary);
    }
    if (finalStatus) subscriber.endWith(finalStatus);
  }

  /**
   * The status the run's stream ended with before `boundary`, when this
   * gateway's tail read its end record before the subscriber was there to be
   * offered it (the run's state, read from run-events, may not show the end
   * yet): its last record held below the boundary is the end.
   */
  private async endedBefore(runId: string, partition: number, boundary: number): Promise<FinalStatus | undefined> {
    if (boundary === 0 || !(await this.recent.untilRead(partition, boundary, 2000))) return undefined;
    const last = this.recent.lastRecord(partition, runId, boundary);
    const value = last && this.decode(last);
    return value?.type === 'StreamEnd' ? value.status : undefined;
  }

  /** The run's records before the boundary from memory, when the recent window holds them all (waiting a moment for the tail to reach the boundary). */
  private async heldRecords(runId: string, partition: number, since: number, boundary: number): Promise<readonly LogRecord[] | undefined> {
    if (!this.recent.covers(partition, since)) return undefined;
    if (!(await this.recent.untilRead(partition, boundary, 2000))) return undefined;
    return this.recent.runRecords(partition, runId, since, boundary);
  }

  private async replay(subscriber: StreamSubscriber, partition: number, start: number, boundary: number): Promise<void> {
    if (start >= boundary) return;
    const { log } = this.options;
    const topic = this.options.records.name;
    let reached!: () => void;
    const done = new Promise<void>((resolve) => (reached = resolve));
    const reader = await log.read(topic, [{ partition, offset: start }], (records, next) => {
      for (const record of records) {
        if (record.offset >= boundary) break;
        if (record.key === subscriber.runId) {
          const value = this.decode(record);
          if (value) subscriber.offerReplay(value);
        }
      }
      if (next.offset >= boundary) reached();
    });
    try {
      await done;
    } finally {
      await reader.stop();
    }
  }

  private fanOut(records: readonly LogRecord[]): void {
    for (const record of records) {
      this.recent.add(record);
      const set = this.subscribers.get(record.key);
      if (!set) continue;
      const value = this.decode(record);
      if (!value) continue;
      const item = toItem(value);
      for (const subscriber of set) subscriber.offerLive(record.offset, item);
      this.delivered.inc({}, set.size);
    }
  }

  /** Decoded one at a time: only the records of followed runs are decoded at all. */
  private decode(record: LogRecord): StreamRecord | undefined {
    return this.options.records.decode([record])[0]?.value;
  }

  private remove(subscriber: StreamSubscriber, reason: CloseReason): void {
    const set = this.subscribers.get(subscriber.runId);
    if (set?.delete(subscriber) && set.size === 0) this.subscribers.delete(subscriber.runId);
    if (reason === 'slow') this.slowClosed.inc();
    this.gauge.set(this.size);
  }
}
