import { deliverWithRetry } from '../retry';
import {
  AppenderNotClaimedError,
  FencedError,
  MAX_RECORD_BYTES,
  RecordTooLargeError,
  UnknownTopicError,
  type AppendRecord,
  type BatchHandler,
  type CommitOffset,
  type CommittedOffset,
  type ConsumeOptions,
  type GroupSubscription,
  type Log,
  type LogRecord,
  type PartitionOffset,
  type ReadOptions,
  type Subscription,
  type SubscriptionHealth,
  type TopicRead,
  type TopicSpec,
  type ExclusiveAppender,
  type TopicRecords,
} from '../types';

const MAX_BATCH = 500;

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

class Partition {
  /** Every offset's entry, commit markers included (as empty records), so an offset is an index. */
  readonly records: LogRecord[] = [];
  /** Offsets that hold an exclusive append's commit marker: they take an offset, as Kafka's do, but reach no reader. */
  private readonly markers = new Set<number>();
  private waiters: Array<() => void> = [];

  constructor(readonly index: number) {}

  push(record: LogRecord): void {
    this.records.push(record);
    this.wake();
  }

  pushMarker(topic: string, timestamp: number): void {
    const offset = this.records.length;
    this.markers.add(offset);
    this.push({ topic, partition: this.index, offset, key: '', value: Buffer.alloc(0), timestamp, headers: NO_HEADERS });
  }

  isMarker(offset: number): boolean {
    return this.markers.size > 0 && this.markers.has(offset);
  }

  /** Resolves on the next append (or an explicit wake, used by stop). */
  next(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** Reads one partition from a position, one batch at a time, until stopped. */
class PartitionReader {
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(
    private readonly partition: Partition,
    private position: number,
    private readonly handler: BatchHandler,
    private readonly options: ReadOptions,
    private readonly onHandled: (nextOffset: number) => void = () => undefined,
  ) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      if (this.position >= this.partition.records.length) {
        await this.partition.next();
        continue;
      }
      const slice = this.partition.records.slice(this.position, this.position + MAX_BATCH);
      const batch = slice.filter((r) => !this.partition.isMarker(r.offset));
      const next = { partition: this.partition.index, offset: this.position + slice.length };
      const ok = await deliverWithRetry(this.handler, batch, next, this.options, () => this.stopped);
      if (!ok) return;
      this.position = next.offset;
      this.onHandled(this.position);
    }
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.partition.wake();
    return this.done;
  }
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let result: Promise<void> | undefined;
  return () => (result ??= fn());
}

interface Member {
  readonly options: ConsumeOptions;
  readers: PartitionReader[];
  /** `topic\u0000partition` of what it owns in the current assignment. */
  readonly owned: Set<string>;
}

/** A consumer group: committed offsets survive members leaving and rejoining. */
class Group {
  readonly committed = new Map<string, number>();
  readonly metadata = new Map<string, string | null>();
  private members: Member[] = [];
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly log: EmbeddedLog) {}

  join(member: Member): Promise<void> {
    return this.serialize(async () => {
      this.members.push(member);
      await this.rebalance();
    });
  }

  leave(member: Member): Promise<void> {
    return this.serialize(async () => {
      await Promise.all(member.readers.map((r) => r.stop()));
      member.readers = [];
      member.owned.clear();
      this.members = this.members.filter((m) => m !== member);
      await this.rebalance();
    });
  }

  /** Commits for a member, refused for a partition it does not own now (as Kafka refuses a stale generation). */
  commit(member: Member, offsets: readonly CommitOffset[]): void {
    for (const o of offsets) {
      const key = `${o.topic}\u0000${o.partition}`;
      if (!member.owned.has(key)) throw new Error(`this member does not own ${o.topic} partition ${o.partition}`);
    }
    for (const o of offsets) {
      const key = `${o.topic}\u0000${o.partition}`;
      this.committed.set(key, o.offset);
      this.metadata.set(key, o.metadata ?? null);
    }
  }

  // Joins and leaves are serialized so two rebalances never interleave.
  private serialize(fn: () => Promise<void>): Promise<void> {
    const next = this.queue.then(fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * Stops every reader (its member's partitions are revoked), then splits all
   * partitions round-robin over the members, as Kafka's eager rebalance does.
   */
  private async rebalance(): Promise<void> {
    for (const m of this.members) m.options.onRevoked?.();
    await Promise.all(this.members.flatMap((m) => m.readers.map((r) => r.stop())));
    for (const m of this.members) {
      m.readers = [];
      m.owned.clear();
    }
    if (this.members.length === 0) return;
    const topics = [...new Set(this.members.flatMap((m) => m.options.topics))].sort();
    const assigned = new Map<Member, Map<string, number[]>>(this.members.map((m) => [m, new Map()]));
    let i = 0;
    for (const topic of topics) {
      this.log.partitions(topic).forEach((_, index) => {
        const member = this.members[i++ % this.members.length]!;
        const own = assigned.get(member)!;
        own.set(topic, [...(own.get(topic) ?? []), index]);
      });
    }
    for (const [member, own] of assigned) {
      const positions = new Map<string, number>();
      const sought = await member.options.onAssigned?.([...own].map(([topic, partitions]) => ({ topic, partitions })));
      for (const p of sought ?? []) positions.set(`${p.topic}\u0000${p.partition}`, p.offset);
      for (const [topic, indexes] of own) {
        for (const index of indexes) {
          const partition = this.log.partitions(topic)[index]!;
          const key = `${topic}\u0000${index}`;
          member.owned.add(key);
          if (!this.committed.has(key)) {
            this.committed.set(key, (member.options.fromBeginning ?? true) ? 0 : partition.records.length);
          }
          const commit = member.options.commit ?? true;
          member.readers.push(
            new PartitionReader(partition, positions.get(key) ?? this.committed.get(key)!, member.options.handler, member.options, (next) => {
              if (commit) this.committed.set(key, next);
            }),
          );
        }
      }
    }
  }
}

/** FNV-1a: a stable key → partition mapping, so one key's records stay in one partition. */
function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The log in process memory, with the Kafka implementation's semantics: for the
 * one-process quick start and fast unit tests. Nothing survives the process.
 */
export class EmbeddedLog implements Log {
  readonly kind = 'embedded' as const;
  private readonly topics: Map<string, Partition[]>;
  private readonly groups: Map<string, Group>;
  /** The latest claim of each exclusive appender id. */
  private readonly claims: Map<string, number>;
  private readonly open = new Set<Subscription>();
  private readonly appenders = new Set<EmbeddedExclusiveAppender>();
  private stopping: Promise<void> | undefined;

  constructor(shared?: EmbeddedLog) {
    this.topics = shared ? shared.topics : new Map();
    this.groups = shared ? shared.groups : new Map();
    this.claims = shared ? shared.claims : new Map();
  }

  /**
   * Another client of the same log, as each service of a one-process platform
   * gets its own connection to a broker: the records and groups are shared,
   * and stopping it stops only its own subscriptions.
   */
  connect(): EmbeddedLog {
    return new EmbeddedLog(this);
  }

  async start(): Promise<void> {}

  stop(): Promise<void> {
    return (this.stopping ??= Promise.all([...[...this.open].map((s) => s.stop()), ...[...this.appenders].map((a) => a.stop())]).then(() => undefined));
  }

  async ensureTopics(topics: readonly TopicSpec[]): Promise<void> {
    for (const { name, partitions } of topics) {
      if (!this.topics.has(name)) this.topics.set(name, Array.from({ length: partitions }, (_, index) => new Partition(index)));
    }
  }

  /** @internal the partitions of a topic, for readers and groups. */
  partitions(topic: string): Partition[] {
    const partitions = this.topics.get(topic);
    if (!partitions) throw new UnknownTopicError(topic);
    return partitions;
  }

  async append(topic: string, records: readonly AppendRecord[]): Promise<void> {
    this.write([this.encode(topic, records)]);
  }

  exclusiveAppender(id: string): ExclusiveAppender {
    const appender = new EmbeddedExclusiveAppender(id, {
      claim: () => {
        const claim = (this.claims.get(id) ?? 0) + 1;
        this.claims.set(id, claim);
        return claim;
      },
      latestClaim: () => this.claims.get(id),
      write: (batches) => {
        const encoded = batches.map((b) => this.encode(b.topic, b.records));
        const touched = this.write(encoded);
        const timestamp = Date.now();
        for (const [topic, partition] of touched) partition.pushMarker(topic, timestamp);
      },
      stopped: () => this.appenders.delete(appender),
    });
    this.appenders.add(appender);
    return appender;
  }

  /** Checks a topic's records (it exists, each fits) without writing anything. */
  private encode(topic: string, records: readonly AppendRecord[]): EncodedAppend {
    const partitions = this.partitions(topic);
    const encoded = records.map((r) => ({
      key: r.key,
      value: typeof r.value === 'string' ? Buffer.from(r.value) : r.value,
      headers: r.headers ? { ...r.headers } : NO_HEADERS,
    }));
    for (const r of encoded) if (r.value.length > MAX_RECORD_BYTES) throw new RecordTooLargeError(r.value.length);
    return { topic, partitions, records: encoded };
  }

  /** Writes checked records in one synchronous step; returns the partitions written to. */
  private write(appends: readonly EncodedAppend[]): [string, Partition][] {
    const timestamp = Date.now();
    const touched = new Map<Partition, string>();
    for (const { topic, partitions, records } of appends) {
      for (const { key, value, headers } of records) {
        const index = hashKey(key) % partitions.length;
        const partition = partitions[index]!;
        partition.push({ topic, partition: index, offset: partition.records.length, key, value, timestamp, headers });
        touched.set(partition, topic);
      }
    }
    return [...touched].map(([partition, topic]) => [topic, partition]);
  }

  async endOffsets(topic: string): Promise<PartitionOffset[]> {
    return this.partitions(topic).map((p, partition) => ({ partition, offset: p.records.length }));
  }

  async partitionOf(topic: string, key: string): Promise<number> {
    return hashKey(key) % this.partitions(topic).length;
  }

  async offsetForTime(topic: string, partition: number, timestamp: number): Promise<number> {
    const records = this.partitions(topic)[partition]?.records;
    if (!records) throw new RangeError(`topic ${topic} has no partition ${partition}`);
    const index = records.findIndex((r) => r.timestamp >= timestamp);
    return index < 0 ? records.length : index;
  }

  async tail(topic: string, handler: BatchHandler, options: ReadOptions = {}): Promise<Subscription> {
    return this.read(topic, await this.endOffsets(topic), handler, options);
  }

  async read(
    topic: string,
    from: readonly PartitionOffset[],
    handler: BatchHandler,
    options: ReadOptions = {},
  ): Promise<Subscription> {
    const partitions = this.partitions(topic);
    const readers = from.map(({ partition, offset }) => {
      const p = partitions[partition];
      if (!p) throw new RangeError(`topic ${topic} has no partition ${partition}`);
      return new PartitionReader(p, offset, handler, options);
    });
    return this.track(`read ${topic}`, async () => {
      await Promise.all(readers.map((r) => r.stop()));
    });
  }

  async readAll(reads: readonly TopicRead[], options: ReadOptions = {}): Promise<Subscription> {
    const subscriptions = await Promise.all(reads.map((r) => this.read(r.topic, r.from, r.handler, options)));
    return this.track(`read ${reads.map((r) => r.topic).join(', ')}`, async () => {
      await Promise.all(subscriptions.map((s) => s.stop()));
    });
  }

  async consume(options: ConsumeOptions): Promise<GroupSubscription> {
    for (const topic of options.topics) this.partitions(topic);
    let group = this.groups.get(options.group);
    if (!group) this.groups.set(options.group, (group = new Group(this)));
    const member: Member = { options, readers: [], owned: new Set() };
    await group.join(member);
    const joined = group;
    const subscription = this.track(options.group, () => joined.leave(member));
    return { ...subscription, commit: async (offsets) => joined.commit(member, offsets) };
  }

  async committedOffsets(group: string, topic: string): Promise<CommittedOffset[]> {
    const committed = this.groups.get(group);
    if (!committed) return [];
    return this.partitions(topic).flatMap((_, partition) => {
      const key = `${topic}\u0000${partition}`;
      const offset = committed.committed.get(key);
      return offset === undefined ? [] : [{ partition, offset, metadata: committed.metadata.get(key) ?? null }];
    });
  }

  /** In process nothing is ever lost: an open subscription is always consuming. */
  health(): SubscriptionHealth[] {
    return [...this.open].map((s) => s.health());
  }

  private track(name: string, stop: () => Promise<void>): Subscription {
    const since = Date.now();
    let stopped = false;
    const subscription: Subscription = {
      stop: once(async () => {
        await stop();
        stopped = true;
        this.open.delete(subscription);
      }),
      health: () => ({ name, state: stopped ? 'stopped' : 'consuming', since }),
    };
    this.open.add(subscription);
    return subscription;
  }
}

interface EncodedAppend {
  readonly topic: string;
  readonly partitions: readonly Partition[];
  readonly records: readonly { key: string; value: Buffer; headers: Readonly<Record<string, string>> }[];
}

/** What an embedded exclusive appender needs of its log. */
interface ClaimRegistry {
  /** Takes the id; returns this claim's number (the latest, from now on). */
  claim(): number;
  latestClaim(): number | undefined;
  /** Checks and writes the batches at once, each touched partition closed by a commit marker. */
  write(batches: readonly TopicRecords[]): void;
  stopped(): void;
}

/**
 * In one process an append is one synchronous step, so all-or-nothing comes
 * free; fencing is a claim number per id that only the latest claimant holds.
 * Each append leaves a commit marker in the partitions it wrote, as Kafka's
 * transactions do, so readers meet the same offsets that reach no handler.
 */
class EmbeddedExclusiveAppender implements ExclusiveAppender {
  private claimed: number | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly id: string,
    private readonly registry: ClaimRegistry,
  ) {}

  async claim(): Promise<void> {
    if (this.stopping) throw new Error(`appender ${this.id} is stopped`);
    this.claimed = this.registry.claim();
  }

  async append(batches: readonly TopicRecords[]): Promise<void> {
    if (this.stopping) throw new Error(`appender ${this.id} is stopped`);
    if (this.claimed === undefined) throw new AppenderNotClaimedError(this.id, 'never-claimed');
    if (this.registry.latestClaim() !== this.claimed) throw new FencedError(this.id);
    if (batches.every((b) => b.records.length === 0)) return;
    this.registry.write(batches);
  }

  stop(): Promise<void> {
    return (this.stopping ??= (async () => this.registry.stopped())());
  }
}
