// Brings a real Kafka broker and PostgreSQL up and down through the library,
// in a checkout of its own (a temp root sharing this one's jars) on free
// ports, so it runs beside the infrastructure `npm test` itself started.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseStartedFile, type Started } from './components';
import { InfraDown } from './down';
import { parseEnvFile } from './env-file';
import { KafkaBroker } from './kafka/broker';
import { KafkaCluster } from './kafka/cluster';
import { singleNode } from './kafka/config';
import { PostgresServer } from './postgres/server';
import { groupMembers, isAlive, processStat } from './processes';
import { silentReporter } from './reporter';
import { freePortRange, settingsFromEnv, type InfraSettings } from './settings';
import { InfraLayout } from './state-dir';
import { InfraUp } from './up';

const repoRoot = path.resolve(__dirname, '../../..');

/** A temp checkout root that shares this one's Kafka jars (found from the pom's hash under the root). */
function tempRoot(): string {
  const root = mkdtempSync(path.join(tmpdir(), 'chute-infra-int-'));
  mkdirSync(path.join(root, 'infra', 'kafka'), { recursive: true });
  cpSync(path.join(repoRoot, 'infra/kafka/pom.xml'), path.join(root, 'infra/kafka/pom.xml'));
  symlinkSync(path.join(repoRoot, '.cache'), path.join(root, '.cache'));
  return root;
}

describe('InfraUp and InfraDown on a real broker and PostgreSQL', () => {
  const root = tempRoot();
  let settings: InfraSettings;
  let layout: InfraLayout;
  let kafka: KafkaBroker;
  let postgres: PostgresServer;
  const startedFile = path.join(root, 'started');
  const up = (components: Array<'kafka' | 'postgres'> = ['kafka', 'postgres']) =>
    new InfraUp(layout, settings, silentReporter).run({ components: new Set(components), startedFile });
  const down = (wipe = false) => new InfraDown(layout, settings, silentReporter).run({ components: ['docker', 'kafka', 'postgres'], wipe });
  const started = (): Started[] => (existsSync(startedFile) ? parseStartedFile(readFileSync(startedFile, 'utf8')) : []);

  before(async () => {
    const kafkaPort = await freePortRange(2);
    const pgPort = await freePortRange(2);
    settings = settingsFromEnv({ CHUTE_INFRA_KAFKA_PORT: String(kafkaPort), CHUTE_INFRA_PG_PORT: String(pgPort) });
    layout = new InfraLayout(root, settings.tempDir);
    kafka = new KafkaBroker(layout, singleNode(kafkaPort, layout.state('kafka')), silentReporter);
    postgres = new PostgresServer(layout, pgPort, silentReporter);
  });

  after(async () => {
    await down(true).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  });

  test('a first up starts both empty, records them and writes their addresses', async () => {
    const result = await up();
    assert.deepEqual(result.started, [
      { component: 'kafka', state: 'fresh' },
      { component: 'postgres', state: 'fresh' },
    ]);
    assert.deepEqual(started(), result.started);
    assert.equal(result.addresses.brokers, `127.0.0.1:${settings.kafkaPort}`);
    assert.equal(result.addresses.databaseUrl, `postgres://postgres@127.0.0.1:${settings.pgPort}/chute`);
    const env = parseEnvFile(readFileSync(layout.state('env'), 'utf8'));
    assert.equal(env.get('CHUTE_KAFKA_BROKERS'), result.addresses.brokers);
    assert.ok(kafka.pid() !== undefined && postgres.pid() !== undefined);
    // The read model is paired with the log it is projected from.
    assert.equal(readFileSync(path.join(layout.pgBase, 'kafka-cluster'), 'utf8').trim(), kafka.dataId());
  });

  test('a second up reuses what runs and starts nothing', async () => {
    const pids = [kafka.pid(), postgres.pid()];
    const result = await up();
    assert.deepEqual(result.started, []);
    assert.deepEqual([kafka.pid(), postgres.pid()], pids);
  });

  test('down stops both processes and keeps their data; the env file goes', async () => {
    const pids = [kafka.pid()!, postgres.pid()!];
    await down();
    assert.deepEqual(pids.filter(isAlive), [], 'every process up started is gone');
    assert.equal(kafka.leftover(), undefined);
    assert.equal(postgres.leftover(), undefined);
    assert.ok(!existsSync(layout.state('env')));
    assert.ok(kafka.dataId() !== undefined && postgres.dataId() !== undefined);
  });

  test('the next up restarts both on their kept data, the same cluster', async () => {
    const cluster = kafka.dataId();
    rmSync(startedFile, { force: true });
    const result = await up();
    assert.deepEqual(result.started, [
      { component: 'kafka', state: 'kept' },
      { component: 'postgres', state: 'kept' },
    ]);
    assert.equal(kafka.dataId(), cluster);
  });

  test('down --wipe stops both and deletes their data', async () => {
    const pids = [kafka.pid()!, postgres.pid()!];
    await down(true);
    assert.deepEqual(pids.filter(isAlive), []);
    assert.equal(kafka.dataId(), undefined);
    assert.ok(!existsSync(layout.pgBase), 'the PostgreSQL base dir is deleted');
  });
});

describe('InfraUp and InfraDown with --brokers 3: a replicated cluster', () => {
  const root = tempRoot();
  let settings: InfraSettings;
  let layout: InfraLayout;
  let cluster: KafkaCluster;
  const up = () => new InfraUp(layout, settings, silentReporter).run({ components: new Set(['kafka']), brokers: 3 });
  const down = (wipe = false) => new InfraDown(layout, settings, silentReporter).run({ components: ['kafka'], wipe });
  const pids = () => cluster.brokers.map((b) => b.pid());

  before(async () => {
    const kafkaPort = await freePortRange(6);
    settings = settingsFromEnv({ CHUTE_INFRA_KAFKA_PORT: String(kafkaPort) });
    layout = new InfraLayout(root, settings.tempDir);
    cluster = new KafkaCluster(layout, kafkaPort, 3, silentReporter);
  });

  after(async () => {
    await down(true).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  });

  test('up starts three brokers, each in a process group of its own, on consecutive ports, and writes all three addresses', async () => {
    const result = await up();
    assert.deepEqual(result.started, [{ component: 'kafka', state: 'fresh' }]);
    const port = settings.kafkaPort;
    const addresses = `127.0.0.1:${port},127.0.0.1:${port + 2},127.0.0.1:${port + 4}`;
    assert.equal(result.addresses.brokers, addresses);
    assert.equal(parseEnvFile(readFileSync(layout.state('env'), 'utf8')).get('CHUTE_KAFKA_BROKERS'), addresses);
    for (const pid of pids()) {
      assert.ok(pid !== undefined && isAlive(pid));
      assert.equal(processStat(pid)?.pgrp, pid, `broker ${pid} leads its own process group`);
    }
    const ids = cluster.brokers.map((b) => b.dataId());
    assert.ok(ids[0] !== undefined && ids.every((id) => id === ids[0]), `the three nodes form one cluster (${ids.join(', ')})`);
  });

  test('the brokers form one cluster: metadata names all three, and a topic gets three replicas', async () => {
    const { Kafka, logLevel } = await import('kafkajs');
    const admin = new Kafka({ clientId: 'infra-int', brokers: cluster.addresses.split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      assert.deepEqual((await admin.describeCluster()).brokers.map((b) => b.nodeId).sort(), [1, 2, 3]);
      // A group's first join creates __consumer_offsets with the broker's replication factor.
      await admin.createTopics({ topics: [{ topic: 'probe', numPartitions: 1, replicationFactor: 3 }], waitForLeaders: true });
      const [probe] = (await admin.fetchTopicMetadata({ topics: ['probe'] })).topics;
      assert.equal(probe?.partitions[0]?.replicas.length, 3);
    } finally {
      await admin.disconnect();
    }
  });

  test('a second up reuses the running cluster and starts nothing', async () => {
    const before = pids();
    const result = await up();
    assert.deepEqual(result.started, []);
    assert.deepEqual(pids(), before);
  });

  test('down stops every broker, whole process groups, and keeps their data', async () => {
    const running = pids() as number[];
    await down();
    assert.deepEqual(running.flatMap(groupMembers), [], 'nothing of any broker\'s process group is left');
    assert.deepEqual(cluster.brokers.map((b) => b.leftover()), [undefined, undefined, undefined]);
    assert.ok(!existsSync(layout.state('env')));
    assert.ok(cluster.brokers.every((b) => b.dataId() !== undefined));
  });

  test('the next up restarts all three on their kept data, the same cluster, with the topic still there', async () => {
    const id = cluster.dataId();
    const result = await up();
    assert.deepEqual(result.started, [{ component: 'kafka', state: 'kept' }]);
    assert.deepEqual(cluster.brokers.map((b) => b.dataId()), [id, id, id]);
    const { Kafka, logLevel } = await import('kafkajs');
    const admin = new Kafka({ clientId: 'infra-int', brokers: cluster.addresses.split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      assert.ok((await admin.listTopics()).includes('probe'));
    } finally {
      await admin.disconnect();
    }
  });

  test('up as a single broker while the cluster runs is refused, naming its size', async () => {
    await assert.rejects(
      new InfraUp(layout, settings, silentReporter).run({ components: new Set(['kafka']) }),
      { name: 'RunsWithOtherSizeError', message: /already runs with 3 brokers, not 1/ },
    );
    assert.ok(pids().every((pid) => pid !== undefined), 'the cluster still runs');
  });

  test('down --wipe stops all three and deletes their data', async () => {
    const running = pids() as number[];
    await down(true);
    assert.deepEqual(running.flatMap(groupMembers), []);
    assert.deepEqual(cluster.brokers.map((b) => b.dataId()), [undefined, undefined, undefined]);
    assert.ok(cluster.brokers.every((b) => !b.hasData()));
  });
});
