import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import { FastDefaultPartitioner, murmur2 } from './partitioner';

const metadata = (count: number) => Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));

describe('the fast partitioner', () => {
  test("murmur2 gives Java's Utils.murmur2 values", () => {
    // The values Apache Kafka's Java client computes for these keys' UTF-8 bytes.
    const java: Record<string, number> = { '1': -1993445489, '12': 126087238, '123': -267702483, '1234': -1614185708, '12345': -1188365604 };
    for (const [key, hash] of Object.entries(java)) assert.equal(murmur2(key), hash, key);
  });

  test("every key lands where kafkajs's default partitioner puts it: run ids, every tail length, non-ASCII, buffers", () => {
    const ours = FastDefaultPartitioner();
    const theirs = Partitioners.DefaultPartitioner();
    const keys: (string | Buffer)[] = ['', 'a', 'ab', 'abc', 'ünïcødé ключ 鍵', ...Array.from({ length: 500 }, () => randomUUID())];
    for (let i = 0; i < 200; i++) keys.push(randomBytes(i % 67));
    for (const count of [1, 3, 12, 64]) {
      for (const key of keys) {
        const args = { topic: 't', partitionMetadata: metadata(count), message: { key, value: null } };
        assert.equal(ours(args), theirs(args), `${String(key)} over ${count} partitions`);
      }
    }
  });

  test('a record that names its partition keeps it; a keyless one still gets a partition', () => {
    const ours = FastDefaultPartitioner();
    assert.equal(ours({ topic: 't', partitionMetadata: metadata(12), message: { key: 'k', partition: 7, value: null } }), 7);
    const keyless = ours({ topic: 't', partitionMetadata: metadata(12), message: { value: null } });
    assert.ok(keyless >= 0 && keyless < 12);
  });
});
