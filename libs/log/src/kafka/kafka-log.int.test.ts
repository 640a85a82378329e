import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import { Metrics, silentLogger } from '@chute/runtime';
import { testBrokers, uniqueName, waitFor } from '@chute/testing';
import { KafkaLog } from './kafka-log';
import { hasKafkaErrorType } from './errors';
import { logContract } from '../log-contract.test-suite';

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

describe('kafka log: exclusive appenders', () => {
  test('a claim aborts the transaction a dead appender left open, and readers move past the aborted records with an empty batch', async () => {
    const log = new KafkaLog({ brokers: testBrokers(), clientId: uniqueName('exclusive'), logger: silentLogger });
    await log.start();
    const topic = uniqueName('exclusive');
    const id = uniqueName('appender');
    await log.ensureTopics([{ name: topic, partitions: 1 }]);
    // An appender that died mid-append: its transaction is open and will never be ended by it.
    const kafka = new Kafka({ clientId: uniqueName('dead'), brokers: testBrokers(), logLevel: logLevel.NOTHING });
    const dead = kafka.producer({ transactionalId: id, idempotent: true, maxInFlightRequests: 1 });
    await dead.connect();
    const open = await dead.transaction();
    await open.send({ topic, acks: -1, messages: [{ key: 'k', value: 'half done' }] });
    const batches: { records: string[]; next: number }[] = [];
    const reader = await log.read(topic, [{ partition: 0, offset: 0 }], (rs, next) => void batches.push({ records: rs.map((r) => r.value.toString()), next: next.offset }));
    const successor = log.exclusiveAppender(id);
    try {
      await successor.claim();
      // The record and the abort marker the claim wrote: nothing for a reader, but two offsets to pass.
      await waitFor(async () => (await log.endOffsets(topic))[0]!.offset === 2, { timeoutMs: 30_000, message: 'the abort marker' });
      await waitFor(() => batches.some((b) => b.next === 2), { timeoutMs: 30_000, message: 'the reader to move past the aborted transaction' });
      assert.deepEqual(batches, [{ records: [], next: 2 }], 'one empty batch: the aborted record never reaches the reader');
      await assert.rejects(open.commit(), (error: unknown) => hasKafkaErrorType(error, 'INVALID_PRODUCER_EPOCH'), 'the dead appender is fenced');
    } finally {
      await reader.stop();
      await dead.disconnect().catch(() => undefined);
      await successor.stop();
      await log.stop();
    }
  });

  test('back-to-back appends ask where their transaction coordinator is once, not before every AddPartitionsToTxn and EndTxn', async () => {
    const metrics = new Metrics();
    const log = new KafkaLog({ brokers: testBrokers(), clientId: uniqueName('coordinator'), logger: silentLogger, metrics });
    await log.start();
    const topic = uniqueName('coordinator');
    await log.ensureTopics([{ name: topic, partitions: 1 }]);
    const appender = log.exclusiveAppender(uniqueName('appender'));
    const requests = metrics.counter('chute_log_requests_total', '');
    try {
      await appender.claim();
      const before = { find: requests.get({ api: 'GroupCoordinator' }), end: requests.get({ api: 'EndTxn' }), add: requests.get({ api: 'AddPartitionsToTxn' }) };
      for (let i = 0; i < 10; i++) await appender.append([{ topic, records: [{ key: 'k', value: `append ${i}` }] }]);
      assert.equal(requests.get({ api: 'EndTxn' }) - before.end, 10, 'each append is a transaction of its own');
      // Each transaction adds its partition. How many are sent again after a
      // CONCURRENT_TRANSACTIONS answer depends on how fast the broker writes the
      // previous commit's markers (the alternating ids make it rare): a figure
      // for the benchmark, not an assertion.
      assert.ok(requests.get({ api: 'AddPartitionsToTxn' }) - before.add >= 10, 'each transaction adds its partition');
      assert.equal(requests.get({ api: 'GroupCoordinator' }) - before.find, 0, 'the claim looked the coordinator up; the 10 transactions did not again');
      // The broker writes a transaction's commit marker after EndTxn answers.
      await waitFor(async () => (await log.endOffsets(topic))[0]!.offset === 20, { timeoutMs: 30_000, message: '10 records and 10 commit markers' });
    } finally {
      await appender.stop();
      await log.stop();
    }
  });
});

describe('kafka log: commits', () => {
  test('a group with a commit interval commits its first batch at once and later ones only once the interval has passed', async () => {
    const log = new KafkaLog({ brokers: testBrokers(), clientId: uniqueName('commits'), logger: silentLogger });
    await log.start();
    try {
      const topic = uniqueName('commits');
      const group = uniqueName('commits-group');
      await log.ensureTopics([{ name: topic, partitions: 1 }]);
      let handled = 0;
      const sub = await log.consume({ group, topics: [topic], commitIntervalMs: 60_000, handler: (records) => void (handled += records.length) });
      try {
        await log.append(topic, [{ key: 'k', value: 'first' }]);
        await waitFor(async () => (await log.committedOffsets(group, topic))[0]?.offset === 1, { message: 'the first batch committed' });
        await log.append(topic, [{ key: 'k', value: 'second' }]);
        await log.append(topic, [{ key: 'k', value: 'third' }]);
        await waitFor(() => handled === 3, { message: 'every record handled' });
        assert.deepEqual(
          (await log.committedOffsets(group, topic)).map((c) => c.offset),
          [1],
          'handled, not committed: the interval has not passed',
        );
      } finally {
        await sub.stop();
      }
    } finally {
      await log.stop();
    }
  });
});
