import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LogRecord } from '@chute/log';
import { RecentStreamRecords } from './recent-stream-records';

const record = (partition: number, offset: number, key: string, timestamp: number, bytes = 10): LogRecord => ({
  topic: 'stream',
  partition,
  offset,
  key,
  value: Buffer.alloc(bytes, 97),
  timestamp,
  headers: {},
});
const offsets = (records: readonly LogRecord[] | undefined) => records?.map((r) => r.offset);

describe('RecentStreamRecords: what a replay can read from memory instead of the log', () => {
  test('a run begun after the tail started has all its records below the boundary, and only its own', () => {
    const recent = new RecentStreamRecords(1024);
    recent.startAt([{ partition: 0, offset: 100 }], 1_000);
    for (const [offset, key] of [[100, 'a'], [101, 'b'], [102, 'a'], [103, 'a']] as const) recent.add(record(0, offset, key, 2_000 + offset));
    assert.deepEqual(offsets(recent.runRecords(0, 'a', 1_500, 103)), [100, 102]);
    assert.deepEqual(offsets(recent.runRecords(0, 'c', 1_500, 104)), [], 'a run with no records yet has none');
  });

  test('a run that may have begun before the tail started, or beyond what the tail has read, is not served', () => {
    const recent = new RecentStreamRecords(1024);
    recent.startAt([{ partition: 0, offset: 5 }], 1_000);
    recent.add(record(0, 5, 'a', 1_100));
    assert.equal(recent.runRecords(0, 'a', 900, 6), undefined, 'since is before the tail started');
    assert.equal(recent.runRecords(0, 'a', 1_000, 7), undefined, 'the tail has not read offset 6 yet');
    assert.equal(recent.runRecords(1, 'a', 1_000, 1), undefined, 'a partition the tail was not started on');
    assert.deepEqual(offsets(recent.runRecords(0, 'a', 1_000, 6)), [5]);
  });

  test('past its byte budget it evicts the oldest records first, and no longer covers runs begun before the newest evicted', () => {
    const recent = new RecentStreamRecords(100);
    recent.startAt([{ partition: 0, offset: 0 }, { partition: 1, offset: 0 }], 0);
    for (let i = 0; i < 10; i++) recent.add(record(i % 2, Math.floor(i / 2), i < 4 ? 'old' : 'new', 10 + i));
    assert.equal(recent.heldBytes, 100);
    recent.add(record(0, 5, 'new', 20));
    recent.add(record(1, 5, 'new', 21));
    assert.equal(recent.heldBytes, 100, 'two evicted for two added');
    // Evicted: partition 0 offset 0 (t=10) and partition 1 offset 0 (t=11).
    assert.equal(recent.runRecords(0, 'old', 5, 6), undefined, 'a run begun before an evicted record');
    assert.deepEqual(offsets(recent.runRecords(0, 'old', 10, 6)), [1], "what is left of partition 0's old run");
    assert.deepEqual(offsets(recent.runRecords(1, 'new', 11, 6)), [2, 3, 4, 5]);
  });

  test('holds a copy of each value, not a view of the fetched buffer', () => {
    const recent = new RecentStreamRecords(1024);
    recent.startAt([{ partition: 0, offset: 0 }], 0);
    const fetched = record(0, 0, 'a', 1);
    recent.add(fetched);
    fetched.value.fill(98);
    assert.equal(recent.runRecords(0, 'a', 0, 1)![0]!.value.toString(), 'a'.repeat(10));
  });

  test('untilRead resolves once the tail reaches the offset, or with false at its deadline', async () => {
    const recent = new RecentStreamRecords(1024);
    recent.startAt([{ partition: 0, offset: 0 }], 0);
    assert.equal(await recent.untilRead(0, 0, 10), true, 'already there');
    const reached = recent.untilRead(0, 2, 5_000);
    recent.add(record(0, 0, 'a', 1));
    recent.add(record(0, 1, 'a', 2));
    assert.equal(await reached, true);
    assert.equal(await recent.untilRead(0, 3, 20), false);
  });
});
