import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseUpCommand } from '../components';
import { InvalidBrokerCountError } from '../errors';
import { checkBrokerCount } from './cluster';
import { decideClusterStart, type KeptNode } from './cluster-decision';
import { clusterNodes, internalReplication, quorumOf, serverProperties, singleNode } from './config';

const dir = (name: string) => `/x/.infra/${name}`;
const three = clusterNodes(19092, 3, dir);
const quorum3 = quorumOf(three);
const ports3 = new Map(three.map((n) => [n.id, n.port]));

describe('infra:up -- --brokers N', () => {
  test('the single broker is the default; --brokers N and --brokers=N ask for a cluster, components or not', () => {
    assert.deepEqual(parseUpCommand([]), { components: new Set(['kafka', 'postgres']), brokers: 1 });
    assert.deepEqual(parseUpCommand(['--brokers', '3']), { components: new Set(['kafka', 'postgres']), brokers: 3 });
    assert.deepEqual(parseUpCommand(['kafka', '--brokers=3']), { components: new Set(['kafka']), brokers: 3 });
  });

  test('--brokers without a whole number is refused, saying what it got', () => {
    assert.throws(() => parseUpCommand(['--brokers']), { name: 'InvalidBrokerCountError', message: '--brokers needs a whole number of brokers (got nothing)' });
    assert.throws(() => parseUpCommand(['--brokers', 'three']), { message: "--brokers needs a whole number of brokers (got 'three')" });
  });

  test('a cluster takes 1 to 5 brokers, two ports each, all of them ports', () => {
    assert.doesNotThrow(() => checkBrokerCount(9092, 3));
    assert.doesNotThrow(() => checkBrokerCount(65530, 3));
    for (const [port, count] of [[9092, 0], [9092, 6], [65531, 3]] as const) {
      assert.throws(() => checkBrokerCount(port, count), InvalidBrokerCountError);
    }
    assert.throws(() => checkBrokerCount(65531, 3), { message: '3 brokers from port 65531 would need ports up to 65536: set a lower CHUTE_INFRA_KAFKA_PORT' });
  });
});

describe("a cluster's nodes and their configuration", () => {
  test('node i listens on port + 2(i-1) and its controller on the next; node 1 is the single broker, files and all', () => {
    assert.deepEqual(three, [
      { id: 1, port: 19092, controllerPort: 19093, dir: '/x/.infra/kafka' },
      { id: 2, port: 19094, controllerPort: 19095, dir: '/x/.infra/kafka-2' },
      { id: 3, port: 19096, controllerPort: 19097, dir: '/x/.infra/kafka-3' },
    ]);
    assert.deepEqual(clusterNodes(19092, 1, dir), [singleNode(19092, '/x/.infra/kafka')]);
  });

  test('every node of a cluster names all three voters; the single node stays a standalone quorum', () => {
    assert.equal(quorum3, '1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097');
    assert.equal(quorumOf([singleNode(19092, dir('kafka'))]), 'standalone');
    const second = serverProperties(three[1]!, '/x/.infra/kafka-2/data', three);
    assert.match(second, /^node\.id=2$/m);
    assert.match(second, /^controller\.quorum\.voters=1@127\.0\.0\.1:19093,2@127\.0\.0\.1:19095,3@127\.0\.0\.1:19097$/m);
    assert.doesNotMatch(second, /controller\.quorum\.bootstrap\.servers/);
    assert.match(second, /^advertised\.listeners=PLAINTEXT:\/\/127\.0\.0\.1:19094$/m);
  });

  test('internal topics are copied to min(3, brokers) nodes, two in sync where there are three', () => {
    assert.deepEqual([1, 2, 3, 5].map(internalReplication), [
      { replicationFactor: 1, minInsync: 1 },
      { replicationFactor: 2, minInsync: 1 },
      { replicationFactor: 3, minInsync: 2 },
      { replicationFactor: 3, minInsync: 2 },
    ]);
    const properties = serverProperties(three[0]!, '/d', three);
    for (const line of ['offsets.topic.replication.factor=3', 'transaction.state.log.replication.factor=3', 'transaction.state.log.min.isr=2', 'broker.session.timeout.ms=3000']) {
      assert.match(properties, new RegExp(`^${line.replace(/\./g, '\\.')}$`, 'm'));
    }
    const single = serverProperties(singleNode(9092, '/d'), '/d/data');
    assert.match(single, /^offsets\.topic\.replication\.factor=1$/m);
    assert.doesNotMatch(single, /broker\.session\.timeout\.ms/);
  });
});

describe('a cluster starts empty, or on kept data only whole', () => {
  const kept = (id: number, over: Partial<KeptNode> = {}): KeptNode => ({ id, clusterId: 'C', port: ports3.get(id), quorum: quorum3, ...over });
  const empty = (id: number): KeptNode => ({ id, clusterId: undefined, port: undefined, quorum: undefined });
  const wanted = { ports: ports3, quorum: quorum3, running: 0 };

  test('no data anywhere starts every node empty; every node of one cluster restarts on its data', () => {
    assert.deepEqual(decideClusterStart([empty(1), empty(2), empty(3)], wanted), { action: 'fresh' });
    assert.deepEqual(decideClusterStart([kept(1), kept(2), kept(3)], wanted), { action: 'kept', clusterId: 'C' });
  });

  test('a killed broker rejoins the running ones on its kept data, and only on it', () => {
    assert.deepEqual(decideClusterStart([kept(2)], { ...wanted, running: 2 }), { action: 'kept', clusterId: 'C' });
    const refused = decideClusterStart([empty(2)], { ...wanted, running: 2 });
    assert.equal(refused.action, 'refuse');
  });

  test('a single broker\'s data (from before clusters: no quorum recorded) restarts as a single broker', () => {
    const single = { id: 1, clusterId: 'S', port: 9092, quorum: undefined };
    assert.deepEqual(decideClusterStart([single], { ports: new Map([[1, 9092]]), quorum: 'standalone', running: 0 }), { action: 'kept', clusterId: 'S' });
  });

  test("a single broker's data asked to start as a cluster is refused, saying how to start it as it was or delete it", () => {
    const decision = decideClusterStart([kept(1, { quorum: 'standalone' }), empty(2), empty(3)], wanted);
    assert.deepEqual(decision, {
      action: 'refuse',
      message: "this checkout's kept Kafka data (broker 1) is of a single broker, not a cluster of 3 brokers: start it as it was (--brokers 1) or delete it (npm run infra:down -- --wipe) to start empty",
    });
  });

  test('data for another port is refused, naming the port it was formatted for', () => {
    const decision = decideClusterStart([kept(1), kept(2, { port: 29094 }), kept(3)], wanted);
    assert.equal(decision.action, 'refuse');
    assert.match(decision.action === 'refuse' ? decision.message : '', /\(broker 2\) keeps its data for port 29094, not 19094/);
  });

  test('nodes that do not form one cluster (one lost its data, or of two clusters) are refused, never wiped unasked', () => {
    const lost = decideClusterStart([kept(1), empty(2), kept(3)], wanted);
    assert.deepEqual(lost, { action: 'refuse', message: "this checkout's kept Kafka data does not form one cluster (brokers 2 have none): delete it (npm run infra:down -- --wipe) to start empty" });
    const mixed = decideClusterStart([kept(1), kept(2, { clusterId: 'D' }), kept(3)], wanted);
    assert.match(mixed.action === 'refuse' ? mixed.message : '', /they belong to clusters C, D/);
  });
});
