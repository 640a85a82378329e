// The log contract: one suite, run against every Log implementation, so the
// embedded log cannot drift from the Kafka one.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Metrics, silentLogger } from '@chute/runtime';
import { RunEvents, type RunEvent } from '@chute/schemas';
import { uniqueName, waitFor } from '@chute/testing';
import { InvalidRecordError, Topic } from './platform/typed';
import { AppenderNotClaimedError, FencedError, RecordTooLargeError, type Log, type LogRecord, MAX_RECORD_BYTES } from './types';

export interface ContractTarget {
  /** A started log; the suite stops it at the end. */
  open(): Promise<Log>;
  /** Bound on waiting for deliveries (group joins on a real broker take a moment). */
  waitMs: number;
}

const text = (r: LogRecord): string => r.value.toString('utf8');

export function logContract(name: string, target: ContractTarget): void {
  describe(`log contract: ${name}`, () => {
    let log: Log;
    const wait = (check: () => boolean, message: string): Promise<void> =>
      waitFor(check, { timeoutMs: target.waitMs, message });

    async function freshTopic(partitions = 3): Promise<string> {
      const topic = uniqueName('contract');
      await log.ensureTopics([{ name: topic, partitions }]);
      return topic;
    }

    /** Reads a whole topic from offset 0 until `count` records have arrived. */
    async function readAll(topic: string, count: number): Promise<LogRecord[]> {
      const got: LogRecord[] = [];
      const from = (await log.endOffsets(topic)).map((p) => ({ partition: p.partition, offset: 0 }));
      const sub = await log.read(topic, from, (rs) => void got.push(...rs));
      try {
        await wait(() => got.length >= count, `${count} records from ${topic}, got ${got.length}`);
      } finally {
        await sub.stop();
      }
      return got;
    }

    /**
     * Until the topic's ends are these. An exclusive append resolves when its
     * commit is decided; Kafka writes the markers, which make it readable and
     * take their offsets, a moment later.
     */
    async function untilEnds(topic: string, ends: readonly number[]): Promise<void> {
      await waitFor(async () => (await log.endOffsets(topic)).map((p) => p.offset).join() === ends.join(), {
        timeoutMs: target.waitMs,
        message: `${topic} to end at ${ends.join()}`,
      });
    }

    before(async () => {
      log = await target.open();
    });
    after(async () => {
      await log.stop();
    });

    test('ensureTopics creates topics with the configured partition count, and is idempotent', async () => {
      const topic = uniqueName('contract');
      await log.ensureTopics([{ name: topic, partitions: 4 }]);
      await log.ensureTopics([{ name: topic, partitions: 4 }]);
      assert.deepEqual(await log.endOffsets(topic), [0, 1, 2, 3].map((partition) => ({ partition, offset: 0 })));
    });

    test('records with one key land in one partition, in append order, with contiguous offsets', async () => {
      const topic = await freshTopic();
      await log.append(topic, [0, 1, 2, 3, 4].map((i) => ({ key: 'run-a', value: `a${i}` })));
      const got = await readAll(topic, 5);
      assert.equal(new Set(got.map((r) => r.partition)).size, 1);
      assert.deepEqual(got.map(text), ['a0', 'a1', 'a2', 'a3', 'a4']);
      assert.deepEqual(got.map((r) => r.offset), [0, 1, 2, 3, 4]);
      assert.ok(got.every((r) => r.key === 'run-a' && r.topic === topic));
    });

    test('per-key order holds under concurrent appends', async () => {
      const topic = await freshTopic();
      const keys = ['k0', 'k1', 'k2', 'k3', 'k4'];
      const perKey = 200;
      const appends: Promise<void>[] = [];
      // Interleave keys and never await in between, as un-awaited putStream calls do.
      for (let i = 0; i < perKey; i++) {
        for (const key of keys) appends.push(log.append(topic, [{ key, value: `${key}:${i}` }]));
      }
      await Promise.all(appends);
      const got = await readAll(topic, keys.length * perKey);
      for (const key of keys) {
        const seqs = got.filter((r) => r.key === key).map((r) => Number(text(r).split(':')[1]));
        assert.deepEqual(seqs, Array.from({ length: perKey }, (_, i) => i), `order of ${key}`);
      }
    });

    test('tail from now does not see records appended before it, and sees those after', async () => {
      const topic = await freshTopic();
      await log.append(topic, [{ key: 'r', value: 'before-1' }, { key: 'r', value: 'before-2' }]);
      const got: string[] = [];
      const sub = await log.tail(topic, (rs) => void got.push(...rs.map(text)));
      try {
        await log.append(topic, [{ key: 'r', value: 'after-1' }, { key: 'r', value: 'after-2' }]);
        await wait(() => got.length >= 2, 'the two records appended after tail');
        // Same key, same partition: an earlier record would have arrived first.
        assert.deepEqual(got, ['after-1', 'after-2']);
      } finally {
        await sub.stop();
      }
    });

    test('partitionOf names the partition a key is appended to', async () => {
      const topic = await freshTopic(5);
      const keys = Array.from({ length: 20 }, (_, i) => `run-${i}`);
      await log.append(topic, keys.map((key) => ({ key, value: key })));
      const got = await readAll(topic, keys.length);
      for (const record of got) assert.equal(await log.partitionOf(topic, record.key), record.partition, record.key);
    });

    test('offsetForTime finds the first record at or after a time, or the end', async () => {
      const topic = await freshTopic(1);
      await log.append(topic, [{ key: 't', value: 'early' }]);
      await sleep(50);
      const between = Date.now();
      await sleep(50);
      await log.append(topic, [{ key: 't', value: 'late' }]);
      assert.equal(await log.offsetForTime(topic, 0, 0), 0);
      assert.equal(await log.offsetForTime(topic, 0, between), 1);
      assert.equal(await log.offsetForTime(topic, 0, Date.now() + 60_000), 2);
    });

    test('read from an offset delivers that partition from the offset on', async () => {
      const topic = await freshTopic(2);
      await log.append(topic, [0, 1, 2, 3].map((i) => ({ key: 'x', value: `x${i}` })));
      const [first] = await readAll(topic, 4);
      const got: LogRecord[] = [];
      const sub = await log.read(topic, [{ partition: first!.partition, offset: 2 }], (rs) => void got.push(...rs));
      try {
        await wait(() => got.length >= 2, 'records from offset 2');
        assert.deepEqual(got.map(text), ['x2', 'x3']);
        assert.deepEqual(got.map((r) => r.offset), [2, 3]);
      } finally {
        await sub.stop();
      }
    });

    test('readAll delivers each topic from its offsets to its own handler, in one subscription that stops them all', async () => {
      const [a, b] = [await freshTopic(1), await freshTopic(2)];
      await log.append(a, [0, 1, 2].map((i) => ({ key: 'k', value: `a${i}` })));
      const bEnds = await log.endOffsets(b);
      const got: Record<string, LogRecord[]> = { a: [], b: [] };
      const sub = await log.readAll([
        { topic: a, from: [{ partition: 0, offset: 1 }], handler: (rs) => void got['a']!.push(...rs) },
        { topic: b, from: bEnds, handler: (rs) => void got['b']!.push(...rs) },
      ]);
      try {
        await log.append(b, [{ key: 'k', value: 'b0' }]);
        await wait(() => got['a']!.length >= 2 && got['b']!.length >= 1, 'a from offset 1 and the record appended to b');
        assert.deepEqual(got['a']!.map(text), ['a1', 'a2']);
        assert.deepEqual(got['b']!.map(text), ['b0']);
        assert.ok(got['a']!.every((r) => r.topic === a) && got['b']!.every((r) => r.topic === b), 'each handler gets its own topic only');
      } finally {
        await sub.stop();
      }
      await log.append(a, [{ key: 'k', value: 'a3' }]);
      await sleep(500);
      assert.equal(got['a']!.length, 2, 'nothing is delivered after stop');
    });

    test('a consumer group resumes from its committed offset after a restart', async () => {
      const topic = await freshTopic();
      const group = uniqueName('group');
      await log.append(topic, [1, 2, 3].map((i) => ({ key: 'g', value: `first-${i}` })));
      const firstRun: string[] = [];
      const sub1 = await log.consume({ group, topics: [topic], handler: (rs) => void firstRun.push(...rs.map(text)) });
      await wait(() => firstRun.length >= 3, 'the first three records');
      await sub1.stop();
      assert.deepEqual(firstRun, ['first-1', 'first-2', 'first-3']);

      await log.append(topic, [1, 2].map((i) => ({ key: 'g', value: `second-${i}` })));
      const secondRun: string[] = [];
      const sub2 = await log.consume({ group, topics: [topic], handler: (rs) => void secondRun.push(...rs.map(text)) });
      try {
        await wait(() => secondRun.length >= 2, 'the records appended while the group was down');
        assert.deepEqual(secondRun, ['second-1', 'second-2']);
      } finally {
        await sub2.stop();
      }
    });

    test('two groups each see every record', async () => {
      const topic = await freshTopic();
      const records = Array.from({ length: 30 }, (_, i) => ({ key: `k${i % 7}`, value: `v${i}` }));
      await log.append(topic, records);
      const seen: Record<string, string[]> = { a: [], b: [] };
      const subs = await Promise.all(
        ['a', 'b'].map((g) =>
          log.consume({ group: uniqueName(`group-${g}`), topics: [topic], handler: (rs) => void seen[g]!.push(...rs.map(text)) }),
        ),
      );
      try {
        await wait(() => seen['a']!.length >= 30 && seen['b']!.length >= 30, 'both groups to read 30 records');
        const all = records.map((r) => r.value).sort();
        assert.deepEqual([...seen['a']!].sort(), all);
        assert.deepEqual([...seen['b']!].sort(), all);
      } finally {
        await Promise.all(subs.map((s) => s.stop()));
      }
    });

    test('a lingering group still gets every record, in per-key order, records trickling in', async () => {
      const topic = await freshTopic();
      const got: LogRecord[] = [];
      const sub = await log.consume({
        group: uniqueName('group'),
        topics: [topic],
        lingerMs: 100,
        handler: (rs) => void got.push(...rs),
      });
      try {
        // Far below the linger's byte threshold: the broker returns each fetch at the linger.
        for (let i = 0; i < 6; i++) {
          await log.append(topic, [{ key: `k${i % 2}`, value: `${i % 2}:${i}` }]);
          await sleep(20);
        }
        await wait(() => got.length >= 6, `6 lingered records, got ${got.length}`);
        for (const key of ['k0', 'k1']) {
          const values = got.filter((r) => r.key === key).map(text);
          assert.deepEqual(values, [0, 2, 4].map((i) => `${key.slice(1)}:${i + Number(key.slice(1))}`));
        }
      } finally {
        await sub.stop();
      }
    });

    test('a handler that throws gets the same records again, and the group goes on', async () => {
      const topic = await freshTopic(1);
      await log.append(topic, [{ key: 'h', value: 'one' }, { key: 'h', value: 'two' }]);
      const deliveries: string[][] = [];
      let failures = 0;
      const sub = await log.consume({
        group: uniqueName('group'),
        topics: [topic],
        handler: (rs) => {
          deliveries.push(rs.map(text));
          if (failures++ === 0) throw new Error('transient');
        },
      });
      try {
        await wait(() => deliveries.flat().filter((v) => v === 'two').length >= 2, 'redelivery after the failure');
        assert.deepEqual(deliveries[0], deliveries[1]);
      } finally {
        await sub.stop();
      }
    });

    test('headers travel with their record; a record without any reads back an empty set', async () => {
      const topic = await freshTopic(1);
      await log.append(topic, [
        { key: 'h', value: 'with', headers: { 'chute-worker': 'w-1', other: 'x' } },
        { key: 'h', value: 'without' },
      ]);
      const got = await readAll(topic, 2);
      assert.deepEqual(got.map((r) => [text(r), { ...r.headers }]), [
        ['with', { 'chute-worker': 'w-1', other: 'x' }],
        ['without', {}],
      ]);
    });

    test('group members split the partitions; each is told what it owns and reads only that, from where it says', async () => {
      const topic = await freshTopic(4);
      const group = uniqueName('group');
      // One record per partition, found by key.
      const keys: string[] = [];
      for (let i = 0; keys.length < 4; i++) {
        const key = `k${i}`;
        const partition = await log.partitionOf(topic, key);
        if (!keys.some((k) => k.startsWith(`${partition}:`))) keys.push(`${partition}:${key}`);
      }
      for (const entry of keys) {
        const key = entry.split(':')[1]!;
        await log.append(topic, [{ key, value: `${key}-0` }, { key, value: `${key}-1` }]);
      }
      const owned = [new Set<number>(), new Set<number>()];
      const revoked = [0, 0];
      const got: LogRecord[][] = [[], []];
      const member = (i: 0 | 1) =>
        log.consume({
          group,
          topics: [topic],
          commit: false,
          handler: (rs) => void got[i]!.push(...rs),
          onRevoked: () => {
            revoked[i]!++;
            owned[i]!.clear();
          },
          // Skip each partition's first record: the member says where it reads from.
          onAssigned: (assigned) => {
            owned[i]!.clear();
            for (const a of assigned) for (const p of a.partitions) owned[i]!.add(p);
            return assigned.flatMap((a) => a.partitions.map((partition) => ({ topic: a.topic, partition, offset: 1 })));
          },
        });
      const first = await member(0);
      const second = await member(1);
      try {
        await wait(() => owned[0]!.size > 0 && owned[1]!.size > 0 && owned[0]!.size + owned[1]!.size === 4, 'both members to own partitions');
        assert.ok(revoked[0]! >= 1, 'the first member lost its partitions when the second joined');
        assert.equal([...owned[0]!].filter((p) => owned[1]!.has(p)).length, 0, 'no partition is owned twice');
        await wait(() => got[0]!.length + got[1]!.length >= 4, 'every partition read from offset 1');
        await sleep(200);
        for (const i of [0, 1] as const) {
          const latest = got[i]!.filter((r) => owned[i]!.has(r.partition));
          assert.ok(latest.every((r) => r.offset >= 1 && text(r).endsWith('-1')), `member ${i} read only from its positions`);
        }
        const health = log.health().filter((h) => h.name === group);
        assert.equal(health.length, 2);
        assert.ok(health.every((h) => h.state === 'consuming'), JSON.stringify(health));
      } finally {
        await Promise.all([first.stop(), second.stop()]);
      }
      assert.equal(log.health().filter((h) => h.name === group).length, 0, 'stopped subscriptions are no longer reported');
    });

    test('a member commits positions with a note the group keeps; it cannot commit a partition it does not own', async () => {
      const topic = await freshTopic(2);
      const group = uniqueName('group');
      assert.deepEqual(await log.committedOffsets(group, topic), [], 'nothing committed yet');
      let owned: number[] = [];
      const member = await log.consume({
        group,
        topics: [topic],
        commit: false,
        handler: () => undefined,
        onAssigned: (assigned) => {
          owned = assigned.flatMap((a) => [...a.partitions]);
        },
      });
      try {
        await wait(() => owned.length === 2 && log.health().some((h) => h.name === group && h.state === 'consuming'), 'the member to own both partitions');
        await member.commit([{ topic, partition: 1, offset: 7, metadata: '{"snapshot":"s1"}' }]);
        await member.commit([{ topic, partition: 0, offset: 3 }]);
        const committed = await log.committedOffsets(group, topic);
        assert.deepEqual(
          [...committed].sort((a, b) => a.partition - b.partition),
          [
            { partition: 0, offset: 3, metadata: null },
            { partition: 1, offset: 7, metadata: '{"snapshot":"s1"}' },
          ],
        );
      } finally {
        await member.stop();
      }
      await assert.rejects(member.commit([{ topic, partition: 0, offset: 9 }]), 'a member that left owns nothing');
      assert.equal((await log.committedOffsets(group, topic)).find((c) => c.partition === 0)?.offset, 3);
    });

    test('a record over the size limit is refused', async () => {
      const topic = await freshTopic(1);
      await assert.rejects(
        log.append(topic, [{ key: 'big', value: Buffer.alloc(MAX_RECORD_BYTES + 1) }]),
        RecordTooLargeError,
      );
    });

    test('a record just under the size limit is accepted and read back intact', async () => {
      const topic = await freshTopic(1);
      const big = Buffer.alloc(MAX_RECORD_BYTES - 1024, 'x');
      await log.append(topic, [{ key: 'big', value: big }]);
      const [got] = await readAll(topic, 1);
      assert.equal(got!.value.length, big.length);
      assert.ok(got!.value.equals(big));
    });

    describe('typed topics', () => {
      const runId = randomUUID();
      const started: RunEvent = { v: 1, tenant: 'default', type: 'RunStarted', runId, at: 1, attempt: 1, workerId: 'w' };

      test('an invalid record is refused naming the field, and nothing is written', async () => {
        const name = await freshTopic(1);
        const topic = new Topic(log, RunEvents, name, { logger: silentLogger, metrics: new Metrics() });
        const bad = { ...started, attempt: 0 } as RunEvent;
        await assert.rejects(
          async () => topic.append([started, bad]),
          (error: unknown) => error instanceof InvalidRecordError && error.field === 'attempt' && /attempt/.test(error.message),
        );
        assert.deepEqual((await log.endOffsets(name)).map((p) => p.offset), [0]);
      });

      test('an undecodable record is reported and skipped; the consumer goes on', async () => {
        const name = await freshTopic(1);
        const metrics = new Metrics();
        const topic = new Topic(log, RunEvents, name, { logger: silentLogger, metrics });
        await log.append(name, [
          { key: runId, value: '{"v":1,"type":"RunStarted"' },
          { key: runId, value: JSON.stringify({ ...started, runId: 'not-a-uuid' }) },
        ]);
        await topic.append([started]);
        const got: RunEvent[] = [];
        const sub = await topic.consume({ group: uniqueName('group'), handler: (ds) => void got.push(...ds.map((d) => d.value)) });
        try {
          await wait(() => got.length >= 1, 'the valid record after two bad ones');
          assert.deepEqual(got, [started]);
          assert.equal(metrics.counter('chute_log_invalid_records_total', '').get({ topic: name }), 2);
        } finally {
          await sub.stop();
        }
      });

      test('a reader asking for every batch sees how far it read, even where nothing decoded', async () => {
        const name = await freshTopic(1);
        const topic = new Topic(log, RunEvents, name, { logger: silentLogger, metrics: new Metrics() });
        await log.append(name, [
          { key: runId, value: 'not json' },
          { key: runId, value: JSON.stringify({ ...started, v: 99 }) },
        ]);
        const reached: number[] = [];
        const decoded: RunEvent[] = [];
        const sub = await topic.read(
          [{ partition: 0, offset: 0 }],
          (ds, next) => {
            decoded.push(...ds.map((d) => d.value));
            reached.push(next.offset);
          },
          { everyBatch: true },
        );
        try {
          await wait(() => reached.includes(2), 'a call for the batch that ends at offset 1 (next offset 2)');
          assert.deepEqual(decoded, []);
        } finally {
          await sub.stop();
        }
      });

      test('readRanges reads up to an end that is an exclusive append\'s commit marker', async () => {
        const name = await freshTopic(1);
        const topic = new Topic(log, RunEvents, name, { logger: silentLogger, metrics: new Metrics() });
        const appender = log.exclusiveAppender(uniqueName('appender'));
        await appender.claim();
        await appender.append([topic.encode([started])]);
        await untilEnds(name, [2]);
        const read = await topic.readRanges([{ partition: 0, from: 0, to: 2 }], target.waitMs);
        assert.deepEqual(read.map((d) => d.value), [started]);
        await appender.stop();
      });
    });

    describe('exclusive appenders', () => {
      test('an append spans topics; each partition it wrote gets a commit marker that takes an offset and reaches no reader', async () => {
        const [first, second] = [await freshTopic(1), await freshTopic(1)];
        const appender = log.exclusiveAppender(uniqueName('appender'));
        await appender.claim();
        for (const n of [1, 2]) {
          await appender.append([
            { topic: first, records: [{ key: 'k', value: `a${n}` }, { key: 'k', value: `b${n}` }] },
            { topic: second, records: [{ key: 'k', value: `c${n}` }] },
          ]);
        }
        // Two records and a marker per append; one and a marker.
        await untilEnds(first, [6]);
        await untilEnds(second, [4]);
        const got: string[] = [];
        const reached: number[] = [];
        const reader = await log.read(first, [{ partition: 0, offset: 0 }], (rs, next) => {
          got.push(...rs.map(text));
          reached.push(next.offset);
        });
        const grouped: number[] = [];
        const member = await log.consume({ group: uniqueName('group'), topics: [second], handler: (_rs, next) => void grouped.push(next.offset) });
        try {
          await wait(() => reached.includes(6) && grouped.includes(4), 'a reader and a group member to reach the ends, past the last markers');
          assert.deepEqual(got, ['a1', 'b1', 'a2', 'b2']);
          assert.deepEqual(await readAll(second, 2).then((rs) => rs.map(text)), ['c1', 'c2']);
        } finally {
          await Promise.all([reader.stop(), member.stop(), appender.stop()]);
        }
      });

      test('claiming an id fences the appender that claimed it before: its appends fail, and none of them is read', async () => {
        const topic = await freshTopic(1);
        const id = uniqueName('appender');
        const [old, successor] = [log.exclusiveAppender(id), log.exclusiveAppender(id)];
        try {
          await old.claim();
          await old.append([{ topic, records: [{ key: 'k', value: 'before' }] }]);
          await successor.claim();
          await assert.rejects(old.append([{ topic, records: [{ key: 'k', value: 'zombie' }] }]), FencedError);
          await assert.rejects(old.append([{ topic, records: [{ key: 'k', value: 'zombie again' }] }]), FencedError, 'fenced for good');
          await successor.append([{ topic, records: [{ key: 'k', value: 'after' }] }]);
          const got: string[] = [];
          let reached = 0;
          const reader = await log.read(topic, [{ partition: 0, offset: 0 }], (rs, next) => {
            got.push(...rs.map(text));
            reached = next.offset;
          });
          try {
            await wait(() => got.includes('after'), 'the successor\'s record');
            const [end] = await log.endOffsets(topic);
            await wait(() => reached >= end!.offset, `the reader to reach offset ${end!.offset}`);
          } finally {
            await reader.stop();
          }
          assert.deepEqual(got, ['before', 'after']);
        } finally {
          await Promise.all([old.stop(), successor.stop()]);
        }
      });

      test('an append larger than the broker takes in one batch lands whole, in order', async () => {
        const topic = await freshTopic(1);
        const appender = log.exclusiveAppender(uniqueName('appender'));
        await appender.claim();
        // 12 MiB for one partition: over the topic's 8 MiB batch limit.
        const records = Array.from({ length: 6 }, (_, i) => ({ key: 'k', value: Buffer.alloc(2 * 1024 * 1024 - 1024, String(i)) }));
        await appender.append([{ topic, records }]);
        const got = await readAll(topic, 6);
        assert.deepEqual(got.map((r) => r.value.toString('utf8', 0, 1)), ['0', '1', '2', '3', '4', '5']);
        await appender.stop();
      });

      test('an appender that has not claimed its id refuses to append', async () => {
        const topic = await freshTopic(1);
        const appender = log.exclusiveAppender(uniqueName('appender'));
        await assert.rejects(appender.append([{ topic, records: [{ key: 'k', value: 'v' }] }]), AppenderNotClaimedError);
        assert.deepEqual((await log.endOffsets(topic)).map((p) => p.offset), [0]);
        await appender.stop();
      });
    });

    test('stop is idempotent and ends deliveries', async () => {
      const topic = await freshTopic(1);
      const got: string[] = [];
      const sub = await log.tail(topic, (rs) => void got.push(...rs.map(text)));
      await log.append(topic, [{ key: 's', value: 'seen' }]);
      await wait(() => got.length === 1, 'the first record');
      await Promise.all([sub.stop(), sub.stop()]);
      await log.append(topic, [{ key: 's', value: 'unseen' }]);
      await sleep(300);
      assert.deepEqual(got, ['seen']);
    });
  });
}
