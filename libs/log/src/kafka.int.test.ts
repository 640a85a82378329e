import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '@chute/runtime';
import { testBrokers, uniqueName } from '@chute/testing';
import { KafkaLog } from './kafka';
import { logContract } from './contract';

logContract('kafka', {
  open: async () => {
    const log = new KafkaLog({ brokers: testBrokers(), clientId: uniqueName('contract'), logger: silentLogger });
    await log.start();
    return log;
  },
  waitMs: 60_000,
});

describe('kafka log: services starting together', () => {
  test('a topic several services ensure at once answers offset lookups as soon as each ensureTopics resolves', async () => {
    const logs = Array.from({ length: 4 }, () => new KafkaLog({ brokers: testBrokers(), clientId: uniqueName('together'), logger: silentLogger }));
    await Promise.all(logs.map((l) => l.start()));
    try {
      for (let round = 0; round < 3; round++) {
        const topic = uniqueName('together');
        // Each goes straight from ensureTopics to an offset lookup, as the scheduler's start does.
        const ends = await Promise.all(
          logs.map(async (l) => {
            await l.ensureTopics([{ name: topic, partitions: 6 }]);
            return l.endOffsets(topic);
          }),
        );
        for (const offsets of ends) assert.equal(offsets.length, 6);
      }
    } finally {
      await Promise.all(logs.map((l) => l.stop()));
    }
  });
});
