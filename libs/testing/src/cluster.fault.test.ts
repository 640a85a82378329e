// ClusterControl on a three-broker cluster of its own (temp root, free
// ports, started through @chute/infra): which broker leads what and
// coordinates what, and each broker killed, paused, stopped and started
// again while the other two serve. Run by `npm run test:faults`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { ClusterControl, coordinatorPartition } from './cluster';
import { uniqueName } from './env';
import { waitFor } from './wait';

/** Whether the process is gone or a zombie (dead, waiting for this process, its parent, to reap it). */
function isDead(pid: number): boolean {
  const state = procState(pid);
  return state === undefined || state === 'Z' || state === 'X';
}

/** A process's state letter in /proc (T: stopped by a signal), read independently of ClusterControl. */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0];
  } catch {
    return undefined;
  }
}

describe("coordinatorPartition: where Kafka keeps a group's or a transaction's state", () => {
  test("it is Java's String.hashCode, made non-negative as Kafka's Utils.abs does, modulo the partitions", () => {
    // "test".hashCode() = 3556498; "Aa".hashCode() = 2112;
    // "polygenelubricants".hashCode() = Integer.MIN_VALUE, which Utils.abs maps to 0.
    assert.equal(coordinatorPartition('test', 50), 3556498 % 50);
    assert.equal(coordinatorPartition('Aa', 1000), 112);
    assert.equal(coordinatorPartition('polygenelubricants', 10), 0);
    assert.equal(coordinatorPartition('', 7), 0);
  });
});

describe('ClusterControl on a three-broker cluster', () => {
  let cluster: ClusterControl;
  const topic = uniqueName('cluster-control');
  const kafka = () => new Kafka({ clientId: uniqueName('cluster-control'), brokers: cluster.addresses.split(','), logLevel: logLevel.NOTHING });

  before(async () => {
    cluster = await ClusterControl.start({ brokers: 3 });
    const admin = kafka().admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 6, replicationFactor: 3 }], waitForLeaders: true });
    await admin.disconnect();
  });

  after(async () => {
    await cluster?.stop();
  });

  test('the leaders of every partition are among the three brokers, and the busiest leads at least a third', async () => {
    const leaders = await cluster.leaders([topic]);
    assert.equal(leaders.size, 6);
    assert.ok([...leaders.values()].every((id) => [1, 2, 3].includes(id)), JSON.stringify([...leaders]));
    const busiest = await cluster.busiestLeader([topic]);
    assert.ok(busiest.partitions >= 2, `broker ${busiest.id} leads ${busiest.partitions} of 6`);
    assert.equal([...leaders.values()].filter((id) => id === busiest.id).length, busiest.partitions);
  });

  test("the group and transaction coordinators are the leaders of the group's and the id's partitions of the internal topics", async () => {
    const groupId = uniqueName('group');
    const consumer = kafka().consumer({ groupId });
    let joined = false;
    consumer.on(consumer.events.GROUP_JOIN, () => (joined = true));
    await consumer.connect();
    await consumer.subscribe({ topics: [topic] });
    await consumer.run({ eachMessage: async () => undefined });
    const transactionalId = uniqueName('txn');
    const producer = kafka().producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    try {
      await waitFor(() => joined, { timeoutMs: 30_000, message: 'the consumer to join its group' });
      await producer.connect();
      const transaction = await producer.transaction();
      await transaction.send({ topic, messages: [{ key: 'k', value: 'v' }] });
      await transaction.commit();

      const admin = kafka().admin();
      await admin.connect();
      const { topics } = await admin.fetchTopicMetadata({ topics: ['__consumer_offsets', '__transaction_state'] });
      await admin.disconnect();
      const leaderOf = (name: string, id: string): number => {
        const partitions = topics.find((t) => t.name === name)!.partitions;
        return partitions.find((p) => p.partitionId === coordinatorPartition(id, partitions.length))!.leader;
      };
      assert.equal(await cluster.groupCoordinator(groupId), leaderOf('__consumer_offsets', groupId));
      assert.equal(await cluster.transactionCoordinator(transactionalId), leaderOf('__transaction_state', transactionalId));
      // The internal topics are replicated like the platform's: three copies.
      assert.ok(topics.every((t) => t.partitions.every((p) => p.replicas.length === 3)), 'every internal partition has three replicas');
    } finally {
      await producer.disconnect();
      await consumer.disconnect();
    }
  });

  test('a killed broker is dead, process group and port; the others take its partitions; started again it rejoins on its data', async () => {
    const { id } = await cluster.busiestLeader([topic]);
    const broker = cluster.broker(id);
    const pid = broker.pid!;
    await broker.kill();
    assert.ok(isDead(pid), `the killed broker (pid ${pid}) is gone`);
    assert.equal(broker.isRunning(), false);
    assert.equal(await broker.acceptsConnections(), false);
    await waitFor(async () => ![...(await cluster.leaders([topic])).values()].includes(id), {
      timeoutMs: 30_000,
      intervalMs: 200,
      message: `the partitions broker ${id} led to get other leaders`,
    });
    // Two of three in sync: writes are still taken.
    const producer = kafka().producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: Array.from({ length: 12 }, (_, i) => ({ key: `k${i}`, value: 'while one is down' })) });
    await producer.disconnect();

    await broker.start();
    assert.ok(broker.isRunning());
    assert.notEqual(broker.pid, pid);
  });

  test('a paused broker is stopped by the kernel until resumed; a stopped one is gone until started', async () => {
    const broker = cluster.broker(2);
    broker.pause();
    const pid = broker.pid!;
    assert.ok(broker.isPaused());
    await waitFor(() => procState(pid) === 'T', { timeoutMs: 5_000, message: 'the paused broker to be stopped (T)' });
    broker.resume();
    await waitFor(() => procState(pid) !== 'T', { timeoutMs: 5_000, message: 'the resumed broker to run again' });
    assert.equal(broker.isPaused(), false);

    await broker.stop();
    assert.ok(isDead(pid), 'the stopped broker is gone');
    await broker.start();
    assert.ok(broker.isRunning());
  });
});
