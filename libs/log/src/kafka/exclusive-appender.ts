import { type Kafka, type Message, type Producer } from 'kafkajs';
import { FastDefaultPartitioner } from './kafkajs';
import type { Logger } from '@chute/runtime';
import { isKafkaFencedError } from './errors';
import { AppenderNotClaimedError, FencedError, MAX_RECORD_BYTES, RecordTooLargeError, type ExclusiveAppender, type TopicRecords } from '../types';

/**
 * How long a transaction may stay open before the broker aborts it: bounds how
 * long an appender that died mid-append holds back the readers of the
 * partitions it wrote (readers see nothing past an open transaction), when
 * nobody claims its id sooner.
 */
const TRANSACTION_TIMEOUT_MS = 10_000;

/**
 * Retries of one transactional request. Right after a commit the broker is
 * still writing its markers and answers the next transaction's first request
 * with CONCURRENT_TRANSACTIONS for a few milliseconds; kafkajs's default
 * back-off (from 300 ms) would hold every back-to-back append that long.
 * About 3 s in all, then the append fails and the caller claims again.
 */
const TRANSACTION_RETRY = { initialRetryTime: 5, maxRetryTime: 500, retries: 12 };

/**
 * The most one send of a transaction carries. kafkajs puts each partition's
 * share of a send in one record batch, and the broker refuses a batch over the
 * topic's max.message.bytes (8 MiB): a larger append goes as several sends in
 * the one transaction, still all or nothing.
 */
const MAX_SEND_BYTES = 4 * 1024 * 1024;

type State = 'unclaimed' | 'claimed' | 'failed' | 'fenced' | 'stopped';
type TopicMessages = { topic: string; messages: Message[] };

export interface KafkaExclusiveAppenderOptions {
  readonly kafka: Kafka;
  readonly id: string;
  readonly logger: Logger;
  /** Refuses a topic the broker does not have (the producer would retry it forever). */
  readonly checkTopic: (topic: string) => Promise<void>;
  readonly onStopped: () => void;
}

/**
 * The transactional ids of an appender: its own, and a second one that the
 * appends take in turn. Right after a commit the broker is still writing the
 * commit's markers, and a next transaction on the same id is answered
 * CONCURRENT_TRANSACTIONS and retried after a back-off; on the other id it
 * starts at once. Its records still come after the first's in every partition
 * they share, and readers that read committed see them only once the first
 * transaction's markers are written.
 */
const idsOf = (id: string): readonly [string, string] => [id, `${id}.alternate`];

/**
 * An exclusive appender on two Kafka transactional producers whose
 * transactional ids are the appender's (see {@link idsOf}). Claiming
 * initialises both ids (InitProducerId): the broker bumps their epochs, which
 * fences every producer that initialised them before, and aborts (or
 * completes) the transactions they left open. Each append is one transaction
 * on one of them, in turn: readers that read committed (kafkajs's default) see
 * all of it or none of it.
 *
 * A kafkajs transactional producer whose commit or abort failed is stuck in
 * that state, so every claim builds new producers; claims and appends run one
 * at a time.
 */
export class KafkaExclusiveAppender implements ExclusiveAppender {
  private producers: Producer[] = [];
  /** Which producer takes the next append. */
  private turn = 0;
  private state: State = 'unclaimed';
  private queue: Promise<unknown> = Promise.resolve();
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: KafkaExclusiveAppenderOptions) {}

  claim(): Promise<void> {
    return this.serialize(async () => {
      if (this.state === 'stopped') throw new Error(`appender ${this.options.id} is stopped`);
      await this.dropProducers();
      const producers = idsOf(this.options.id).map((transactionalId) =>
        this.options.kafka.producer({
          transactionalId,
          transactionTimeout: TRANSACTION_TIMEOUT_MS,
          idempotent: true,
          maxInFlightRequests: 1,
          allowAutoTopicCreation: false,
          createPartitioner: FastDefaultPartitioner,
          retry: TRANSACTION_RETRY,
        }),
      );
      try {
        for (const producer of producers) {
          await producer.connect();
          // kafkajs initialises the id on a transaction's start; one ended at once writes nothing.
          const transaction = await producer.transaction();
          await transaction.abort();
        }
      } catch (error) {
        await Promise.all(producers.map((p) => p.disconnect().catch(() => undefined)));
        throw error;
      }
      this.producers = producers;
      this.turn = 0;
      this.state = 'claimed';
    });
  }

  append(batches: readonly TopicRecords[]): Promise<void> {
    return this.serialize(async () => {
      const { id } = this.options;
      if (this.state === 'fenced') throw new FencedError(id);
      if (this.state === 'stopped') throw new Error(`appender ${id} is stopped`);
      const producer = this.producers[this.turn];
      if (this.state !== 'claimed' || !producer) throw new AppenderNotClaimedError(id, this.state === 'failed' ? 'append-failed' : 'never-claimed');
      const topicMessages = batches.filter((b) => b.records.length > 0).map((b) => ({ topic: b.topic, messages: b.records.map(toMessage) }));
      if (topicMessages.length === 0) return;
      for (const { topic } of topicMessages) await this.options.checkTopic(topic);
      const transaction = await producer.transaction();
      try {
        for (const send of splitSends(topicMessages)) await transaction.sendBatch({ acks: -1, topicMessages: send });
        await transaction.commit();
        this.turn = (this.turn + 1) % this.producers.length;
      } catch (error) {
        if (isKafkaFencedError(error)) {
          this.state = 'fenced';
          throw new FencedError(id, { cause: error });
        }
        // Aborted, nothing landed and the producer is usable; otherwise (the
        // commit failed, or the abort did) only the next claim can tell.
        const aborted = transaction.isActive() && (await transaction.abort().then(() => true, () => false));
        if (!aborted) this.state = 'failed';
        this.options.logger.warn('an exclusive append failed', { id, outcome: aborted ? 'aborted' : 'unknown until the next claim', err: error });
        throw error;
      }
    });
  }

  stop(): Promise<void> {
    return (this.stopping ??= this.serialize(async () => {
      this.state = 'stopped';
      await this.dropProducers();
      this.options.onStopped();
    }).catch(() => undefined));
  }

  private async dropProducers(): Promise<void> {
    const producers = this.producers;
    this.producers = [];
    await Promise.all(
      producers.map((p) => p.disconnect().catch((error: unknown) => this.options.logger.debug('a transactional producer did not disconnect cleanly', { id: this.options.id, err: error }))),
    );
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** The sends of one transaction, in order, each at most MAX_SEND_BYTES of values (one larger record goes alone). */
function splitSends(topicMessages: readonly TopicMessages[]): TopicMessages[][] {
  const sends: TopicMessages[][] = [[]];
  let bytes = 0;
  for (const { topic, messages } of topicMessages) {
    for (const message of messages) {
      const size = (message.value as Buffer).length;
      let send = sends.at(-1)!;
      if (bytes + size > MAX_SEND_BYTES && send.length > 0) {
        sends.push((send = []));
        bytes = 0;
      }
      const last = send.at(-1);
      if (last?.topic === topic) last.messages.push(message);
      else send.push({ topic, messages: [message] });
      bytes += size;
    }
  }
  return sends;
}

function toMessage(record: TopicRecords['records'][number]): Message {
  const value = typeof record.value === 'string' ? Buffer.from(record.value) : record.value;
  if (value.length > MAX_RECORD_BYTES) throw new RecordTooLargeError(value.length);
  return record.headers ? { key: record.key, value, headers: { ...record.headers } } : { key: record.key, value };
}
