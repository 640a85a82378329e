import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DatabaseEnv, parseEnv } from './config';
import { Lifecycle } from './lifecycle';
import { Metrics } from './metrics';
import { createLogger, logFormatFor } from './logger';

describe('parseEnv', () => {
  test('applies defaults when variables are unset or empty', () => {
    assert.equal(parseEnv(DatabaseEnv, { CHUTE_DATABASE_URL: '' }).CHUTE_DATABASE_URL, 'postgres://postgres@127.0.0.1:5432/chute');
  });

  test('a non-postgres database URL is refused', () => {
    assert.throws(() => parseEnv(DatabaseEnv, { CHUTE_DATABASE_URL: 'mysql://x/y' }), /CHUTE_DATABASE_URL: must be a postgres:\/\/ URL/);
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

describe('log format', () => {
  test('pretty in a terminal, JSON elsewhere, and CHUTE_LOG_FORMAT decides when set', () => {
    assert.equal(logFormatFor({}, { isTTY: true }), 'pretty');
    assert.equal(logFormatFor({}, { isTTY: false }), 'json');
    assert.equal(logFormatFor({ CHUTE_LOG_FORMAT: 'json' }, { isTTY: true }), 'json');
    assert.equal(logFormatFor({ CHUTE_LOG_FORMAT: 'pretty' }, {}), 'pretty');
  });

  test('a pretty line is one line per event: time, level, service, message, then the fields', () => {
    const lines: string[] = [];
    const logger = createLogger({ service: 'gateway' }, 'info', (line) => lines.push(line), 'pretty');
    logger.child({ run: 'r1' }).warn('slow subscriber closed', { bytes: 42, err: new Error('boom') });
    logger.debug('dropped below the level');
    assert.equal(lines.length, 1);
    // Without its colours, as a terminal shows it.
    const plain = lines[0]!.replace(/\x1b\[[0-9;]*m/g, '');
    assert.match(plain, /^\d\d:\d\d:\d\d WARN  gateway slow subscriber closed run="r1" bytes=42 err="boom"$/);
  });
});
