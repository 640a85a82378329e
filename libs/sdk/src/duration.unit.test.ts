import { test } from 'node:test';
import assert from 'node:assert/strict';
import { durationMs } from './duration';
import { defineTask } from './task';

test('durations take Hatchet-style strings and milliseconds', () => {
  assert.deepEqual(['250ms', '30s', '5m', '1h'].map((d) => durationMs(d, 'x')), [250, 30_000, 300_000, 3_600_000]);
  assert.equal(durationMs(1500, 'x'), 1500);
});

test('a malformed duration names the option and the accepted forms', () => {
  assert.throws(() => durationMs('30 seconds', 'executionTimeout'), /executionTimeout must look like "250ms", "30s"/);
  assert.throws(() => durationMs(-1, 'executionTimeout'), /positive/);
});

test('task definitions get defaults and refuse bad names or retries', () => {
  const def = defineTask({ name: 'stream-example', fn: () => undefined });
  assert.equal(def.retries, 0);
  assert.equal(def.executionTimeoutMs, 300_000);
  assert.throws(() => defineTask({ name: 'has space', fn: () => undefined }), /task name/);
  assert.throws(() => defineTask({ name: 'ok', retries: -1, fn: () => undefined }), /retries must be 0-100/);
});
