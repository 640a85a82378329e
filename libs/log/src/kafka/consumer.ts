import type { Consumer, ConsumerConfig, EachBatchHandler, IMemberAssignment, Kafka } from 'kafkajs';
import type { Logger } from '@chute/runtime';
import { describeKafkaError } from './errors';
import type { CommitOffset, GroupSubscription, LogRecord, PartitionOffset, SubscriptionHealth, SubscriptionState, TopicPartitionOffset, TopicPartitions } from '../types';

/** Back-off between attempts to rebuild a consumer kafkajs gave up on: 250 ms doubling to 5 s. */
const rebuildDelayMs = (attempt: number): number => Math.min(5000, 250 * 2 ** attempt);

export interface SupervisedConsumerSpec {
  /** Names the subscription in health reports and logs. */
  readonly name: string;
  readonly config: ConsumerConfig;
  readonly topics: readonly string[];
  readonly fromBeginning: boolean;
  /** The batch handler of one kafkajs consumer (a new one after every rebuild). */
  eachBatch(consumer: Consumer): EachBatchHandler;
  /**
   * Gets, as an empty batch, a fetch that held nothing for the handler (only
   * transaction markers or aborted records): kafkajs calls no eachBatch for it
   * and moves on, and a reader waiting to reach an offset must see that too.
   * Delivered in order with the partition's batches.
   */
  eachSkipped?(records: readonly LogRecord[], next: TopicPartitionOffset, isStopped: () => boolean): Promise<void>;
  /**
   * After every join, with this member's assignment; its partitions stay
   * paused until it resolves, and the offsets it returns are sought first.
   */
  onAssigned?(assigned: readonly TopicPartitions[]): Promise<readonly TopicPartitionOffset[] | void> | readonly TopicPartitionOffset[] | void;
  /** When the member's partitions are taken away: a rebalance begins or the consumer crashed. */
  onRevoked?(): void;
}

/**
 * One kafkajs consumer kept alive. kafkajs restarts a consumer after a
 * retriable crash, but after a non-retriable one (for example "Failed to find
 * group coordinator" while a broker restarts) it disconnects and stays down for
 * good; this builds a new consumer then, with back-off, until it is stopped.
 * It also tracks whether the consumer is consuming, for readiness.
 */
export class SupervisedConsumer implements GroupSubscription {
  private consumer: Consumer | undefined;
  private state: SubscriptionState = 'starting';
  private since = Date.now();
  private lastError: string | undefined;
  private generation = 0;
  private rebuildTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly spec: SupervisedConsumerSpec,
    private readonly logger: Logger,
    private readonly onStopped: () => void,
  ) {}

  /** Connects and starts consuming; rejects (leaving nothing open) when the first connection fails. */
  async start(): Promise<void> {
    await this.open();
  }

  /** Commits through the live consumer: the broker refuses it unless this member is in the current generation. */
  async commit(offsets: readonly CommitOffset[]): Promise<void> {
    const consumer = this.consumer;
    if (!consumer || this.state !== 'consuming') throw new Error(`${this.spec.name} is ${this.state}: it owns nothing to commit`);
    await consumer.commitOffsets(
      offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: String(o.offset), ...(o.metadata !== undefined ? { metadata: o.metadata } : {}) })),
    );
  }

  health(): SubscriptionHealth {
    return { name: this.spec.name, state: this.state, since: this.since, ...(this.lastError !== undefined ? { lastError: this.lastError } : {}) };
  }

  stop(): Promise<void> {
    return (this.stopping ??= (async () => {
      clearTimeout(this.rebuildTimer);
      this.generation++;
      await this.consumer?.disconnect().catch((error: unknown) => this.logger.warn('consumer did not disconnect cleanly', { name: this.spec.name, err: error }));
      this.set('stopped');
      this.onStopped();
    })());
  }

  private set(state: SubscriptionState, error?: string): void {
    if (this.state !== state) this.since = Date.now();
    this.state = state;
    this.lastError = error;
  }

  private async open(): Promise<void> {
    const consumer = this.kafka.consumer(this.spec.config);
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => this.joined(consumer, payload.memberAssignment));
    consumer.on(consumer.events.REBALANCING, () => {
      if (consumer === this.consumer) this.spec.onRevoked?.();
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => this.crashed(consumer, payload.error, payload.restart));
    const eachBatch = this.spec.eachBatch(consumer);
    const eachSkipped = this.spec.eachSkipped;
    // Per partition, the empty deliveries not finished yet; the partition's next batch waits for them.
    const skipped = new Map<string, Promise<void>>();
    if (eachSkipped) {
      const isStopped = (): boolean => this.stopping !== undefined || consumer !== this.consumer;
      // kafkajs reports such a fetch only as this event (batchSize 0), before it fetches the partition again.
      consumer.on(consumer.events.START_BATCH_PROCESS, ({ payload }) => {
        if (payload.batchSize !== 0) return;
        const key = `${payload.topic}\u0000${payload.partition}`;
        const next = { topic: payload.topic, partition: payload.partition, offset: Number(payload.lastOffset) + 1 };
        const delivered = (skipped.get(key) ?? Promise.resolve()).then(() => eachSkipped([], next, isStopped)).catch((error: unknown) => {
          this.logger.warn('an empty delivery failed', { name: this.spec.name, err: error });
        });
        skipped.set(key, delivered);
        void delivered.then(() => {
          if (skipped.get(key) === delivered) skipped.delete(key);
        });
      });
    }
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [...this.spec.topics], fromBeginning: this.spec.fromBeginning });
      await consumer.run({
        autoCommit: false,
        eachBatch: async (payload) => {
          // Nearly always none pending: then no key is built and nothing awaited on the hot path.
          if (skipped.size > 0) await skipped.get(`${payload.batch.topic}\u0000${payload.batch.partition}`);
          await eachBatch(payload);
        },
      });
    } catch (error) {
      await consumer.disconnect().catch(() => undefined);
      throw error;
    }
  }

  private joined(consumer: Consumer, assignment: IMemberAssignment): void {
    if (consumer !== this.consumer || this.stopping) return;
    const generation = ++this.generation;
    const assigned: TopicPartitions[] = Object.entries(assignment).map(([topic, partitions]) => ({
      topic,
      partitions: [...partitions].sort((a, b) => a - b),
    }));
    if (!this.spec.onAssigned) {
      this.set('consuming');
      return;
    }
    const pausable = assigned.map((a) => ({ topic: a.topic, partitions: [...a.partitions] }));
    // Nothing of these partitions is fetched before their new owner has prepared for them.
    consumer.pause(pausable);
    Promise.resolve()
      .then(() => this.spec.onAssigned!(assigned))
      .then(
        (positions) => {
          if (generation !== this.generation || consumer !== this.consumer) return;
          for (const p of positions ?? []) consumer.seek({ topic: p.topic, partition: p.partition, offset: String(p.offset) });
          consumer.resume(pausable);
          this.set('consuming');
        },
        (error: unknown) => {
          if (generation !== this.generation || consumer !== this.consumer) return;
          this.logger.error('preparing assigned partitions failed; rebuilding the consumer', { name: this.spec.name, err: error });
          this.set('recovering', describeKafkaError(error));
          this.spec.onRevoked?.();
          this.scheduleRebuild(0);
        },
      );
  }

  private crashed(consumer: Consumer, error: Error, restart: boolean): void {
    if (consumer !== this.consumer || this.stopping) return;
    this.generation++;
    this.set('recovering', describeKafkaError(error));
    this.spec.onRevoked?.();
    // kafkajs rejoins by itself after a retriable crash; after any other it has given up.
    if (restart) return;
    this.logger.warn('consumer crashed and kafkajs will not restart it; rebuilding it', { name: this.spec.name, err: error });
    this.scheduleRebuild(0);
  }

  private scheduleRebuild(attempt: number): void {
    clearTimeout(this.rebuildTimer);
    this.rebuildTimer = setTimeout(() => {
      void (async () => {
        if (this.stopping) return;
        const old = this.consumer;
        this.consumer = undefined;
        await old?.disconnect().catch(() => undefined);
        try {
          await this.open();
        } catch (error) {
          if (this.stopping) return;
          this.set('recovering', describeKafkaError(error));
          this.logger.warn('could not rebuild the consumer yet; trying again', { name: this.spec.name, attempt, err: error });
          this.scheduleRebuild(attempt + 1);
        }
      })();
    }, rebuildDelayMs(attempt));
  }
}
