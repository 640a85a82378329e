import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { EmbeddedLog, openPlatformTopics, type BatchHandler, type Log } from '@chute/log';
import { Metrics, silentLogger } from '@chute/runtime';
import { waitFor } from '@chute/testing';
import { StreamHub, type StreamItem } from './stream-hub';

/** The embedded log, with reads held back until `release()`: a tail that lags behind the log. */
function laggingLog(): { log: Log; release(): void } {
  const log = new EmbeddedLog();
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const lagging = new Proxy(log, {
    get(target, property) {
      if (property !== 'read') return Reflect.get(target, property, target) as unknown;
      return (topic: string, from: never, handler: BatchHandler, ...rest: never[]) =>
        target.read(topic, from, async (records, next) => {
          await released;
          await handler(records, next);
        }, ...rest);
    },
  });
  return { log: lagging, release };
}

describe('stream hub', () => {
  const chunk = (runId: string, seq: number) => ({ v: 1 as const, type: 'StreamChunk' as const, runId, tenant: 'default', attempt: 1, at: Date.now(), seq, encoding: 'utf8' as const, data: `chunk ${seq}` });
  const end = (runId: string) => ({ v: 1 as const, type: 'StreamEnd' as const, runId, tenant: 'default', attempt: 1, at: Date.now(), status: 'CANCELLED' as const });

  /** A hub on a (lagging) embedded log, and a way to follow one run's stream from now on. */
  async function hubOn(log: Log) {
    await log.start();
    const topics = await openPlatformTopics(log, { prefix: 'hub', runEventsPartitions: 1, streamPartitions: 1, workerEventsPartitions: 1, dispatchPartitions: 1 }, { logger: silentLogger, metrics: new Metrics() });
    const hub = new StreamHub({ log, records: topics.stream, logger: silentLogger, metrics: new Metrics() });
    await hub.start();
    const follow = async (runId: string): Promise<StreamItem[]> => {
      const subscriber = await hub.subscribe(runId, { kind: 'now' });
      const items: StreamItem[] = [];
      subscriber.attach({ write: (item) => void items.push(item), bufferedBytes: () => 0, close: () => undefined });
      await hub.begin(subscriber, undefined, Date.now());
      return items;
    };
    return { topics, hub, follow, stop: async () => { await hub.stop(); await log.stop(); } };
  }

  test('a stream ends with its end record, after every chunk put before it, even while the tail lags behind', async () => {
    const { log, release } = laggingLog();
    const { topics, follow, stop } = await hubOn(log);
    try {
      const runId = randomUUID();
      const items = await follow(runId);
      await topics.stream.append([...Array.from({ length: 10 }, (_, seq) => chunk(runId, seq)), end(runId)]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(items.length, 0, 'nothing read yet');
      release();
      await waitFor(() => items.some((i) => i.type === 'end'), { timeoutMs: 5000, message: 'the end' });
      assert.deepEqual(items.map((i) => (i.type === 'chunk' ? i.seq : i.type)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 'end'], 'every chunk, then the end');
    } finally {
      release();
      await stop();
    }
  });

  test('a stream that ended just before its subscriber attached ends it: its chunks are dropped, its end is not', async () => {
    const { log, release } = laggingLog();
    const { topics, follow, stop } = await hubOn(log);
    try {
      const runId = randomUUID();
      await topics.stream.append([chunk(runId, 0), chunk(runId, 1), end(runId)]);
      // The end is below the subscription's boundary, and the tail has not read it yet.
      const following = follow(runId);
      release();
      const items = await following;
      await waitFor(() => items.length > 0, { timeoutMs: 5000, message: 'the end' });
      assert.deepEqual(items, [{ type: 'end', status: 'CANCELLED' }]);
    } finally {
      release();
      await stop();
    }
  });

  test('a stream whose end the tail read before the subscription ends the subscription at once', async () => {
    const { hub, topics, follow, stop } = await hubOn(new EmbeddedLog());
    try {
      const runId = randomUUID();
      const other = randomUUID();
      const watching = await follow(other);
      await topics.stream.append([chunk(runId, 0), end(runId), chunk(other, 0)]);
      await waitFor(() => watching.length === 1, { message: 'the tail to read past the end' });
      assert.equal(hub.size, 1);
      const items = await follow(runId);
      assert.deepEqual(items, [{ type: 'end', status: 'CANCELLED' }]);
    } finally {
      await stop();
    }
  });
});
