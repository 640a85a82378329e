import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defineTask } from './task';

test('task definitions get defaults and refuse bad names or retries', () => {
  const def = defineTask({ name: 'stream-example', fn: () => undefined });
  assert.equal(def.retries, 0);
  assert.equal(def.executionTimeoutMs, 300_000);
  assert.equal(defineTask({ name: 'ok', executionTimeout: '30s', fn: () => undefined }).executionTimeoutMs, 30_000);
  assert.throws(() => defineTask({ name: 'ok', executionTimeout: '30 seconds', fn: () => undefined }), /executionTimeout must be a number and a unit/);
  assert.throws(() => defineTask({ name: 'has space', fn: () => undefined }), /task name/);
  assert.throws(() => defineTask({ name: 'ok', retries: -1, fn: () => undefined }), /retries must be 0-100/);
});
