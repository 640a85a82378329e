import { randomUUID } from 'node:crypto';
import { Kafka, logLevel as KafkaLogLevel, type Admin, type ConsumerConfig, type KafkaConfig, type Producer, type logCreator } from 'kafkajs';
import type { Logger, Metrics } from '@chute/runtime';
import type { BrokerConnection } from '../settings';
import { AppendQueue, type AppendMessage } from './append-queue';
import { kafkaSecurityConfig, noDelaySocketFactory } from './connection';
import { replicationFor } from './replication';
import { nextOf, toLogRecords } from './records';
import { SupervisedConsumer } from './consumer';
import { KafkaExclusiveAppender } from './exclusive-appender';
import {
  hasKafkaErrorType,
  isKafkaAuthenticationError,
  isRetriableKafkaError,
  kafkaAuthorizationFailure,
  KafkaAuthenticationError,
  KafkaAuthorizationError,
} from './errors';
import { FastDefaultPartitioner, installKafkajsPatches, registerLinger, registerStaticMember, RequestCountingKafka } from './kafkajs';
import { deliverWithRetry } from '../retry';
import {
  MAX_RECORD_BYTES,
  RecordTooLargeError,
  UnknownTopicError,
  type AppendRecord,
  type BatchHandler,
  type CommittedOffset,
  type ConsumeOptions,
  type ExclusiveAppender,
  type GroupSubscription,
  type Log,
  type LogRecord,
  type PartitionOffset,
  type ReadOptions,
  type Subscription,
  type SubscriptionHealth,
  type TopicRead,
  type TopicSpec,
} from '../types';

export interface KafkaLogOptions extends BrokerConnection {
  brokers: readonly string[];
  /** Names this process to the broker; consumer groups of tails are derived from it. */
  clientId: string;
  logger: Logger;
  /**
   * How long a fetch waits on an idle partition. A fetch returns at the first
   * record, so this costs no latency; it is what an idle consumer pays (a fetch
   * the broker answers empty, per wait) and it bounds how fast a consumer
   * stops (kafkajs lets the fetch in flight finish). @default 1000
   */
  maxWaitTimeMs?: number;
  /** Per-flush cap on the bytes one send carries; the rest waits for the next send. @default 4 MiB */
  maxFlushBytes?: number;
  /**
   * How long the broker waits for a group member's heartbeat before it hands the
   * member's partitions to others: the time a killed service's partitions stay
   * unread, unless it comes back under the same `instanceId`. @default 10000
   */
  sessionTimeoutMs?: number;
  /**
   * This process's identity in its consumer groups (static membership): a
   * restarted process with the same id takes its predecessor's place, and
   * partitions, at once instead of after the session timeout. Unique per live
   * process; unset, every start is a new member.
   */
  instanceId?: string;
  /** Where to count the requests sent to the brokers (`chute_log_requests_total{api}`); unset, they are not counted. */
  metrics?: Metrics;
}

/**
 * What kafkajs warns, once per producer, when an idempotent producer's retries
 * are bounded. An exclusive appender's are on purpose and lose nothing: an
 * append that runs out of retries loses its claim, and the next claim settles
 * whether it landed (see KafkaExclusiveAppender).
 */
const LIMITED_RETRIES_WARNING = 'Limiting retries for the idempotent producer may invalidate EoS guarantees';

/** How long a new topic's partitions may take to get leaders before start-up gives up. */
const TOPICS_READY_TIMEOUT_MS = 30_000;

/**
 * How long a topic may stay missing from the metadata a client holds after it
 * was created: on a cluster, the broker that answers metadata learns of a
 * topic another broker's controller created a moment later.
 */
const METADATA_CATCH_UP_MS = 10_000;

/**
 * kafkajs 2.2.4's fetchTopicOffsets fails with a TypeError (admin/index.js:
 * `high.pop()` of nothing) when the metadata it holds lists the topic with no
 * partitions: on a cluster, a broker that has not yet learnt of a topic
 * created a moment ago answers so. Not a broken topic: ask again. kafkajs's
 * own failures are KafkaJSError subclasses, so a TypeError out of it is this
 * (kafkajs gives it no code to tell it by).
 */
function isUnknownToMetadata(error: unknown): boolean {
  return error instanceof TypeError;
}

/** What a lingering fetch gathers before it returns early. */
const LINGER_MIN_BYTES = 256 * 1024;

// Above MAX_RECORD_BYTES plus envelope, so a record the log accepts is never refused by the broker.
const TOPIC_MAX_MESSAGE_BYTES = String(8 * 1024 * 1024);

/**
 * The log on a Kafka-protocol broker (Apache Kafka, Redpanda) through kafkajs.
 * kafkajs has no manual partition assignment, so tails and reads are consumer
 * groups of their own, positioned with seek before their first fetch.
 */
export class KafkaLog implements Log {
  readonly kind = 'kafka' as const;
  private readonly kafka: Kafka;
  private readonly producer: Producer;
  /** Replaced when its metadata is stale (see fetchTopicOffsets). */
  private admin: Admin;
  private renewingAdmin: Promise<void> | undefined;
  private readonly open = new Set<SupervisedConsumer>();
  private readonly appenders = new Set<KafkaExclusiveAppender>();
  private readonly appends: AppendQueue;
  private stopping: Promise<void> | undefined;
  private readonly knownTopics = new Set<string>();
  private readonly partitionCounts = new Map<string, number>();
  private readonly partitioner = FastDefaultPartitioner();

  constructor(private readonly options: KafkaLogOptions) {
    installKafkajsPatches();
    const logger = options.logger.child({ component: 'kafkajs' });
    // kafkajs reports routine rebalances as errors; keep them visible but below error.
    const creator: logCreator =
      () =>
      ({ level, log }) => {
        const { message, ...fields } = log;
        if (level <= KafkaLogLevel.WARN && message !== LIMITED_RETRIES_WARNING) logger.warn(message, fields);
        else logger.debug(message, fields);
      };
    const config: KafkaConfig = {
      clientId: options.clientId,
      brokers: [...options.brokers],
      logLevel: KafkaLogLevel.WARN,
      logCreator: creator,
      connectionTimeout: 3000,
      // kafkajs hands `ssl` to the socket factory, which opens TLS with it.
      socketFactory: noDelaySocketFactory,
      ...kafkaSecurityConfig(options),
      // Back-off capped at 1 s (kafkajs's default cap is 30 s): when a broker of a
      // cluster dies, its partitions get new leaders within ~3 s (the brokers'
      // session timeout) and a consumer, admin call or coordinator lookup should
      // find them then, not up to 3.2 s later. Ten tries span ~8 s before a
      // consumer gives up and is rebuilt (SupervisedConsumer).
      retry: { retries: 10, initialRetryTime: 200, maxRetryTime: 1000 },
    };
    this.kafka = options.metrics ? new RequestCountingKafka(config, options.metrics) : new Kafka(config);
    // Idempotent: a send retried after a lost acknowledgement (a broker
    // restart) is not written twice, and one request in flight keeps a
    // partition's records in order across retries. kafkajs then retries a send
    // until the broker takes it; the back-off is capped low (1 s) so appends
    // resume within a second of a partition's new leader being elected, or of
    // the broker coming back. A send whose partitions move to another leader
    // mid-send is retried per partition (kafkajs/send-messages.ts).
    this.producer = this.kafka.producer({
      createPartitioner: FastDefaultPartitioner,
      allowAutoTopicCreation: false,
      idempotent: true,
      maxInFlightRequests: 1,
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    this.admin = this.kafka.admin();
    this.appends = new AppendQueue(this.producer, options.maxFlushBytes ?? 4 * 1024 * 1024, options.logger);
  }

  /**
   * Connects to the brokers.
   * @throws KafkaAuthenticationError when the broker refuses the SASL login:
   *   no retry can fix that, so it fails at once with one line saying what to check
   * @throws KafkaAuthorizationError when the login lacks the ACL the
   *   idempotent producer needs (WRITE on some topic)
   */
  async start(): Promise<void> {
    try {
      await this.admin.connect();
      await this.producer.connect();
    } catch (error) {
      if (this.options.sasl && isKafkaAuthenticationError(error)) throw new KafkaAuthenticationError(this.options.sasl, { cause: error });
      const failure = kafkaAuthorizationFailure(error);
      if (failure) throw new KafkaAuthorizationError(this.options.sasl?.username, 'produce', failure, { cause: error });
      throw error;
    }
  }

  stop(): Promise<void> {
    return (this.stopping ??= (async () => {
      await Promise.all([...[...this.open].map((s) => s.stop()), ...[...this.appenders].map((a) => a.stop())]);
      // Appends already accepted are flushed before the producer goes.
      await this.appends.drained();
      await this.producer.disconnect();
      await this.admin.disconnect();
    })());
  }

  /**
   * Creates the topics that do not exist, replicated on min(3, brokers)
   * brokers with `min.insync.replicas=2` where there are three (see
   * replicationFor), and waits until every one has leaders.
   * @throws KafkaAuthorizationError when the login may neither see nor create one of them
   */
  async ensureTopics(topics: readonly TopicSpec[]): Promise<void> {
    try {
      await this.createMissingTopics(topics);
    } catch (error) {
      const failure = kafkaAuthorizationFailure(error);
      if (failure) throw new KafkaAuthorizationError(this.options.sasl?.username, `see or create the topics ${topics.map((t) => t.name).join(', ')}`, failure, { cause: error });
      throw error;
    }
  }

  private async createMissingTopics(topics: readonly TopicSpec[]): Promise<void> {
    const existing = new Set(await this.admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.name));
    if (missing.length > 0) {
      // Copies on min(3, brokers) brokers, as many as the cluster's metadata names now.
      const replication = replicationFor((await this.admin.describeCluster()).brokers.length);
      // Another service may create them in between: kafkajs then resolves
      // (false) rather than throw, which is the outcome we wanted. Leaders are
      // awaited below, not by kafkajs: its wait gives up on the first metadata
      // answer that does not know the new topic yet (seen on a fresh KRaft
      // broker with a 32-partition topic), where ours retries.
      await this.admin.createTopics({
        waitForLeaders: false,
        topics: missing.map((t) => ({
          topic: t.name,
          numPartitions: t.partitions,
          replicationFactor: replication.replicationFactor,
          configEntries: [
            { name: 'max.message.bytes', value: TOPIC_MAX_MESSAGE_BYTES },
            ...Object.entries(replication.config).map(([name, value]) => ({ name, value })),
            ...Object.entries(t.config ?? {}).map(([name, value]) => ({ name, value })),
          ],
        })),
      });
    }
    await this.untilLeadersAnswer(topics.map((t) => t.name));
    for (const t of topics) this.knownTopics.add(t.name);
  }

  /**
   * Until every partition of the topics has a leader that answers. Services
   * start together: a topic another one created a moment ago is listed before
   * its partitions have leaders, and the first offset lookup would fail with
   * "not the leader" (seen with `npm start` on a fresh broker).
   */
  private async untilLeadersAnswer(names: readonly string[]): Promise<void> {
    const deadline = Date.now() + TOPICS_READY_TIMEOUT_MS;
    for (;;) {
      try {
        await Promise.all(names.map((name) => this.fetchTopicOffsets(name)));
        return;
      } catch (error) {
        if (!(isRetriableKafkaError(error) || isUnknownToMetadata(error)) || Date.now() >= deadline) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * Resolves once the broker has the records (acks from all in-sync replicas).
   * A broker that is down or restarting does not fail the append: the producer
   * retries until the broker takes it, in order. Bound the wait with a deadline
   * where a caller must answer someone sooner.
   */
  async append(topic: string, records: readonly AppendRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.checkTopic(topic);
    let bytes = 0;
    const messages = records.map((r): AppendMessage => {
      const value = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      if (value.length > MAX_RECORD_BYTES) throw new RecordTooLargeError(value.length);
      bytes += value.length;
      return r.headers ? { key: r.key, value, headers: { ...r.headers } } : { key: r.key, value };
    });
    await this.appends.append(topic, messages, bytes);
  }

  /**
   * The producer retries a missing topic's sends forever (to Kafka that error
   * is retriable): refuse an unknown topic before sending instead.
   * @throws UnknownTopicError
   */
  private async checkTopic(topic: string): Promise<void> {
    if (this.knownTopics.has(topic)) return;
    await this.endOffsets(topic);
    this.knownTopics.add(topic);
  }

  exclusiveAppender(id: string): ExclusiveAppender {
    const appender: KafkaExclusiveAppender = new KafkaExclusiveAppender({
      kafka: this.kafka,
      id,
      logger: this.options.logger,
      checkTopic: (topic) => this.checkTopic(topic),
      onStopped: () => this.appenders.delete(appender),
    });
    this.appenders.add(appender);
    return appender;
  }

  async endOffsets(topic: string): Promise<PartitionOffset[]> {
    const offsets = await this.fetchTopicOffsets(topic).catch((error: unknown) => {
      if (hasKafkaErrorType(error, 'UNKNOWN_TOPIC_OR_PARTITION')) throw new UnknownTopicError(topic);
      throw error;
    });
    return offsets
      .map((o) => ({ partition: o.partition, offset: Number(o.high) }))
      .sort((a, b) => a.partition - b.partition);
  }

  /**
   * kafkajs's fetchTopicOffsets, asked again while the metadata it reads does
   * not list the topic's partitions yet (see isUnknownToMetadata), for up to
   * {@link METADATA_CATCH_UP_MS}. kafkajs keeps that metadata for 5 minutes
   * (it refreshes a topic's only when the topic is new to it, or on
   * UNKNOWN_TOPIC_OR_PARTITION), so each retry goes through a new admin
   * client, whose first look at the topic asks the cluster afresh.
   */
  private async fetchTopicOffsets(topic: string): ReturnType<Admin['fetchTopicOffsets']> {
    const deadline = Date.now() + METADATA_CATCH_UP_MS;
    for (;;) {
      const admin = this.admin;
      try {
        return await admin.fetchTopicOffsets(topic);
      } catch (error) {
        if (!isUnknownToMetadata(error) || Date.now() >= deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
        await this.renewAdmin(admin);
      }
    }
  }

  /** Replaces `stale` (unless that was done already) with a new, connected admin client. */
  private async renewAdmin(stale: Admin): Promise<void> {
    if (this.admin !== stale) return;
    this.renewingAdmin ??= (async () => {
      const fresh = this.kafka.admin();
      await fresh.connect();
      this.admin = fresh;
      await stale.disconnect().catch(() => undefined);
    })().finally(() => (this.renewingAdmin = undefined));
    await this.renewingAdmin;
  }

  async partitionOf(topic: string, key: string): Promise<number> {
    let count = this.partitionCounts.get(topic);
    if (count === undefined) {
      count = (await this.endOffsets(topic)).length;
      this.partitionCounts.set(topic, count);
    }
    // The producer's own partitioner, so the answer always matches where append put the record.
    return this.partitioner({
      topic,
      partitionMetadata: Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] })),
      message: { key, value: null },
    });
  }

  async offsetForTime(topic: string, partition: number, timestamp: number): Promise<number> {
    const offsets = await this.admin.fetchTopicOffsetsByTimestamp(topic, timestamp);
    const found = offsets.find((o) => o.partition === partition);
    if (!found) throw new RangeError(`topic ${topic} has no partition ${partition}`);
    const offset = Number(found.offset);
    if (offset >= 0) return offset;
    return (await this.endOffsets(topic)).find((o) => o.partition === partition)!.offset;
  }

  async tail(topic: string, handler: BatchHandler, options: ReadOptions = {}): Promise<Subscription> {
    return this.read(topic, await this.endOffsets(topic), handler, options);
  }

  read(topic: string, from: readonly PartitionOffset[], handler: BatchHandler, options: ReadOptions = {}): Promise<Subscription> {
    return this.readAll([{ topic, from, handler }], options);
  }

  async readAll(reads: readonly TopicRead[], options: ReadOptions = {}): Promise<Subscription> {
    // Next offset per topic and partition: where a (re)joined or rebuilt consumer must resume.
    const byTopic = new Map(reads.map((r) => [r.topic, { handler: r.handler, positions: new Map(r.from.map((f) => [f.partition, f.offset])) }]));
    const deliver = async (topic: string, records: readonly LogRecord[], next: PartitionOffset, isStopped: () => boolean): Promise<void> => {
      const read = byTopic.get(topic);
      if (!read?.positions.has(next.partition)) return;
      if (await deliverWithRetry(read.handler, records, next, options, isStopped)) read.positions.set(next.partition, next.offset);
    };
    // A private group that is never shared and never commits: kafkajs would commit
    // after every batch otherwise, a round trip that stalls the next fetch.
    return this.supervise({
      name: `read ${[...byTopic.keys()].join(', ')}`,
      config: { ...this.fetchWait(`${this.options.clientId}.read.${randomUUID()}`, options), ...this.membership() },
      topics: [...byTopic.keys()],
      fromBeginning: false,
      // kafkajs forgets seeks when it rebuilds its group: position every join.
      onAssigned: () => [...byTopic].flatMap(([topic, { positions }]) => [...positions].map(([partition, offset]) => ({ topic, partition, offset }))),
      eachBatch:
        () =>
        async ({ batch, isRunning, isStale }) => {
          if (batch.messages.length === 0) return;
          await deliver(batch.topic, toLogRecords(batch), nextOf(batch), () => !isRunning() || isStale());
        },
      eachSkipped: (records, next, isStopped) => deliver(next.topic, records, next, isStopped),
    });
  }

  async committedOffsets(group: string, topic: string): Promise<CommittedOffset[]> {
    const [offsets] = await this.admin.fetchOffsets({ groupId: group, topics: [topic] });
    return (offsets?.partitions ?? [])
      .filter((p) => Number(p.offset) >= 0)
      .map((p) => ({ partition: p.partition, offset: Number(p.offset), metadata: p.metadata ?? null }));
  }

  async consume(options: ConsumeOptions): Promise<GroupSubscription> {
    const commit = options.commit ?? true;
    const commitIntervalMs = options.commitIntervalMs ?? 0;
    /** Positions handled since the last commit, by topic and partition. */
    const uncommitted = new Map<string, { topic: string; partition: number; offset: string }>();
    let committedAt = 0;
    if (this.options.instanceId !== undefined) registerStaticMember(options.group, this.options.instanceId);
    return this.supervise({
      name: options.group,
      config: { ...this.fetchWait(options.group, options), ...this.membership() },
      topics: options.topics,
      fromBeginning: options.fromBeginning ?? true,
      ...(options.onAssigned ? { onAssigned: options.onAssigned } : {}),
      onRevoked: () => {
        // Positions of partitions that may now be another member's are not committed.
        uncommitted.clear();
        options.onRevoked?.();
      },
      eachBatch:
        (consumer) =>
        async ({ batch, isRunning, isStale, heartbeat }) => {
          if (batch.messages.length === 0) return;
          const next = nextOf(batch);
          const handled = await deliverWithRetry(
            async (rs, at) => {
              await heartbeat();
              await options.handler(rs, at);
            },
            toLogRecords(batch),
            next,
            options,
            () => !isRunning() || isStale(),
          );
          if (!handled || !commit) return;
          // Commit only after the handler resolved: a crash in between redelivers, never skips.
          uncommitted.set(`${batch.topic}:${batch.partition}`, { topic: batch.topic, partition: batch.partition, offset: String(next.offset) });
          const now = Date.now();
          if (now - committedAt < commitIntervalMs) return;
          committedAt = now;
          const due = [...uncommitted.values()];
          uncommitted.clear();
          await consumer.commitOffsets(due);
        },
      // Not committed: the next batch's commit covers these offsets too.
      eachSkipped: async (records, next, isStopped) => {
        await deliverWithRetry(options.handler, records, next, options, isStopped);
      },
    });
  }

  health(): SubscriptionHealth[] {
    return [...this.open].map((s) => s.health());
  }

  private async supervise(spec: ConstructorParameters<typeof SupervisedConsumer>[1]): Promise<SupervisedConsumer> {
    const consumer: SupervisedConsumer = new SupervisedConsumer(this.kafka, spec, this.options.logger, () => this.open.delete(consumer));
    await consumer.start();
    this.open.add(consumer);
    return consumer;
  }

  /** Group timing: a dead member's partitions move after the session timeout. */
  private membership(): Pick<ConsumerConfig, 'sessionTimeout' | 'heartbeatInterval' | 'rebalanceTimeout'> {
    const sessionTimeout = this.options.sessionTimeoutMs ?? 10_000;
    return { sessionTimeout, heartbeatInterval: Math.max(500, Math.floor(sessionTimeout / 10)), rebalanceTimeout: sessionTimeout + 5000 };
  }

  /**
   * A lingering reader's fetch waits for its linger or a full batch while
   * records come, and for the first record at rest (kafkajs/adaptive-linger.ts);
   * any other returns at the first record.
   */
  private fetchWait(groupId: string, options: ReadOptions): { groupId: string; minBytes: number; maxWaitTimeInMs: number } {
    const linger = options.lingerMs ?? 0;
    const idleWaitMs = this.options.maxWaitTimeMs ?? 1000;
    if (linger <= 0) return { groupId, minBytes: 1, maxWaitTimeInMs: idleWaitMs };
    registerLinger(groupId, { minBytes: LINGER_MIN_BYTES, lingerMs: linger, idleWaitMs });
    return { groupId, minBytes: LINGER_MIN_BYTES, maxWaitTimeInMs: linger };
  }
}
