import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { replicationFor } from './replication';

describe('the replication of the topics the platform creates', () => {
  test('one copy per broker up to three: a single development broker gets one, a cluster three', () => {
    assert.deepEqual([1, 2, 3, 4, 9].map((n) => replicationFor(n).replicationFactor), [1, 2, 3, 3, 3]);
  });

  test('where there are three copies, two must be in sync before a write is acknowledged', () => {
    assert.deepEqual(replicationFor(3).config, { 'min.insync.replicas': '2' });
    assert.deepEqual(replicationFor(5).config, { 'min.insync.replicas': '2' });
  });

  test('on one or two brokers min.insync.replicas is left to the broker: 2 of 2 would refuse writes while one restarts', () => {
    assert.deepEqual(replicationFor(1).config, {});
    assert.deepEqual(replicationFor(2).config, {});
  });

  test('a metadata answer naming no broker still creates one copy, not zero', () => {
    assert.equal(replicationFor(0).replicationFactor, 1);
  });
});
