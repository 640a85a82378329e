import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatTotals, sumTestTotals } from './summary';

describe("the closing line adds up every project's node:test summary", () => {
  test('pass, fail plus cancelled, and skipped are summed over every summary, colour codes or not', () => {
    const output = [
      'ℹ tests 5', 'ℹ pass 4', 'ℹ fail 1', 'ℹ cancelled 0', 'ℹ skipped 0',
      '\u001b[34mℹ pass 10\u001b[39m', '\u001b[34mℹ fail 0\u001b[39m', '\u001b[34mℹ cancelled 2\u001b[39m', '\u001b[34mℹ skipped 3\u001b[39m',
      'a test named ℹ pass 99 in the middle of a line is still a line ending in a number: ℹ pass 1',
    ].join('\n');
    assert.deepEqual(sumTestTotals(output), { passed: 15, failed: 3, skipped: 3 });
  });

  test('with no summary the totals are zero, and the line reads as the scripts printed it', () => {
    assert.equal(formatTotals('chute', sumTestTotals('nothing ran')), 'chute: 0 passed, 0 failed, 0 skipped');
  });
});
