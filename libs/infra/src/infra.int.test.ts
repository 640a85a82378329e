// Brings a real Kafka broker and PostgreSQL up and down through the library,
// in a checkout of its own (a temp root sharing this one's jars) on free
// ports, so it runs beside the infrastructure `npm test` itself started.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseStartedFile, type Started } from './components';
import { InfraDown } from './down';
import { parseEnvFile } from './env-file';
import { KafkaBroker } from './kafka/broker';
import { singleNode } from './kafka/config';
import { PostgresServer } from './postgres/server';
import { isAlive } from './processes';
import { silentReporter } from './reporter';
import { settingsFromEnv, type InfraSettings } from './settings';
import { InfraLayout } from './state-dir';
import { InfraUp } from './up';

const repoRoot = path.resolve(__dirname, '../../..');

/** A port the OS hands out, whose next port is free too (Kafka's controller takes it). */
async function freePortPair(): Promise<number> {
  const listen = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(undefined));
      server.listen(port, '127.0.0.1', () => {
        const { port: got } = server.address() as { port: number };
        server.close(() => resolve(got));
      });
    });
  for (;;) {
    const port = await listen(0);
    if (port !== undefined && port < 65000 && (await listen(port + 1)) !== undefined) return port;
  }
}

describe('InfraUp and InfraDown on a real broker and PostgreSQL', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'chute-infra-int-'));
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
    // The jars are found from the pom's hash under the root: give this root the same pom and cache.
    mkdirSync(path.join(root, 'infra', 'kafka'), { recursive: true });
    cpSync(path.join(repoRoot, 'infra/kafka/pom.xml'), path.join(root, 'infra/kafka/pom.xml'));
    symlinkSync(path.join(repoRoot, '.cache'), path.join(root, '.cache'));
    const kafkaPort = await freePortPair();
    const pgPort = await freePortPair();
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
