import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, DatabaseEnv, LogEnv, parseEnv } from './config';
import { Lifecycle } from './lifecycle';
import { Metrics } from './metrics';

describe('parseEnv', () => {
  test('applies defaults when variables are unset or empty', () => {
    const config = parseEnv(LogEnv.extend(DatabaseEnv.shape), { CHUTE_TOPIC_PREFIX: '' });
    assert.deepEqual(config.CHUTE_KAFKA_BROKERS, ['127.0.0.1:9092']);
    assert.equal(config.CHUTE_TOPIC_PREFIX, 'chute');
    assert.equal(config.CHUTE_DATABASE_URL, 'postgres://postgres@127.0.0.1:5432/chute');
  });

  test('splits and trims a broker list', () => {
    const config = parseEnv(LogEnv, { CHUTE_KAFKA_BROKERS: ' a.example:9092, 10.0.0.2:19092 ' });
    assert.deepEqual(config.CHUTE_KAFKA_BROKERS, ['a.example:9092', '10.0.0.2:19092']);
  });

  test('a malformed broker names the variable and the expected shape', () => {
    assert.throws(
      () => parseEnv(LogEnv, { CHUTE_KAFKA_BROKERS: 'localhost' }),
      (e: unknown) => e instanceof ConfigError && /^invalid configuration: CHUTE_KAFKA_BROKERS: each broker must be host:port/.test(e.message),
    );
  });

  test('a non-postgres database URL is refused', () => {
    assert.throws(() => parseEnv(DatabaseEnv, { CHUTE_DATABASE_URL: 'mysql://x/y' }), /CHUTE_DATABASE_URL: must be a postgres:\/\/ URL/);
  });

  test('several bad variables are all named in one line', () => {
    try {
      parseEnv(LogEnv, { CHUTE_KAFKA_BROKERS: 'x', CHUTE_STREAM_PARTITIONS: '0' });
      assert.fail('expected a ConfigError');
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /CHUTE_KAFKA_BROKERS/);
      assert.match(e.message, /CHUTE_STREAM_PARTITIONS/);
      assert.doesNotMatch(e.message, /\n/);
    }
  });
});

describe('Lifecycle', () => {
  test('stop is idempotent: every call shares the first stop', async () => {
    const lifecycle = new Lifecycle();
    let stops = 0;
    await lifecycle.start(async () => undefined);
    const a = lifecycle.stop(async () => void stops++);
    const b = lifecycle.stop(async () => void stops++);
    assert.equal(a, b);
    await a;
    assert.equal(stops, 1);
    assert.equal(lifecycle.state, 'stopped');
  });

  test('stop waits for a start in flight before releasing', async () => {
    const lifecycle = new Lifecycle();
    const order: string[] = [];
    let finishStart!: () => void;
    const started = lifecycle.start(() => new Promise<void>((r) => (finishStart = r)).then(() => void order.push('started')));
    const stopped = lifecycle.stop(async () => void order.push('stopped'));
    finishStart();
    await Promise.all([started, stopped]);
    assert.deepEqual(order, ['started', 'stopped']);
  });

  test('a second start does not run the start function again', async () => {
    const lifecycle = new Lifecycle();
    let starts = 0;
    await lifecycle.start(async () => void starts++);
    await lifecycle.start(async () => void starts++);
    assert.equal(starts, 1);
    assert.equal(lifecycle.state, 'running');
  });
});

describe('Metrics', () => {
  test('renders counters with labels in the Prometheus text format', () => {
    const metrics = new Metrics();
    const c = metrics.counter('chute_things_total', 'Things.');
    c.inc({ kind: 'a' });
    c.inc({ kind: 'a' }, 2);
    c.inc({ kind: 'b"q' });
    const text = metrics.render();
    assert.match(text, /# TYPE chute_things_total counter/);
    assert.match(text, /chute_things_total\{kind="a"\} 3/);
    assert.match(text, /chute_things_total\{kind="b\\"q"\} 1/);
  });

  test('registering a name twice returns the same metric, and another type is refused', () => {
    const metrics = new Metrics();
    assert.equal(metrics.counter('x', 'x'), metrics.counter('x', 'x'));
    assert.throws(() => metrics.gauge('x', 'x'), /already registered/);
  });
});
