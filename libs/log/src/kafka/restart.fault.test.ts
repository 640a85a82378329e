// Appends across broker restarts: the broker this checkout started is stopped
// and started again (its data kept) while records are appended without pause.
// Every append must resolve, and the log must hold each record once, in
// append order per key. Run by `npm run test:faults`; with a broker this
// checkout did not start it fails (BrokerControl refuses), it never skips.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger } from '@chute/runtime';
import { BrokerControl, testBrokers, uniqueName, waitFor } from '@chute/testing';
import { KafkaLog } from './kafka-log';
import type { LogRecord } from '../types';

const RESTARTS = 2;

describe('kafka log across broker restarts', () => {
  test('every append resolves, and the log holds each record once, in order per key', async () => {
    const broker = BrokerControl.ofThisCheckout();
    const log = new KafkaLog({ brokers: testBrokers(), clientId: uniqueName('restart'), logger: silentLogger });
    await log.start();
    try {
      const topic = uniqueName('restart');
      await log.ensureTopics([{ name: topic, partitions: 3 }]);
      const appends: Promise<void>[] = [];
      let appending = true;
      const producer = (async () => {
        for (let i = 0; appending; i++) {
          appends.push(log.append(topic, [{ key: `k${i % 5}`, value: `k${i % 5}:${i}` }]));
          await sleep(10);
        }
      })();
      for (let r = 0; r < RESTARTS; r++) {
        await sleep(1500);
        await broker.stop();
        await sleep(3000);
        await broker.start();
      }
      await sleep(1500);
      appending = false;
      await producer;
      const outcomes = await Promise.allSettled(appends);
      const failed = outcomes.filter((o) => o.status === 'rejected');
      assert.deepEqual(failed.map((o) => String((o as PromiseRejectedResult).reason)), [], 'no append failed');

      const got: LogRecord[] = [];
      const from = (await log.endOffsets(topic)).map(({ partition }) => ({ partition, offset: 0 }));
      const sub = await log.read(topic, from, (rs) => void got.push(...rs));
      try {
        await waitFor(() => got.length >= appends.length, { timeoutMs: 60_000, message: `${appends.length} records, got ${got.length}` });
        await sleep(500);
      } finally {
        await sub.stop();
      }
      assert.equal(got.length, appends.length, 'each record once');
      for (let k = 0; k < 5; k++) {
        const seq = got.filter((r) => r.key === `k${k}`).map((r) => Number(r.value.toString().split(':')[1]));
        assert.deepEqual(seq, [...seq].sort((a, b) => a - b), `k${k} in append order`);
      }
    } finally {
      await broker.ensureRunning();
      await log.stop();
    }
  });
});
