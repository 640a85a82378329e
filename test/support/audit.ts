import { KafkaLog, openPlatformTopics, type PlatformTopics } from '@chute/log';
import { Metrics, silentLogger } from '@chute/runtime';
import { type BrokerConnection } from '@chute/log';
import { uniqueName, waitFor } from '@chute/testing';

/** A reader of a platform's topics, for checking what is on the log after a test. */
export interface Audit {
  readonly log: KafkaLog;
  readonly topics: PlatformTopics;
  stop(): Promise<void>;
}

/** Opens the topics of the platform whose environment this is (its broker and topic prefix), logged in as `connection` says. */
export async function openAudit(env: Record<string, string>, connection: BrokerConnection = {}): Promise<Audit> {
  const log = new KafkaLog({ brokers: env['CHUTE_KAFKA_BROKERS']!.split(','), clientId: uniqueName('audit'), logger: silentLogger, ...connection });
  await log.start();
  const topics = await openPlatformTopics(
    log,
    { prefix: env['CHUTE_TOPIC_PREFIX']!, runEventsPartitions: 6, streamPartitions: 6, workerEventsPartitions: 1 },
    { logger: silentLogger, metrics: new Metrics() },
  );
  return { log, topics, stop: () => log.stop() };
}

/** Every decodable record of a topic, from offset 0 to where it ends now. */
export async function readAll<T>(audit: Audit, topic: PlatformTopics[keyof PlatformTopics]): Promise<T[]> {
  const ends = await audit.log.endOffsets(topic.name);
  // Per partition, where reading has not reached its end yet; offsets of commit markers count, though no record is there.
  const pending = new Map(ends.filter((p) => p.offset > 0).map((p) => [p.partition, p.offset]));
  const got: T[] = [];
  const sub = await audit.log.read(
    topic.name,
    ends.map(({ partition }) => ({ partition, offset: 0 })),
    (records, next) => {
      const end = pending.get(next.partition);
      for (const { value, record } of topic.decode(records)) if (end !== undefined && record.offset < end) got.push(value as T);
      if (end !== undefined && next.offset >= end) pending.delete(next.partition);
    },
  );
  try {
    await waitFor(() => pending.size === 0, { timeoutMs: 60_000, message: `${topic.name} read up to where it ended (${pending.size} partitions to go)` });
  } finally {
    await sub.stop();
  }
  return got;
}
