// kafkajs 2.2.4 can acknowledge a send whose records were never written, when
// a partition's leader moves during the send. Its sendMessages
// (src/producer/sendMessages.js) remembers, across the retries of one send,
// which *brokers* have answered, and on a retry sends only to brokers without
// an answer. A send to partitions led by brokers 1 and 3 where broker 3 dies:
// broker 1 answers, broker 3's request fails, metadata is refreshed, broker 3's
// partitions now have broker 1 as their leader - and broker 1 has answered
// already, so they are never sent, and the send resolves. Seen on a
// three-broker cluster with one broker killed under load: completed runs
// missing chunks that the worker's appends had seen acknowledged.
//
// This is the same function with the retries tracked per *partition*: a retry
// sends every partition without an answer to its current leader, whatever
// broker that is. Messages are assigned to partitions once, at the first
// attempt that has metadata, so a keyless message cannot move to a partition
// already written. And a failed attempt waits for its other requests to
// settle before the retry, so a request still in flight is never sent again
// beside itself (with new sequence numbers: a duplicate).
//
// kafkajs binds sendMessages when its producer modules load, so the patch
// loads fresh copies of those two modules around this function and routes
// Kafka.prototype.producer through them (see patchKafkajsSendMessages).

interface Message {
  partition?: number;
}
interface PartitionMetadata {
  partitionId: number;
}
interface ProduceEntry {
  topicName: string;
  partition: number;
}
interface TopicData {
  topic: string;
  partitions: Array<{ partition: number; messages: Message[]; firstSequence?: number }>;
}
export interface KafkajsBroker {
  nodeId?: number;
  produce(request: object): Promise<unknown>;
}
export interface KafkajsCluster {
  refreshMetadataIfNecessary(): Promise<void>;
  refreshMetadata(): Promise<void>;
  addMultipleTargetTopics(topics: string[]): Promise<void>;
  findTopicPartitionMetadata(topic: string): PartitionMetadata[];
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(node: { nodeId: string }): Promise<KafkajsBroker>;
  removeBroker(address: { host: string; port: number }): void;
  isConnected(): boolean;
  connect(): Promise<void>;
}
export interface KafkajsEosManager {
  acquireBrokerLock(broker: KafkajsBroker): Promise<void>;
  releaseBrokerLock(broker: KafkajsBroker): Promise<void>;
  isTransactional(): boolean;
  addPartitionsToTransaction(topicData: TopicData[]): Promise<void>;
  getSequence(topic: string, partition: number): number;
  updateSequence(topic: string, partition: number, increment: number): void;
  getTransactionalId(): string | undefined;
  getProducerId(): number;
  getProducerEpoch(): number;
}
interface Logger {
  error(message: string, extra?: object): void;
  debug(message: string, extra?: object): void;
}
type Retrier = <T>(attempt: (bail: (error: unknown) => void, retryCount: number, retryTime: number) => Promise<T>) => Promise<T>;
type Partitioner = (args: { topic: string; partitionMetadata: PartitionMetadata[]; message: Message }) => number;
interface KafkaError extends Error {
  type?: string;
  retriable?: boolean;
  host?: string;
  port?: number;
}

export interface SendMessagesDeps {
  logger: Logger;
  cluster: KafkajsCluster;
  partitioner: Partitioner;
  eosManager: KafkajsEosManager;
  retrier: Retrier;
  /** kafkajs's response serializer (src/producer/responseSerializer.js). */
  responseSerializer?: (response: unknown) => ProduceEntry[];
}

interface SendRequest {
  acks: number;
  timeout?: number;
  compression?: number;
  topicMessages: Array<{ topic: string; messages: Message[] }>;
}

const STALE_METADATA = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE', 'NOT_LEADER_FOR_PARTITION']);

class MetadataNotLoadedError extends Error {
  override readonly name = 'KafkaJSMetadataNotLoaded';
  readonly retriable = true;
}

/** kafkajs's createSendMessages, retrying per partition (see the file's comment). */
export function createSendMessages({ logger, cluster, partitioner, eosManager, retrier, responseSerializer = defaultSerializer }: SendMessagesDeps) {
  return async ({ acks, timeout, compression, topicMessages }: SendRequest): Promise<ProduceEntry[]> => {
    /** Each topic's messages by partition, fixed at the first attempt with metadata. */
    const assigned = new Map<string, Map<number, Message[]>>();
    /** The answers of the partitions written, by "topic\0partition". */
    const written = new Map<string, ProduceEntry[]>();
    const key = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

    const attempt = async (): Promise<ProduceEntry[]> => {
      await cluster.refreshMetadataIfNecessary();
      const perLeader = new Map<string, TopicData[]>();
      for (const { topic, messages } of topicMessages) {
        let byPartition = assigned.get(topic);
        if (!byPartition) {
          const partitionMetadata = cluster.findTopicPartitionMetadata(topic);
          if (partitionMetadata.length === 0) throw new MetadataNotLoadedError('Producing to topic without metadata');
          byPartition = new Map();
          for (const message of messages) {
            const partition = partitioner({ topic, partitionMetadata, message });
            byPartition.set(partition, [...(byPartition.get(partition) ?? []), message]);
          }
          assigned.set(topic, byPartition);
        }
        const pending = [...byPartition.keys()].filter((p) => !written.has(key(topic, p)));
        if (pending.length === 0) continue;
        for (const [leader, partitions] of Object.entries(cluster.findLeaderForPartitions(topic, pending))) {
          const list = perLeader.get(leader) ?? [];
          perLeader.set(leader, list);
          list.push({ topic, partitions: partitions.map((partition) => ({ partition: Number(partition), messages: byPartition.get(Number(partition))! })) });
        }
      }
      const requests = [...perLeader].map(async ([nodeId, topicData]) => {
        const broker = await cluster.findBroker({ nodeId });
        await eosManager.acquireBrokerLock(broker);
        try {
          if (eosManager.isTransactional()) await eosManager.addPartitionsToTransaction(topicData);
          for (const { topic, partitions } of topicData) {
            for (const entry of partitions) {
              entry.firstSequence = eosManager.getSequence(topic, entry.partition);
              eosManager.updateSequence(topic, entry.partition, entry.messages.length);
            }
          }
          let response: unknown;
          try {
            response = await broker.produce({
              transactionalId: eosManager.isTransactional() ? eosManager.getTransactionalId() : undefined,
              producerId: eosManager.getProducerId(),
              producerEpoch: eosManager.getProducerEpoch(),
              acks,
              timeout,
              compression,
              topicData,
            });
          } catch (error) {
            for (const { topic, partitions } of topicData) for (const entry of partitions) eosManager.updateSequence(topic, entry.partition, -entry.messages.length);
            throw error;
          }
          const entries = acks !== 0 ? responseSerializer(response) : [];
          for (const { topic, partitions } of topicData) {
            for (const { partition } of partitions) written.set(key(topic, partition), entries.filter((e) => e.topicName === topic && e.partition === partition));
          }
        } finally {
          await eosManager.releaseBrokerLock(broker);
        }
      });
      const settled = await Promise.allSettled(requests);
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) throw failed.reason;
      return [...written.values()].flat();
    };

    return retrier(async (bail, retryCount, retryTime) => {
      await cluster.addMultipleTargetTopics(topicMessages.map(({ topic }) => topic));
      try {
        return await attempt();
      } catch (caught) {
        const e = caught as KafkaError;
        if (e.name === 'KafkaJSConnectionClosedError' && e.host !== undefined && e.port !== undefined) cluster.removeBroker({ host: e.host, port: e.port });
        if (!cluster.isConnected()) {
          logger.debug(`Cluster has disconnected, reconnecting: ${e.message}`, { retryCount, retryTime });
          await cluster.connect();
          await cluster.refreshMetadata();
          throw e;
        }
        if (
          STALE_METADATA.has(e.type ?? '') ||
          e.name === 'KafkaJSMetadataNotLoaded' ||
          e.name === 'KafkaJSConnectionError' ||
          e.name === 'KafkaJSConnectionClosedError' ||
          (e.name === 'KafkaJSProtocolError' && e.retriable)
        ) {
          logger.error(`Failed to send messages: ${e.message}`, { retryCount, retryTime });
          await cluster.refreshMetadata();
          throw e;
        }
        logger.error(`${e.message}`, { retryCount, retryTime });
        if (e.retriable) throw e;
        bail(e);
        throw e;
      }
    });
  };
}

function defaultSerializer(response: unknown): ProduceEntry[] {
  const serialize = require('kafkajs/src/producer/responseSerializer.js') as (response: unknown) => ProduceEntry[];
  return serialize(response);
}

/**
 * Makes every producer created from now on send through
 * {@link createSendMessages}: loads fresh copies of kafkajs's producer and
 * messageProducer modules with this sendMessages in their place, and routes
 * Kafka.prototype.producer (src/index.js, reproduced) through them.
 */
export function patchKafkajsSendMessages(): void {
  const sendMessagesPath = require.resolve('kafkajs/src/producer/sendMessages.js');
  const messageProducerPath = require.resolve('kafkajs/src/producer/messageProducer.js');
  const producerPath = require.resolve('kafkajs/src/producer/index.js');
  require(sendMessagesPath);
  const original = require.cache[sendMessagesPath]!;
  const originalExports: unknown = original.exports;
  const cachedProducer = require.cache[producerPath];
  const cachedMessageProducer = require.cache[messageProducerPath];
  original.exports = createSendMessages;
  delete require.cache[messageProducerPath];
  delete require.cache[producerPath];
  const createProducer = require(producerPath) as (options: object) => unknown;
  // Leave the cache as kafkajs had it: only producers made through Kafka.prototype.producer change.
  original.exports = originalExports;
  if (cachedProducer) require.cache[producerPath] = cachedProducer;
  if (cachedMessageProducer) require.cache[messageProducerPath] = cachedMessageProducer;

  const { Kafka } = require('kafkajs') as { Kafka: { prototype: Record<string, unknown> } };
  const InstrumentationEventEmitter = require('kafkajs/src/instrumentation/emitter.js') as new () => object;
  const privateOf = (kafka: object, name: string): unknown => {
    const symbol = Object.getOwnPropertySymbols(kafka).find((s) => s.description === `private:Kafka:${name}`);
    if (!symbol) throw new Error(`kafkajs's Kafka has no private ${name}: libs/log/src/kafka/kafkajs/send-messages.ts must be reviewed`);
    return (kafka as Record<symbol, unknown>)[symbol];
  };
  Kafka.prototype['producer'] = function producer(
    this: object,
    { createPartitioner, retry, metadataMaxAge = 300_000, allowAutoTopicCreation, idempotent, transactionalId, transactionTimeout, maxInFlightRequests }: Record<string, unknown> = {},
  ): unknown {
    const instrumentationEmitter = new InstrumentationEventEmitter();
    const createCluster = privateOf(this, 'createCluster') as (options: object) => unknown;
    const cluster = createCluster({ metadataMaxAge, allowAutoTopicCreation, maxInFlightRequests, instrumentationEmitter });
    // kafkajs warns here about its default partitioner; every producer of ours names one.
    return createProducer({
      retry: { ...(privateOf(this, 'clusterRetry') as object), ...(retry as object | undefined) },
      logger: privateOf(this, 'logger'),
      cluster,
      createPartitioner,
      idempotent,
      transactionalId,
      transactionTimeout,
      instrumentationEmitter,
    });
  };
}
