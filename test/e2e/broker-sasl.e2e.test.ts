import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KafkaLog, kafkaLogFromConfig, type LogRecord } from '@chute/log';
import { parseEnv, silentLogger } from '@chute/runtime';
import { LogEnv } from '@chute/log';
import { ScramBroker, ServiceProcess, uniqueName, waitFor } from '@chute/testing';

// The broker connection's TLS and SASL against a real Kafka that requires a
// SCRAM-SHA-256 login (and, on a second listener, TLS with a client
// certificate): a second broker this test starts and stops itself, apart from
// the one `npm run infra:up` runs.

const USER = { name: 'chute', password: 'chute-scram-secret-7f3a' };
const WRONG_PASSWORD = 'not-the-password-91c2';

/** Everything a service or the SDK reads to log in as USER. */
const saslEnv = (password = USER.password): Record<string, string> => ({
  CHUTE_KAFKA_SASL_MECHANISM: 'scram-sha-256',
  CHUTE_KAFKA_SASL_USERNAME: USER.name,
  CHUTE_KAFKA_SASL_PASSWORD: password,
});

async function appendAndReadBack(log: KafkaLog): Promise<void> {
  const topic = uniqueName('sasl');
  await log.start();
  try {
    await log.ensureTopics([{ name: topic, partitions: 1 }]);
    await log.append(topic, [
      { key: 'a', value: 'one' },
      { key: 'a', value: 'two' },
    ]);
    const seen: LogRecord[] = [];
    const subscription = await log.read(topic, [{ partition: 0, offset: 0 }], (records) => void seen.push(...records));
    try {
      await waitFor(() => seen.length >= 2, { timeoutMs: 30_000, message: 'both records read back' });
    } finally {
      await subscription.stop();
    }
    assert.deepEqual(
      seen.map((r) => r.value.toString('utf8')),
      ['one', 'two'],
    );
  } finally {
    await log.stop();
  }
}

describe('broker connection: SASL/SCRAM and TLS against a real broker', () => {
  let broker: ScramBroker;
  const services: ServiceProcess[] = [];

  before(async () => {
    // No skip: a broker that cannot start fails every test here, with its log.
    broker = await ScramBroker.start({ users: [USER], tls: true });
  });

  after(async () => {
    await Promise.all(services.map((s) => s.kill()));
    await broker?.stop();
  });

  const start = (name: string, env: Record<string, string>): ServiceProcess => {
    const service = ServiceProcess.start(name, {
      CHUTE_TOPIC_PREFIX: uniqueName('sasl'),
      CHUTE_PROBE_PORT: '0',
      CHUTE_LOG_LEVEL: 'info',
      ...env,
    });
    services.push(service);
    return service;
  };

  test('a KafkaLog logging in with SCRAM-SHA-256 creates a topic, appends and reads back', async () => {
    const log = new KafkaLog({
      brokers: [broker.brokers],
      clientId: uniqueName('sasl-log'),
      logger: silentLogger,
      sasl: { mechanism: 'scram-sha-256', username: USER.name, password: USER.password },
    });
    await appendAndReadBack(log);
  });

  test('over TLS with a client certificate too, configured from the environment with file paths', async () => {
    const config = parseEnv(LogEnv, {
      CHUTE_KAFKA_BROKERS: broker.tlsBrokers,
      CHUTE_KAFKA_TLS: 'true',
      CHUTE_KAFKA_TLS_CA_FILE: broker.tlsFiles!.ca,
      CHUTE_KAFKA_TLS_CERT_FILE: broker.tlsFiles!.cert,
      CHUTE_KAFKA_TLS_KEY_FILE: broker.tlsFiles!.key,
      ...saslEnv(),
    });
    await appendAndReadBack(kafkaLogFromConfig(config, uniqueName('tls-log'), silentLogger));
  });

  test('the scheduler (SASL) and an SDK worker (SASL over TLS) start from their environment alone, and log no secret', async () => {
    const scheduler = start('scheduler', { CHUTE_KAFKA_BROKERS: broker.brokers, ...saslEnv() });
    const worker = start('worker', {
      CHUTE_KAFKA_BROKERS: broker.tlsBrokers,
      CHUTE_KAFKA_TLS: 'true',
      CHUTE_KAFKA_TLS_CA_FILE: broker.tlsFiles!.ca,
      CHUTE_KAFKA_TLS_CERT_FILE: broker.tlsFiles!.cert,
      CHUTE_KAFKA_TLS_KEY_FILE: broker.tlsFiles!.key,
      CHUTE_WORKER_TRANSPORT: 'kafka',
      ...saslEnv(),
    });
    await scheduler.waitForLog('started', 90_000);
    await worker.waitForLog('serving', 90_000);
    for (const service of [scheduler, worker]) {
      const output = JSON.stringify(service.lines) + service.stderr;
      assert.ok(!output.includes(USER.password), `${service.name} logged the SASL password`);
      assert.ok(!output.includes('PRIVATE KEY'), `${service.name} logged the TLS key`);
    }
  });

  test('a wrong password ends a service at start with one clear line and exit code 1', async () => {
    const scheduler = start('scheduler', { CHUTE_KAFKA_BROKERS: broker.brokers, ...saslEnv(WRONG_PASSWORD) });
    const code = await Promise.race([
      scheduler.waitForExit(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the scheduler still runs: ${scheduler.stderr}`)), 60_000).unref()),
    ]);
    assert.equal(code, 1);
    assert.equal(
      scheduler.stderr,
      'chute-scheduler: kafka: authentication failed for user chute (SASL SCRAM-SHA-256): check CHUTE_KAFKA_SASL_USERNAME / CHUTE_KAFKA_SASL_PASSWORD\n',
    );
    assert.ok(!scheduler.hasLogged('started'));
    assert.ok(!(JSON.stringify(scheduler.lines) + scheduler.stderr).includes(WRONG_PASSWORD), 'the scheduler logged the password it was given');
  });
});
