// Benchmark: the floors under Chute's stream path, on the same broker and
// machine. A bare produce -> consume with kafkajs (the client Chute uses) and
// with @platformatic/kafka (the fastest Kafka client on npm in pure
// JavaScript), and a bare `ws` send -> receive between two processes (the
// gateway's last hop). Figures, not assertions: these machines are noisy.
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { Child } from './child';
import { kafkajsPipe, platformaticPipe, type Pipe } from './kafka-pipes';
import type { BenchParams } from './params';
import type { Results } from './results';
import { now, percentiles, report, summary } from './stats';

export const CHUNK_SIZES = [100, 4096] as const;
export const sizeName = (bytes: number): string => (bytes === 100 ? '100B' : `${bytes / 1024}KiB`);

const stamp = (bytes: number): string => `${now().toFixed(3)} `.padEnd(bytes, '.');
const latencyOf = (value: string, at: number): number => at - Number.parseFloat(value);

/** One message every `intervalMs`, each acknowledged before the pause: the latency of one quiet stream. */
async function oneStream(pipe: Pipe, samples: number, intervalMs: number, bytes: number): Promise<number[]> {
  const latencies: number[] = [];
  const all = new Promise<void>((resolve) => {
    pipe.onValue = (value) => {
      latencies.push(latencyOf(value, now()));
      if (latencies.length === samples) resolve();
    };
  });
  for (let i = 0; i < samples; i++) {
    await pipe.send([stamp(bytes)]);
    await sleep(intervalMs);
  }
  await all;
  return latencies;
}

/**
 * `streams` streams at 5 messages/s each for `seconds`, open loop: every 10 ms
 * the messages due are produced in one request, as the worker's producer joins
 * the appends made together.
 */
async function manyStreams(pipe: Pipe, streams: number, seconds: number, bytes: number): Promise<number[]> {
  const total = streams * 5 * seconds;
  const latencies: number[] = [];
  const all = new Promise<void>((resolve) => {
    pipe.onValue = (value) => {
      latencies.push(latencyOf(value, now()));
      if (latencies.length === total) resolve();
    };
  });
  const sends: Promise<void>[] = [];
  const begin = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - begin) / 1000) * streams * 5));
    if (due > sent) {
      sends.push(pipe.send(Array.from({ length: due - sent }, () => stamp(bytes))));
      sent = due;
    }
    await sleep(10);
  }
  await Promise.all(sends);
  await all;
  return latencies;
}

async function kafkaFloor(results: Results, params: BenchParams, make: () => Promise<Pipe>, key: string): Promise<void> {
  const pipe = await make();
  try {
    // Warm-up, not reported: connections and the JIT.
    await oneStream(pipe, Math.min(100, params.samples), 5, 100);
    for (const bytes of CHUNK_SIZES) {
      const l = summary(await oneStream(pipe, params.samples, 20, bytes));
      const label = `floor: bare ${pipe.client} produce->consume, 1 stream (1 message / 20 ms, ${bytes} B)`;
      results.latency(`floor.${key}.stream.1.${sizeName(bytes)}`, 'floor', label, l);
      report(label, percentiles(l));
    }
    const l = summary(await manyStreams(pipe, params.streams, params.streamSeconds, 100));
    const label = `floor: bare ${pipe.client} produce->consume, ${params.streams} streams x 5 messages/s (100 B)`;
    results.latency(`floor.${key}.stream.many`, 'floor', label, l);
    report(label, percentiles(l));
  } finally {
    await pipe.close();
  }
}

/** A socket to the ws floor's server asking for `count` messages; resolves with each one's latency (and its receipt times). */
function wsReceive(port: number, count: number, intervalMs: number, bytes: number): Promise<{ latencies: number[]; firstAt: number; lastAt: number }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/?count=${count}&intervalMs=${intervalMs}&bytes=${bytes}`, { perMessageDeflate: false });
    const latencies: number[] = [];
    let firstAt = 0;
    let lastAt = 0;
    socket.on('message', (data: Buffer) => {
      const at = now();
      if (data.length === 3) {
        socket.close();
        resolve({ latencies, firstAt, lastAt });
        return;
      }
      if (latencies.length === 0) firstAt = at;
      lastAt = at;
      latencies.push(at - Number.parseFloat(data.subarray(0, 20).toString('latin1')));
    });
    socket.once('error', reject);
  });
}

async function wsFloor(results: Results, params: BenchParams): Promise<void> {
  const server = Child.typescript('ws floor server', 'ws-floor-server.ts');
  try {
    const port = Number((await server.waitFor(/^listening (\d+)/))[1]);
    await wsReceive(port, 200, 2, 100);
    for (const bytes of CHUNK_SIZES) {
      const l = summary((await wsReceive(port, params.samples, 20, bytes)).latencies);
      const label = `floor: bare ws send->receive, 1 stream (1 message / 20 ms, ${bytes} B)`;
      results.latency(`floor.ws.stream.1.${sizeName(bytes)}`, 'floor', label, l);
      report(label, percentiles(l));
    }
    // Throughput: 4 streams x 5 subscribers, as fast as the sockets drain (the same shape as Chute's).
    for (const bytes of CHUNK_SIZES) {
      const count = bytes === 100 ? params.burstChunks : Math.ceil(params.burstChunks / 5);
      const got = await Promise.all(Array.from({ length: 20 }, () => wsReceive(port, count, 0, bytes)));
      const seconds = (Math.max(...got.map((g) => g.lastAt)) - Math.min(...got.map((g) => g.firstAt))) / 1000;
      const delivered = got.reduce((n, g) => n + g.latencies.length, 0);
      const label = `floor: bare ws, 20 sockets (4 streams x 5) as fast as they drain (${bytes} B)`;
      results.value(`floor.ws.deliveries.${sizeName(bytes)}`, 'floor', label, delivered / seconds, 'deliveries/s');
      results.value(`floor.ws.mbps.${sizeName(bytes)}`, 'floor', label, (delivered * bytes) / seconds / 1e6, 'MB/s');
      report(label, `${(delivered / seconds).toFixed(0)} deliveries/s, ${((delivered * bytes) / seconds / 1e6).toFixed(1)} MB/s`);
    }
  } finally {
    await server.stop();
  }
}

export async function floorsBench(results: Results, params: BenchParams): Promise<void> {
  await kafkaFloor(results, params, kafkajsPipe, 'kafkajs');
  await kafkaFloor(results, params, platformaticPipe, 'platformatic');
  await wsFloor(results, params);
}
