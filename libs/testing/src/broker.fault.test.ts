// This suite stops and kills the broker of the environment: in `npm test`, the
// one the test script (tools/infra) started, which every other suite shares. Suites never run beside
// it (nx --parallel=1, and node --test-concurrency=1 within a project), but some
// run after it, so before it returns - also when it fails - the broker runs again
// on its data with every partition led (BrokerControl.ensureRunning in `finally`).
// With a broker this checkout did not start (given elsewhere, or Docker) it fails:
// a fault test that cannot control its broker must not pass by skipping.
//
// kafkajs directly, not @chute/log's KafkaLog: @chute/log's own tests import this
// package, and Nx refuses a cycle between the two projects.
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel, Partitioners, type Admin } from 'kafkajs';
import { BrokerControl } from './broker';
import { testBrokers, uniqueName } from './env';
import { waitFor } from './wait';

const PARTITIONS = 3;

function client(): Kafka {
  return new Kafka({ clientId: uniqueName('broker-control'), brokers: testBrokers(), logLevel: logLevel.NOTHING });
}

function values(from: number, to: number): string[] {
  return Array.from({ length: to - from }, (_, i) => `record-${from + i}`);
}

async function withAdmin<T>(use: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = client().admin();
  await admin.connect();
  try {
    return await use(admin);
  } finally {
    await admin.disconnect();
  }
}

async function produce(topic: string, records: string[]): Promise<void> {
  const producer = client().producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    // acks -1 (the default): each record is in the broker's log before send resolves.
    await producer.send({ topic, messages: records.map((value) => ({ key: value, value })) });
  } finally {
    await producer.disconnect();
  }
}

/** Every record of the topic, read from the beginning by a group of its own, sorted. */
async function readAll(topic: string, expected: number): Promise<string[]> {
  const consumer = client().consumer({ groupId: uniqueName('broker-control') });
  const seen: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(message.value!.toString());
      },
    });
    await waitFor(() => seen.length >= expected, { timeoutMs: 60_000, message: `${expected} records of ${topic} (read ${seen.length})` });
  } finally {
    await consumer.disconnect();
  }
  return seen.sort((a, b) => Number(a.split('-')[1]) - Number(b.split('-')[1]));
}

/** Whether the process is gone or a zombie, read from /proc independently of BrokerControl. */
function isDead(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return /^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return true;
  }
}

describe('BrokerControl', () => {
  test('refuses a broker this checkout did not start, before touching anything', () => {
    assert.throws(() => BrokerControl.ofThisCheckout(['127.0.0.1:1']), /BrokerControl: 127\.0\.0\.1:1 is not a broker this checkout's infra scripts started/);
  });

  test('a stopped broker, then a killed one, starts again with every record it had', async () => {
    const broker = BrokerControl.ofThisCheckout();
    const topic = uniqueName('broker-control');
    try {
      await withAdmin((admin) => admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true }));
      await produce(topic, values(0, 50));

      const stoppedPid = broker.pid!;
      await broker.stop();
      assert.equal(broker.isRunning(), false);
      assert.ok(isDead(stoppedPid), `the stopped broker (pid ${stoppedPid}) is gone`);
      assert.equal(await broker.acceptsConnections(), false);

      await broker.start();
      assert.notEqual(broker.pid, stoppedPid);
      assert.deepEqual(await readAll(topic, 50), values(0, 50));
      await produce(topic, values(50, 100));

      const killedPid = broker.pid!;
      await broker.kill();
      assert.ok(isDead(killedPid), `the killed broker (pid ${killedPid}) is gone`);
      assert.equal(broker.isRunning(), false);
      assert.equal(await broker.acceptsConnections(), false);

      await broker.start();
      assert.deepEqual(await readAll(topic, 100), values(0, 100));
    } finally {
      await broker.ensureRunning();
      await withAdmin((admin) => admin.deleteTopics({ topics: [topic] })).catch(() => undefined);
    }
  });
});
