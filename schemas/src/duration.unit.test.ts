import { test } from 'node:test';
import assert from 'node:assert/strict';
import { durationMs } from './duration';

test('durations read as people write them, in every unit, or as milliseconds', () => {
  assert.deepEqual(['250ms', '30s', '5m', '1h', '30d', ' 15m '].map((d) => durationMs(d, 'x')), [250, 30_000, 300_000, 3_600_000, 30 * 86_400_000, 900_000]);
  assert.equal(durationMs(1500, 'x'), 1500);
});

test('a malformed, zero or negative duration names the value and the accepted forms', () => {
  assert.throws(() => durationMs('30 seconds', 'executionTimeout'), /executionTimeout must be a number and a unit \(ms, s, m, h or d\)/);
  assert.throws(() => durationMs('soon', '--ttl'), /--ttl must be a number and a unit/);
  assert.throws(() => durationMs('0s', 'x'), /x must be positive/);
  assert.throws(() => durationMs(-1, 'executionTimeout'), /positive whole number of milliseconds/);
  assert.throws(() => durationMs(1.5, 'x'), /positive whole number/);
});
