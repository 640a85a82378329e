import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { requireEnv, uniqueName, waitFor } from './index';

describe('test helpers', () => {
  test('waitFor resolves once the condition holds', async () => {
    let n = 0;
    await waitFor(() => ++n >= 3, { intervalMs: 1 });
    assert.equal(n, 3);
  });

  test('waitFor turns a hang into a failure that says what it waited for', async () => {
    await assert.rejects(waitFor(() => false, { timeoutMs: 30, intervalMs: 5, message: 'the moon' }), /timed out waiting: the moon/);
  });

  test('requireEnv fails, never skips, when an integration variable is missing', () => {
    assert.throws(() => requireEnv('CHUTE_SURELY_UNSET_VARIABLE'), /CHUTE_SURELY_UNSET_VARIABLE is not set.*npm test/);
  });

  test('uniqueName keeps the prefix and differs each call', () => {
    const a = uniqueName('t');
    assert.match(a, /^t-[0-9a-f]{8}$/);
    assert.notEqual(a, uniqueName('t'));
  });
});
