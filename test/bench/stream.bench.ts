// Benchmark: the streaming hot path, putStream (in a worker process) -> the
// stream topic -> the gateway's one tail -> a WebSocket subscriber, on the real
// broker, beside its floor: a bare kafkajs produce -> consume round trip on the
// same broker. Figures, not assertions: these machines are noisy.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import WebSocket from 'ws';
import { noDelaySocketFactory, patchKafkajsRequestQueue } from '@chute/log';
import { Platform, testBrokers, uniqueName, type ServiceProcess } from '@chute/testing';
import { HttpClient } from './http';
import { pool } from './pool';
import { ms, report, summary } from './stats';

/** Wall-clock ms with sub-ms precision, comparable across processes on this machine. */
const now = (): number => performance.timeOrigin + performance.now();

function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/** Samples a process's RSS every 200 ms until stopped; resolves with the peak. */
function watchRss(pid: number): { stop(): number } {
  let peak = rssMiB(pid);
  const timer = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 200);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(peak, rssMiB(pid));
    },
  };
}

interface TicksInput {
  count: number;
  intervalMs: number;
  delayMs: number;
  bytes: number;
}

async function trigger(client: HttpClient, input: TicksInput): Promise<string> {
  const response = await client.request<{ runId: string }>('POST', '/api/v1/tasks/stream-ticks/runs', JSON.stringify({ input }));
  if (response.status !== 201) throw new Error(`trigger answered ${response.status}: ${JSON.stringify(response.body)}`);
  return response.body.runId;
}

/** One WebSocket subscriber of a run, recording each chunk's putStream -> receipt latency. */
class Subscriber {
  readonly latencies: number[] = [];
  chunks = 0;
  firstAt = 0;
  lastAt = 0;
  readonly opened: Promise<void>;
  readonly ended: Promise<string>;
  private readonly socket: WebSocket;

  constructor(gatewayUrl: string, runId: string, private readonly measure: boolean) {
    const url = new URL(`/api/v1/runs/${runId}/stream`, gatewayUrl);
    url.protocol = 'ws:';
    this.socket = new WebSocket(url, { perMessageDeflate: false });
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve());
      this.socket.once('error', reject);
      this.socket.once('unexpected-response', (_req, res) => reject(new Error(`stream of ${runId} refused: ${res.statusCode}`)));
    });
    this.ended = new Promise((resolve) => {
      this.socket.on('message', (data: Buffer) => {
        const at = now();
        // {"type":"end",... or {"type":"chunk",...: the 9th byte tells them apart without parsing.
        if (data[9] === 0x65 /* e */) {
          resolve(String(data));
          return;
        }
        if (this.chunks++ === 0) this.firstAt = at;
        this.lastAt = at;
        if (this.measure) {
          const { data: text } = JSON.parse(String(data)) as { data: string };
          this.latencies.push(at - Number.parseFloat(text));
        }
      });
      this.socket.once('close', (code) => resolve(`closed ${code}`));
    });
  }

  close(): void {
    this.socket.terminate();
  }
}

/**
 * `runs` runs of stream-ticks, `perRun` WebSocket subscribers each, attached
 * during the runs' initial delay (drop-before-subscribe: a late one would miss
 * chunks, and the check below would say so).
 */
async function streams(
  platform: Platform,
  options: { runs: number; perRun: number; input: TicksInput; measure: boolean; gateway?: ServiceProcess },
): Promise<{ subscribers: Subscriber[]; attachMs: number; rss?: { idle: number; active: number } }> {
  const { runs, perRun, input } = options;
  const triggeredAt = now();
  const client = new HttpClient(platform.gatewayUrl, 50);
  const ids = await pool(Array.from({ length: runs }), 50, () => trigger(client, input)).finally(() => client.close());
  const subscribers = ids.flatMap((id) => Array.from({ length: perRun }, () => new Subscriber(platform.gatewayUrl, id, options.measure)));
  await Promise.all(subscribers.map((s) => s.opened));
  const attachMs = now() - triggeredAt;
  // Runs start a moment after their trigger; their chunks begin delayMs later.
  const activeStartsAt = triggeredAt + input.delayMs;
  if (attachMs > input.delayMs) throw new Error(`attaching took ${attachMs.toFixed(0)} ms, past the runs' ${input.delayMs} ms delay`);
  let idlePeak: number | undefined;
  let active: { stop(): number } | undefined;
  if (options.gateway) {
    const idle = watchRss(options.gateway.pid);
    await sleep(Math.max(0, activeStartsAt - now() - 200));
    idlePeak = idle.stop();
    active = watchRss(options.gateway.pid);
  }
  const ends = await Promise.all(subscribers.map((s) => s.ended));
  const rss = idlePeak !== undefined && active ? { idle: idlePeak, active: active.stop() } : undefined;
  for (const s of subscribers) s.close();
  const bad = ends.filter((e) => !e.includes('COMPLETED'));
  if (bad.length > 0) throw new Error(`${bad.length} subscribers did not see the stream end COMPLETED: ${bad[0]}`);
  const short = subscribers.filter((s) => s.chunks !== input.count);
  if (short.length > 0) throw new Error(`${short.length} subscribers got other than ${input.count} chunks (e.g. ${short[0]!.chunks})`);
  return { subscribers, attachMs, ...(rss ? { rss } : {}) };
}

/** The floor: one kafkajs producer and one consumer on a fresh one-partition topic, one message every `intervalMs`. */
async function kafkaFloor(samples: number, intervalMs: number): Promise<number[]> {
  // The same kafkajs fix the platform runs with, so the floor is the same client.
  patchKafkajsRequestQueue();
  const kafka = new Kafka({
    clientId: 'bench-floor',
    brokers: testBrokers(),
    logLevel: logLevel.NOTHING,
    // The same TCP_NODELAY sockets the platform uses: without them Nagle adds ~40 ms and the floor would flatter us.
    socketFactory: noDelaySocketFactory,
  });
  const topic = uniqueName('bench-floor');
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  // The same fetch wait as the platform's consumers.
  const consumer = kafka.consumer({ groupId: uniqueName('bench-floor'), maxWaitTimeInMs: 250 });
  const latencies: number[] = [];
  try {
    await Promise.all([producer.connect(), consumer.connect()]);
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    let received = 0;
    let all!: () => void;
    const done = new Promise<void>((resolve) => (all = resolve));
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message }) => {
        latencies.push(now() - Number.parseFloat(String(message.value)));
        if (++received === samples) all();
      },
    });
    await joined;
    for (let i = 0; i < samples; i++) {
      await producer.send({ topic, acks: -1, messages: [{ key: 'floor', value: now().toFixed(3).padEnd(100, '.') }] });
      await sleep(intervalMs);
    }
    await done;
    return latencies;
  } finally {
    await consumer.disconnect();
    await producer.disconnect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
}

export async function streamBench(): Promise<void> {
  // 2,000 runs at once in the idle-then-active phase.
  const platform = await Platform.start({ workers: 1, env: { CHUTE_WORKER_SLOTS: '2500' } });
  const gateway = platform.processes.find((p) => p.name === 'gateway')!;
  try {
    const floor = summary(await kafkaFloor(500, 20));
    report('floor: bare kafkajs produce->consume (1 message / 20 ms, 500 samples)', `p50 ${ms(floor.p50)}, p99 ${ms(floor.p99)}`);

    // Warm-up: connections, JIT, the gateway's first subscriptions.
    await streams(platform, { runs: 10, perRun: 1, input: { count: 50, intervalMs: 10, delayMs: 2000, bytes: 100 }, measure: false });

    const one = await streams(platform, { runs: 1, perRun: 1, input: { count: 500, intervalMs: 20, delayMs: 1000, bytes: 100 }, measure: true });
    const l1 = summary(one.subscribers[0]!.latencies);
    report('putStream->WebSocket, 1 stream (1 chunk / 20 ms, 500 chunks)', `p50 ${ms(l1.p50)}, p99 ${ms(l1.p99)} (p50 ${(l1.p50 / floor.p50).toFixed(2)}x the floor)`);

    const many = await streams(platform, { runs: 1000, perRun: 1, input: { count: 25, intervalMs: 200, delayMs: 10_000, bytes: 100 }, measure: true });
    const lm = summary(many.subscribers.flatMap((s) => s.latencies));
    report(
      'putStream->WebSocket, 1,000 concurrent streams (1 chunk / 200 ms each, 5,000 chunks/s)',
      `p50 ${ms(lm.p50)}, p99 ${ms(lm.p99)} over ${lm.n} chunks (p50 ${(lm.p50 / floor.p50).toFixed(2)}x the floor); 1,000 attached in ${ms(many.attachMs)}`,
    );

    // Throughput: 4 runs putting 100-byte chunks as fast as they can, 5 subscribers each.
    const count = 25_000;
    const burst = await streams(platform, { runs: 4, perRun: 5, input: { count, intervalMs: 0, delayMs: 3000, bytes: 100 }, measure: false });
    const first = Math.min(...burst.subscribers.map((s) => s.firstAt));
    const last = Math.max(...burst.subscribers.map((s) => s.lastAt));
    const delivered = burst.subscribers.reduce((n, s) => n + s.chunks, 0);
    const seconds = (last - first) / 1000;
    report(
      'chunks/s delivered through one gateway (100-byte chunks, 4 streams x 5 WebSocket subscribers)',
      `${(delivered / seconds).toFixed(0)} deliveries/s (${((4 * count) / seconds).toFixed(0)} distinct chunks/s in; ${delivered} deliveries in ${seconds.toFixed(2)} s)`,
    );

    // 10,000 subscribers (2,000 runs x 5) attach, sit idle, then every run streams.
    const idleMs = Math.max(20_000, Math.ceil((many.attachMs / 1000) * 10 * 2.5));
    const base = rssMiB(gateway.pid);
    const crowd = await streams(platform, {
      runs: 2000,
      perRun: 5,
      input: { count: 10, intervalMs: 500, delayMs: idleMs, bytes: 100 },
      measure: true,
      gateway,
    });
    const lc = summary(crowd.subscribers.flatMap((s) => s.latencies));
    report(
      '10,000 idle-then-active WebSocket subscribers (2,000 runs x 5; then 4,000 chunks/s in, 20,000 deliveries/s out)',
      `gateway RSS ${base.toFixed(0)} MiB before, ${crowd.rss!.idle.toFixed(0)} MiB idle, ${crowd.rss!.active.toFixed(0)} MiB peak active; ` +
        `latency p50 ${ms(lc.p50)}, p99 ${ms(lc.p99)} over ${lc.n} chunks; 10,000 attached in ${ms(crowd.attachMs)}`,
    );
  } finally {
    await platform.stop();
  }
}
