import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSendMessages, type KafkajsBroker, type KafkajsCluster, type KafkajsEosManager } from './send-messages';

/** A cluster of brokers 1 and 3 whose leaders the test moves; each broker records what it was sent. */
function fakeCluster(leaders: Map<number, number>) {
  const sent: Array<{ broker: number; partitions: number[] }> = [];
  const failing = new Set<number>();
  const broker = (nodeId: number): KafkajsBroker => ({
    nodeId,
    async produce(request) {
      const { topicData } = request as { topicData: Array<{ topic: string; partitions: Array<{ partition: number }> }> };
      const partitions = topicData.flatMap((t) => t.partitions.map((p) => p.partition));
      if (failing.has(nodeId)) throw Object.assign(new Error(`broker ${nodeId} is down`), { name: 'KafkaJSConnectionError' });
      sent.push({ broker: nodeId, partitions });
      return topicData.flatMap((t) => t.partitions.map((p) => ({ topicName: t.topic, partition: p.partition })));
    },
  });
  const brokers = new Map([1, 3].map((id) => [id, broker(id)]));
  const cluster: KafkajsCluster = {
    refreshMetadataIfNecessary: async () => undefined,
    refreshMetadata: async () => undefined,
    addMultipleTargetTopics: async () => undefined,
    findTopicPartitionMetadata: () => [...leaders.keys()].map((partitionId) => ({ partitionId })),
    findLeaderForPartitions: (_topic, partitions) => {
      const result: Record<string, number[]> = {};
      for (const p of partitions) (result[String(leaders.get(p))] ??= []).push(p);
      return result;
    },
    findBroker: async ({ nodeId }) => brokers.get(Number(nodeId))!,
    removeBroker: () => undefined,
    isConnected: () => true,
    connect: async () => undefined,
  };
  return { cluster, sent, failing };
}

const eosManager: KafkajsEosManager = {
  acquireBrokerLock: async () => undefined,
  releaseBrokerLock: async () => undefined,
  isTransactional: () => false,
  addPartitionsToTransaction: async () => undefined,
  getSequence: () => 0,
  updateSequence: () => undefined,
  getTransactionalId: () => undefined,
  getProducerId: () => 1,
  getProducerEpoch: () => 0,
};

/** kafkajs's retrier, reduced: retries a thrown attempt up to `times` times, at once. */
const retrier =
  (times: number, between: () => void) =>
  async <T>(attempt: (bail: (error: unknown) => void, retryCount: number, retryTime: number) => Promise<T>): Promise<T> => {
    for (let i = 0; ; i++) {
      try {
        return await attempt((error) => {
          throw error;
        }, i, 0);
      } catch (error) {
        if (i >= times) throw error;
        between();
      }
    }
  };

describe('sending to partitions whose leader moves during the send (kafkajs sendMessages, patched)', () => {
  test("a partition that moves to a broker that has answered already is still sent there, and the others once", async () => {
    // Partition 0 is led by broker 1, partition 1 by broker 3, which dies; its partition moves to broker 1.
    const leaders = new Map([[0, 1], [1, 3]]);
    const { cluster, sent, failing } = fakeCluster(leaders);
    failing.add(3);
    const send = createSendMessages({
      logger: { error: () => undefined, debug: () => undefined },
      cluster,
      eosManager,
      partitioner: ({ message }) => message.partition!,
      retrier: retrier(3, () => leaders.set(1, 1)),
      responseSerializer: (response) => response as Array<{ topicName: string; partition: number }>,
    });
    const answers = await send({ acks: -1, topicMessages: [{ topic: 't', messages: [{ partition: 0 }, { partition: 1 }] }] });
    assert.deepEqual(sent, [
      { broker: 1, partitions: [0] },
      { broker: 1, partitions: [1] },
    ]);
    assert.deepEqual(answers.map((a) => a.partition).sort(), [0, 1]);
  });
});
