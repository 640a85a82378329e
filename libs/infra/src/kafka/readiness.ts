import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin } from 'kafkajs';

/**
 * Every partition without a leader, __consumer_offsets included (consumer
 * groups need its leaders), as "topic/partition".
 */
async function leaderless(admin: Admin): Promise<string[]> {
  const topics = await admin.listTopics();
  if (topics.length === 0) return [];
  const { topics: metadata } = await admin.fetchTopicMetadata({ topics });
  return metadata.flatMap((topic) =>
    topic.partitions.filter((p) => p.partitionErrorCode !== 0 || p.leader < 0).map((p) => `${topic.name}/${p.partitionId}`),
  );
}

/**
 * Waits until a Kafka-protocol broker answers a metadata request and every
 * partition it holds has a leader. An open port is not yet a broker that has
 * registered with its controller, and one restarted on kept data answers
 * metadata before it has recovered its logs and leads its partitions again:
 * clients that start then meet LEADER_NOT_AVAILABLE and NOT_COORDINATOR.
 * With `expectBrokers`, also until that many brokers have registered.
 * Resolves undefined when ready, or what it was still waiting for when the
 * deadline passed.
 */
export async function waitForBrokerReady(brokers: string, timeoutSeconds: number, signal?: AbortSignal, expectBrokers = 1): Promise<string | undefined> {
  // Loaded here, not at the top: only a start that waits for a broker needs kafkajs.
  const { Kafka, logLevel } = await import('kafkajs');
  const deadline = Date.now() + timeoutSeconds * 1000;
  let waitingFor = 'an answer';
  for (;;) {
    signal?.throwIfAborted();
    const admin = new Kafka({ clientId: 'chute-infra', brokers: brokers.split(','), logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
    try {
      await admin.connect();
      // A cluster is ready once all its brokers have registered: topics created before would get fewer replicas.
      const registered = (await admin.describeCluster()).brokers.length;
      if (registered < expectBrokers) {
        await admin.disconnect();
        waitingFor = `${expectBrokers} brokers to register (${registered} so far)`;
        if (Date.now() > deadline) return `still waiting for ${waitingFor}`;
        await sleep(500, undefined, signal ? { signal } : undefined);
        continue;
      }
      const missing = await leaderless(admin);
      await admin.disconnect();
      if (missing.length === 0) return undefined;
      waitingFor = `leaders for ${missing.length} partitions (e.g. ${missing.slice(0, 3).join(', ')})`;
    } catch (error) {
      await admin.disconnect().catch(() => undefined);
      waitingFor = `an answer (${(error as Error).message})`;
    }
    if (Date.now() > deadline) return `still waiting for ${waitingFor}`;
    await sleep(500, undefined, signal ? { signal } : undefined);
  }
}
