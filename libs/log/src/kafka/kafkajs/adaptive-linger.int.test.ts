import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger } from '@chute/runtime';
import { testBrokers, uniqueName, waitFor } from '@chute/testing';
import { KafkaLog } from '../kafka-log';

/** kafkajs's consumer group class, whose fetches are counted here. */
const ConsumerGroup = require('kafkajs/src/consumer/consumerGroup.js') as { prototype: { groupId: string; fetch(nodeId: string): Promise<unknown[]> } };

test('a lingering consumer polls at its idle pace at rest, not every linger, and still batches a burst', async () => {
  const log = new KafkaLog({ brokers: testBrokers(), clientId: uniqueName('linger'), logger: silentLogger });
  await log.start();
  const topic = uniqueName('linger');
  const group = uniqueName('linger-group');
  const fetches: number[] = [];
  // Wraps kafkajs's (already patched) fetch to count this group's fetches.
  const patched = ConsumerGroup.prototype.fetch;
  ConsumerGroup.prototype.fetch = function (this: { groupId: string }, nodeId: string) {
    if (this.groupId === group) fetches.push(Date.now());
    return patched.call(this, nodeId);
  };
  const batches: number[] = [];
  try {
    await log.ensureTopics([{ name: topic, partitions: 1 }]);
    await log.consume({ group, topics: [topic], lingerMs: 50, handler: (records) => void batches.push(records.length) });
    await waitFor(() => fetches.length > 2, { message: 'the consumer to fetch' });
    await sleep(1000);
    const before = fetches.length;
    await sleep(3000);
    const atRest = fetches.length - before;
    // Every 50 ms would be about 60 fetches in 3 s; at the idle wait (1 s) about 3.
    assert.ok(atRest <= 20, `${atRest} fetches in 3 s at rest`);

    for (let i = 0; i < 200; i++) void log.append(topic, [{ key: 'k', value: `r${i}` }]);
    await waitFor(() => batches.reduce((a, b) => a + b, 0) === 200, { message: 'all 200 records' });
    // The first fetch after rest may bring one record; then it lingers and gathers the rest.
    assert.ok(batches.length <= 20, `200 records in ${batches.length} batches: ${JSON.stringify(batches)}`);
  } finally {
    ConsumerGroup.prototype.fetch = patched;
    await log.stop();
  }
});
