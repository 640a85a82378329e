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
  test("a run's end does not cut its stream short while the tail is still reading the run's chunks", async () => {
    const { log, release } = laggingLog();
    await log.start();
    const topics = await openPlatformTopics(log, { prefix: 'hub', runEventsPartitions: 1, streamPartitions: 1, workerEventsPartitions: 1, dispatchPartitions: 1 }, { logger: silentLogger, metrics: new Metrics() });
    const hub = new StreamHub({ log, records: topics.stream, logger: silentLogger, metrics: new Metrics(), endGraceMs: 50 });
    await hub.start();
    try {
      const runId = randomUUID();
      const subscriber = await hub.subscribe(runId, { kind: 'now' });
      await hub.begin(subscriber, undefined, Date.now());
      const items: StreamItem[] = [];
      subscriber.attach({ write: (item) => void items.push(item), bufferedBytes: () => 0, close: () => undefined });
      const chunks = Array.from({ length: 10 }, (_, seq) => ({ v: 1 as const, type: 'StreamChunk' as const, runId, tenant: 'default', attempt: 1, at: Date.now(), seq, encoding: 'utf8' as const, data: `chunk ${seq}` }));
      await topics.stream.append(chunks);
      // The worker's end record is lost: only the run's end, seen on run-events, can close the stream.
      hub.runEnded(runId, 'COMPLETED');
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(items.length, 0, 'nothing read yet, and the stream not ended past its grace period');
      release();
      await waitFor(() => items.some((i) => i.type === 'end'), { timeoutMs: 5000, message: 'the end' });
      assert.deepEqual(
        items.map((i) => (i.type === 'chunk' ? i.seq : i.type)),
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 'end'],
        'every chunk, then the end',
      );
    } finally {
      release();
      await hub.stop();
      await log.stop();
    }
  });
});
