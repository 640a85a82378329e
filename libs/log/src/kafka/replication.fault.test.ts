// The platform's topics on a three-broker cluster of their own (started
// through @chute/infra by ClusterControl): three copies of every partition
// and min.insync.replicas=2. Run by `npm run test:faults`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import { silentLogger } from '@chute/runtime';
import { ClusterControl, uniqueName } from '@chute/testing';
import { platformTopicSpecs } from '../platform/topics';
import { KafkaLog } from './kafka-log';

describe('topics created on a three-broker cluster', () => {
  let cluster: ClusterControl;

  before(async () => {
    cluster = await ClusterControl.start({ brokers: 3 });
  });

  after(async () => {
    await cluster?.stop();
  });

  // The cluster's brokers leave default.replication.factor and min.insync.replicas at 1: what is found here, KafkaLog asked for.
  test('every platform topic has three replicas of each partition and min.insync.replicas=2', async () => {
    const log = new KafkaLog({ brokers: cluster.addresses.split(','), clientId: uniqueName('replication'), logger: silentLogger });
    const specs = platformTopicSpecs({ prefix: uniqueName('replication'), runEventsPartitions: 6, streamPartitions: 6, workerEventsPartitions: 1 });
    await log.start();
    try {
      await log.ensureTopics(specs);
    } finally {
      await log.stop();
    }
    const admin = new Kafka({ clientId: uniqueName('replication'), brokers: cluster.addresses.split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const names = specs.map((s) => s.name);
      const { topics } = await admin.fetchTopicMetadata({ topics: names });
      for (const t of topics) {
        assert.deepEqual([...new Set(t.partitions.map((p) => p.replicas.length))], [3], `${t.name}: three replicas of every partition`);
        assert.deepEqual([...new Set(t.partitions.map((p) => p.isr.length))], [3], `${t.name}: all three in sync`);
      }
      const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: names.map((name) => ({ type: 2, name, configNames: ['min.insync.replicas'] })) });
      // Set on the topic (configSource 1, TOPIC_CONFIG), not inherited: the cluster's own default is 1.
      const minInsync = (r: (typeof resources)[number]) => r.configEntries.find((e) => e.configName === 'min.insync.replicas');
      assert.deepEqual(
        resources.map((r) => [r.resourceName, minInsync(r)?.configValue, (minInsync(r) as { configSource?: number } | undefined)?.configSource]),
        names.map((name) => [name, '2', 1]),
      );
    } finally {
      await admin.disconnect();
    }
  });
});
