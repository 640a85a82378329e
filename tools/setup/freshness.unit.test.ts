import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Stamp } from './freshness';

describe('Stamp: an install is redone only when it is missing or its inputs changed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chute-stamp-'));
  const input = join(dir, 'requirements.txt');
  writeFileSync(input, 'schemathesis==4.32.5\n');
  const past = new Date(Date.now() - 60_000);
  utimesSync(input, past, past);

  test('with no stamp, the install is pending', () => {
    assert.equal(new Stamp(join(dir, 'none.stamp'), [input], 'v1').staleBecause(), 'not installed yet');
  });

  test('after touch, it is done; an input written later makes it pending again, naming the input', () => {
    const stamp = new Stamp(join(dir, 'a', 'done.stamp'), [input], 'v1');
    stamp.touch();
    assert.equal(stamp.staleBecause(), undefined);
    const later = new Date(Date.now() + 60_000);
    utimesSync(input, later, later);
    assert.equal(stamp.staleBecause(), `${input} changed since`);
    utimesSync(input, past, past);
  });

  test('a stamp made for other pinned versions is pending', () => {
    const file = join(dir, 'recipe.stamp');
    new Stamp(file, [input], 'staticcheck@v0.6.0').touch();
    assert.equal(new Stamp(file, [input], 'staticcheck@v0.7.0').staleBecause(), 'its pinned versions changed');
    assert.equal(new Stamp(file, [input], 'staticcheck@v0.6.0').staleBecause(), undefined);
  });
});
