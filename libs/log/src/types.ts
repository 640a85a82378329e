/** One record as read from the log. Offsets are per partition and grow by one per record. */
export interface LogRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: string;
  readonly value: Buffer;
  /** Milliseconds since the epoch at which the log accepted the record. */
  readonly timestamp: number;
  /**
   * The record's headers (Kafka record headers), empty when it has none. A
   * reader can route or filter on them without decoding the value.
   */
  readonly headers: Readonly<Record<string, string>>;
}

export interface AppendRecord {
  readonly key: string;
  readonly value: Buffer | string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface PartitionOffset {
  readonly partition: number;
  readonly offset: number;
}

export interface TopicPartitionOffset extends PartitionOffset {
  readonly topic: string;
}

export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  /** Topic settings the broker applies (Kafka topic configs such as `retention.ms`); the embedded log keeps everything. */
  readonly config?: Readonly<Record<string, string>>;
}

/** A position a group member commits for its group, with a note the group keeps beside it. */
export interface CommitOffset extends TopicPartitionOffset {
  /** Kept with the offset (Kafka's offset metadata, at most 4 KiB): for example where a snapshot of the state up to it is. */
  readonly metadata?: string;
}

/** A group's committed position in one partition. */
export interface CommittedOffset extends PartitionOffset {
  readonly metadata: string | null;
}

/**
 * Receives the records of one partition, in offset order, and `next`: the
 * partition and the offset to read from after this batch. `next` can be past
 * the last record, and `records` empty, where the log moved over offsets that
 * hold nothing for a reader (an exclusive append's commit marker, an aborted
 * append's records): a reader that waits to reach an offset must go by `next`,
 * not by its last record. A handler that throws gets the same batch again
 * after a back-off (at-least-once): make it idempotent.
 */
export type BatchHandler = (records: readonly LogRecord[], next: PartitionOffset) => Promise<void> | void;

/** Records for one topic, as one part of an exclusive append. */
export interface TopicRecords {
  readonly topic: string;
  readonly records: readonly AppendRecord[];
}

/**
 * The one writer of its id at a time, whose appends are all-or-nothing. Its
 * id is a role that moves between processes (the owner of a partition):
 * claiming the id fences whoever claimed it before, so a process that lost the
 * role, even one frozen in the middle of an append, can never append again,
 * and what it left half done is dropped. On Kafka this is a transactional
 * producer; readers see its records once the transaction commits.
 */
export interface ExclusiveAppender {
  /**
   * Takes the id: every appender that claimed it before fails from now on
   * with {@link FencedError}, and an append of theirs still open is aborted
   * (or, if its commit had begun, completed) first. Call it again after an
   * append failed for another reason: it settles that append's outcome too.
   */
  claim(): Promise<void>;
  /**
   * Appends to several topics as one: readers see all of it or none of it,
   * none of it before it resolves, and on Kafka all of it a moment after
   * (once the broker has written the commit markers).
   * @throws FencedError when another appender claimed the id since this one did
   * @throws AppenderNotClaimedError before the first claim, and after an
   *   append whose outcome is unknown (its commit, or its abort, failed):
   *   whether that one landed is unknown until the next claim settles it. An
   *   append that failed and was aborted leaves the claim as it was.
   */
  append(batches: readonly TopicRecords[]): Promise<void>;
  /** Idempotent; waits for the append in flight. */
  stop(): Promise<void>;
}

/**
 * How a subscription's reading goes. `consuming`: its partitions are assigned
 * and being fetched. `recovering`: it lost its connection, group or partitions
 * (a broker restart, a crash of the client) and is coming back by itself.
 */
export type SubscriptionState = 'starting' | 'consuming' | 'recovering' | 'stopped';

export interface SubscriptionHealth {
  /** What the subscription reads: a group id, or the topic of a tail or read. */
  readonly name: string;
  readonly state: SubscriptionState;
  /** Milliseconds since the epoch at which it entered this state. */
  readonly since: number;
  /** What sent it recovering, while it is. */
  readonly lastError?: string;
}

/** One topic's part of {@link Log.readAll}: like {@link Log.read}'s arguments. */
export interface TopicRead {
  readonly topic: string;
  readonly from: readonly PartitionOffset[];
  readonly handler: BatchHandler;
}

export interface Subscription {
  /** Stops delivery after the batch in flight; idempotent. */
  stop(): Promise<void>;
  health(): SubscriptionHealth;
}

/** A consumer-group member's subscription. */
export interface GroupSubscription extends Subscription {
  /**
   * Commits positions for the group, for a member that keeps its own
   * (`commit: false`). Refused unless this member owns the partitions in the
   * group's current generation, so a member that lost them cannot overwrite
   * the new owner's.
   */
  commit(offsets: readonly CommitOffset[]): Promise<void>;
}

export interface TopicPartitions {
  readonly topic: string;
  readonly partitions: readonly number[];
}

export interface ReadOptions {
  /** Called when a handler throws, before the batch is retried. */
  onError?: (error: unknown, records: readonly LogRecord[]) => void;
  /**
   * How long the broker may hold a fetch to gather more records (Kafka's
   * fetch.min.bytes / fetch.max.wait.ms): fewer, larger batches for a reader
   * that may lag this much, such as a projection. 0, the default, answers a
   * fetch as soon as one record is there.
   */
  lingerMs?: number;
}

export interface ConsumeOptions extends ReadOptions {
  /** Members of one group share the partitions and resume from the group's committed offsets. */
  readonly group: string;
  readonly topics: readonly string[];
  readonly handler: BatchHandler;
  /** Where a group with no committed offset starts. @default true */
  readonly fromBeginning?: boolean;
  /**
   * Whether each handled batch's offsets are committed to the group. A member
   * that keeps its own positions (and returns them from `onAssigned`) turns it
   * off. @default true
   */
  readonly commit?: boolean;
  /**
   * Commits at most this often: a batch handled sooner after the last commit
   * has its position committed with a later batch's. For a handler that keeps
   * its own checkpoint and skips what it already applied (a restart or a
   * rebalance then reads again what was handled since the last commit, up to
   * this long's worth). The embedded log commits every batch. @default 0 (every batch)
   */
  readonly commitIntervalMs?: number;
  /**
   * Called after every rebalance with the partitions this member now owns,
   * before any of their records is delivered; nothing is fetched until it
   * resolves. It may return where to read each partition from; otherwise the
   * group's committed offsets apply.
   */
  readonly onAssigned?: (assigned: readonly TopicPartitions[]) => Promise<readonly TopicPartitionOffset[] | void> | readonly TopicPartitionOffset[] | void;
  /**
   * Called when this member's partitions are taken away: a rebalance begins, or
   * its client lost the group. Until the next `onAssigned` it owns nothing and
   * must stop acting on what those partitions hold.
   */
  readonly onRevoked?: () => void;
}

/**
 * The log: the platform's only channel between services. Records with the same
 * key land in the same partition, in append order.
 */
export interface Log {
  readonly kind: 'kafka' | 'embedded';
  start(): Promise<void>;
  /** Idempotent; stops every subscription it opened. */
  stop(): Promise<void>;
  /** Creates the topics that do not exist yet; existing ones are left as they are. */
  ensureTopics(topics: readonly TopicSpec[]): Promise<void>;
  /**
   * Appends records and resolves once the log has them durably. Concurrent calls
   * are sent in call order, so records with one key keep the order they were
   * appended in. Appends made while a send is in flight go together in the next one.
   */
  append(topic: string, records: readonly AppendRecord[]): Promise<void>;
  /** The offset the next record of each partition will get. */
  endOffsets(topic: string): Promise<PartitionOffset[]>;
  /** The partition records with this key land in. */
  partitionOf(topic: string, key: string): Promise<number>;
  /** The first offset of a partition whose record is at or after `timestamp` (the end offset if none is). */
  offsetForTime(topic: string, partition: number, timestamp: number): Promise<number>;
  /** Delivers only records appended after the returned promise resolves. */
  tail(topic: string, handler: BatchHandler, options?: ReadOptions): Promise<Subscription>;
  /** Delivers the listed partitions from the given offsets on; other partitions are not read. */
  read(topic: string, from: readonly PartitionOffset[], handler: BatchHandler, options?: ReadOptions): Promise<Subscription>;
  /**
   * Several reads as one reader: one fetch serves them all, so records
   * appended together to different topics (a run's end and its stream's end)
   * are fetched together, instead of waking one reader per topic.
   */
  readAll(reads: readonly TopicRead[], options?: ReadOptions): Promise<Subscription>;
  /** A consumer-group member: commits each batch's offsets after its handler resolves. */
  consume(options: ConsumeOptions): Promise<GroupSubscription>;
  /** What a group committed in a topic: only partitions that have a commit. */
  committedOffsets(group: string, topic: string): Promise<CommittedOffset[]>;
  /** The health of every subscription open now: readiness reports one that is not consuming. */
  health(): SubscriptionHealth[];
  /** An appender that is the only one of its `id` once it has claimed it; stopped with the log. */
  exclusiveAppender(id: string): ExclusiveAppender;
}

/** Records larger than this are refused by append (the broker's limit is set above it). */
export const MAX_RECORD_BYTES = 2 * 1024 * 1024;

export class RecordTooLargeError extends Error {
  override readonly name = 'RecordTooLargeError';
  constructor(readonly bytes: number) {
    super(`record of ${bytes} bytes exceeds the log's limit of ${MAX_RECORD_BYTES} bytes`);
  }
}

export class UnknownTopicError extends Error {
  override readonly name = 'UnknownTopicError';
  constructor(readonly topic: string) {
    super(`topic ${topic} does not exist; create it with ensureTopics at start-up`);
  }
}

/** An exclusive append refused because another appender claimed the id since this one did. */
export class FencedError extends Error {
  override readonly name = 'FencedError';
  constructor(
    readonly id: string,
    options?: ErrorOptions,
  ) {
    super(`another appender claimed ${id}: this one may not append any more`, options);
  }
}

/** An exclusive append refused because the appender holds no claim: it never claimed, or its last append failed and its outcome is unsettled. */
export class AppenderNotClaimedError extends Error {
  override readonly name = 'AppenderNotClaimedError';
  constructor(
    readonly id: string,
    readonly reason: 'never-claimed' | 'append-failed',
    options?: ErrorOptions,
  ) {
    super(
      reason === 'never-claimed'
        ? `appender ${id} has not claimed its id yet: call claim() first`
        : `appender ${id} failed an append whose outcome is unknown: claim() again to settle it, and read what landed`,
      options,
    );
  }
}
