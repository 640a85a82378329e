// Benchmark: BullMQ on Redis, the peer a Node user would pick instead, measured
// the way Chute is: its worker is a process of its own, Redis appends every
// write to its AOF and fsyncs each second, and the load generator is this
// process. BullMQ's progress events (`job.updateProgress` -> `QueueEvents`)
// are its stream. They travel through one Redis stream per queue that BullMQ
// trims (`streams.events.maxLen`, 10,000 by default): a reader that falls
// behind loses events, so each figure counts what never arrived.
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, QueueEvents } from 'bullmq';
import { Child } from './child';
import { measureCpu } from './cpu';
import { CHUNK_SIZES, sizeName } from './floors.bench';
import type { BenchParams } from './params';
import { pool } from './pool';
import { startRedis, type Redis } from './redis';
import type { Results } from './results';
import { now, percentiles, report, summary } from './stats';

const QUEUE = 'bench';

interface Completion {
  /** NaN when the job's 'completed' event was lost and the job was already removed. */
  startedAt: number;
  completedAt: number;
  /** True when its 'completed' event never came and the job's state was read instead. */
  lost: boolean;
}

/** Jobs added with ids of our own and awaited through one QueueEvents, as a BullMQ app server would. */
class Jobs {
  private readonly waiters = new Map<string, { since: number; resolve: (c: Completion) => void }>();
  private readonly early = new Map<string, Completion>();
  private readonly sweeper: NodeJS.Timeout;
  private next = 0;

  constructor(
    private readonly queue: Queue,
    events: QueueEvents,
  ) {
    events.on('completed', ({ jobId, returnvalue }) => {
      // QueueEvents parses the return value itself (a string if it is not JSON).
      const value = (typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue) as { startedAt: number };
      const completion = { startedAt: value.startedAt, completedAt: now(), lost: false };
      const waiter = this.waiters.get(jobId);
      if (!waiter) return void this.early.set(jobId, completion);
      this.waiters.delete(jobId);
      waiter.resolve(completion);
    });
    // A job whose 'completed' event was trimmed away before we read it: its state tells.
    this.sweeper = setInterval(() => void this.sweep(), 2000);
  }

  private async sweep(): Promise<void> {
    for (const [jobId, waiter] of this.waiters) {
      if (now() - waiter.since < 5000) continue;
      const job = await this.queue.getJob(jobId);
      if (!this.waiters.has(jobId)) continue;
      // Gone: removed on completion (removeOnComplete), so when it started is not known.
      if (!job || job.finishedOn) {
        this.waiters.delete(jobId);
        const startedAt = job ? (job.returnvalue as { startedAt: number }).startedAt : Number.NaN;
        waiter.resolve({ startedAt, completedAt: now(), lost: true });
      }
    }
  }

  /** Adds a job and resolves when it has completed. */
  async run(name: string, data: object, jobId = `${name}-${this.next++}`): Promise<Completion & { addedAt: number }> {
    const addedAt = now();
    const done = new Promise<Completion>((resolve) => this.waiters.set(jobId, { since: addedAt, resolve }));
    await this.queue.add(name, data, { jobId });
    const early = this.early.get(jobId);
    if (early) {
      this.early.delete(jobId);
      this.waiters.delete(jobId);
      return { ...early, addedAt };
    }
    return { ...(await done), addedAt };
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}

interface Ticks {
  count: number;
  intervalMs: number;
  delayMs: number;
  bytes: number;
}

/**
 * Progress listeners: `listeners` QueueEvents per job, each reading the queue's
 * whole event stream and keeping its job's progress (BullMQ has no per-job
 * subscription). Resolves when every job has completed.
 */
async function progress(
  context: { jobs: Jobs; connection: { host: string; port: number } },
  options: { streams: number; listeners: number; input: Ticks; measure: boolean; sharedReader?: boolean },
): Promise<{ latencies: number[]; received: number; expected: number; firstAt: number; lastAt: number }> {
  const ids = Array.from({ length: options.streams }, (_, i) => `ticks-${Date.now()}-${i}`);
  const wanted = new Map(ids.map((id, i) => [id, i]));
  const latencies: number[] = [];
  let received = 0;
  let firstAt = Number.POSITIVE_INFINITY;
  let lastAt = 0;
  // One reader routes every job's events (an app server's one QueueEvents), or `listeners` readers per job.
  const readers = options.sharedReader ? 1 : options.streams * options.listeners;
  const all = Array.from({ length: readers }, () => new QueueEvents(QUEUE, { connection: context.connection }));
  try {
    await Promise.all(all.map((e) => e.waitUntilReady()));
    all.forEach((events, r) => {
      const mine = options.sharedReader ? undefined : ids[Math.floor(r / options.listeners)];
      events.on('progress', ({ jobId, data }) => {
        const at = now();
        if (mine ? jobId !== mine : !wanted.has(jobId)) return;
        received++;
        if (at < firstAt) firstAt = at;
        lastAt = at;
        if (options.measure) latencies.push(at - Number.parseFloat(String(data).slice(0, 20)));
      });
    });
    // QueueEvents reads from "now" once its first XREAD is out: give it that moment.
    await sleep(500);
    await Promise.all(ids.map((id) => context.jobs.run('ticks', options.input, id)));
    // Progress events precede the 'completed' event in the one stream; a moment more for slower readers.
    await sleep(200);
  } finally {
    await Promise.all(all.map((e) => e.close()));
  }
  const expected = options.streams * options.input.count * (options.sharedReader ? 1 : options.listeners);
  return { latencies, received, expected, firstAt, lastAt };
}

/** Add -> first progress event, one job at a time, its listener attached before the add. */
async function firstProgress(connection: { host: string; port: number }, queue: Queue, trials: number): Promise<number[]> {
  const events = new QueueEvents(QUEUE, { connection });
  const latencies: number[] = [];
  try {
    await events.waitUntilReady();
    await sleep(500);
    for (let i = 0; i < trials; i++) {
      const jobId = `first-${Date.now()}-${i}`;
      let sent = 0;
      const first = new Promise<number>((resolve) => {
        const listener = ({ jobId: id }: { jobId: string }): void => {
          if (id !== jobId) return;
          events.off('progress', listener);
          resolve(now());
        };
        events.on('progress', listener);
      });
      sent = now();
      await queue.add('ticks', { count: 1, intervalMs: 0, delayMs: 0, bytes: 100 } satisfies Ticks, { jobId });
      latencies.push((await first) - sent);
    }
    return latencies;
  } finally {
    await events.close();
  }
}

/** BullMQ's worker process, `concurrency` jobs at a time; resolves once it is ready. */
async function startWorker(redis: Redis, concurrency: number): Promise<Child> {
  const worker = Child.typescript('bullmq worker', 'bullmq-worker.ts', { BENCH_QUEUE: QUEUE, BENCH_REDIS_PORT: String(redis.port), BENCH_CONCURRENCY: String(concurrency) });
  await worker.waitFor(/^ready$/, 60_000);
  return worker;
}

/** Start latencies of the jobs whose start is known (a lost event's removed job has none). */
const started = (done: readonly (Completion & { addedAt: number })[]): number[] => done.filter((d) => Number.isFinite(d.startedAt)).map((d) => d.startedAt - d.addedAt);

/** `clients` loops each running one job after another until `seconds` have passed. */
async function closedLoop<T>(clients: number, seconds: number, run: () => Promise<T>): Promise<T[]> {
  const deadline = performance.now() + seconds * 1000;
  const done: T[] = [];
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < deadline) done.push(await run());
    }),
  );
  return done;
}

async function measure(results: Results, params: BenchParams, redis: Redis): Promise<void> {
  const connection = { host: '127.0.0.1', port: redis.port };
  // The peer as its docs set it up for throughput: finished jobs removed
  // (docs.bullmq.io/guide/queues/auto-removal-of-jobs), and for no-op jobs a
  // worker concurrency below the clients' count (params.bullmqConcurrency):
  // the worker fetches one job per round trip while it has free slots, so a
  // concurrency above the jobs in flight keeps it polling an empty queue
  // instead of taking the next job with each completion; 2000 measured half
  // the jobs/s at 400 clients. The progress measurements need a slot per
  // stream and get a worker of their own.
  let worker = await startWorker(redis, params.bullmqConcurrency);
  const queue = new Queue(QUEUE, { connection, defaultJobOptions: { removeOnComplete: true, removeOnFail: true } });
  const events = new QueueEvents(QUEUE, { connection });
  const jobs = new Jobs(queue, events);
  try {
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
    await sleep(500);
    const cpuOf = () => measureCpu({ redis: { pid: redis.pid, withChildren: true }, 'bullmq worker': { pid: worker.pid }, 'load generator': { pid: process.pid } });
    const cpuText = (used: Record<string, number>, n: number): { total: number; text: string } => {
      const sorted = Object.entries(used).sort((a, b) => b[1] - a[1]);
      const total = sorted.reduce((s, [, v]) => s + v, 0) / n;
      return { total, text: `${total.toFixed(2)} ms (${sorted.map(([k, v]) => `${k} ${(v / n).toFixed(2)}`).join(', ')})` };
    };

    // Warm-up, not reported, as Chute's.
    await pool(Array.from({ length: Math.min(3000, 50 * params.runsPerClient * 2) }), 50, () => jobs.run('noop', {}));

    // Add -> start at 100 jobs/s, open loop.
    const rate = 100;
    {
      const cpu = cpuOf();
      const pending: Promise<Completion & { addedAt: number }>[] = [];
      const begin = performance.now();
      for (let i = 0; i < rate * params.openLoopSeconds; i++) {
        const wait = begin + i * (1000 / rate) - performance.now();
        if (wait > 0) await sleep(wait);
        pending.push(jobs.run('noop', {}));
      }
      const done = await Promise.all(pending);
      const used = cpuText(cpu.stop(), done.length);
      const lost = done.filter((d) => d.lost).length;
      const s = summary(started(done));
      const c = summary(done.map((d) => d.completedAt - d.addedAt));
      const label = `BullMQ add->job start at ${rate} jobs/s (open loop, ${s.n} jobs)`;
      results.latency(`bullmq.start.${rate}`, 'bullmq', label, s);
      results.latency(`bullmq.start.${rate}.completed`, 'bullmq', `BullMQ add->'completed' event at ${rate} jobs/s (open loop)`, c, { lost });
      results.value(`bullmq.start.${rate}.cpu`, 'bullmq', `BullMQ CPU per job (Redis, worker, load generator) at ${rate} jobs/s`, used.total, 'ms', { detail: used.text });
      report(label, percentiles(s));
      report(`BullMQ add->completed at ${rate} jobs/s`, `${percentiles(c)}; ${lost} 'completed' events lost`);
      report(`BullMQ CPU per job at ${rate} jobs/s`, used.text);
    }

    // No-op jobs/s, closed loop: add, then wait for its 'completed' event.
    // For a stated time rather than a count: at several thousand jobs a second a count lasts a second or two.
    for (const clients of params.clients) {
      const cpu = cpuOf();
      const startedAt = performance.now();
      const done = await closedLoop(clients, params.peerSeconds, () => jobs.run('noop', {}));
      const seconds = (performance.now() - startedAt) / 1000;
      const total = done.length;
      const used = cpuText(cpu.stop(), total);
      const lost = done.filter((d) => d.lost).length;
      const c = summary(done.map((d) => d.completedAt - d.addedAt));
      const s = summary(started(done));
      const label = `BullMQ no-op jobs/s, closed loop (${clients} concurrent clients, ${total} jobs in ${seconds.toFixed(1)} s, worker concurrency ${params.bullmqConcurrency})`;
      results.value(`bullmq.jobs.${clients}`, 'bullmq', label, total / seconds, 'jobs/s', { lost });
      results.latency(`bullmq.jobs.${clients}.completed`, 'bullmq', `BullMQ add->'completed' event, closed loop, ${clients} clients`, c, { lost });
      results.latency(`bullmq.jobs.${clients}.start`, 'bullmq', `BullMQ add->job start, closed loop, ${clients} clients`, s);
      results.value(`bullmq.jobs.${clients}.cpu`, 'bullmq', `BullMQ CPU per job (Redis, worker, load generator), closed loop, ${clients} clients`, used.total, 'ms', { detail: used.text });
      report(label, `${(total / seconds).toFixed(0)}; ${lost} 'completed' events lost`);
      report(`BullMQ add->completed (closed loop, ${clients} clients)`, percentiles(c));
      report(`BullMQ add->start (closed loop, ${clients} clients)`, percentiles(s));
      report(`BullMQ CPU per job (closed loop, ${clients} clients)`, used.text);
    }

    await worker.stop();
    worker = await startWorker(redis, Math.max(2000, params.streams + 100));
    const context = { jobs, connection };
    // One stream: one job's progress every 20 ms, one listener.
    for (const bytes of CHUNK_SIZES) {
      const got = await progress(context, { streams: 1, listeners: 1, input: { count: params.samples, intervalMs: 20, delayMs: 200, bytes }, measure: true });
      const l = summary(got.latencies);
      const lost = got.expected - got.received;
      const label = `BullMQ updateProgress->QueueEvents 'progress', 1 stream (1 event / 20 ms, ${bytes} B)`;
      results.latency(`bullmq.stream.1.${sizeName(bytes)}`, 'bullmq', label, l, { lost });
      report(label, `${percentiles(l)}; ${lost} lost`);
    }

    const first = summary(await firstProgress(connection, queue, Math.max(5, Math.ceil(params.samples / 10))));
    const firstLabel = "BullMQ add->first 'progress' event (QueueEvents attached before the add)";
    results.latency('bullmq.first-chunk', 'bullmq', firstLabel, first);
    report(firstLabel, percentiles(first));

    // Many streams at 5 events/s each, one QueueEvents routing them all.
    {
      const got = await progress(context, {
        streams: params.streams,
        listeners: 1,
        sharedReader: true,
        input: { count: 5 * params.streamSeconds, intervalMs: 200, delayMs: 2000, bytes: 100 },
        measure: true,
      });
      const l = summary(got.latencies);
      const lost = got.expected - got.received;
      const label = `BullMQ updateProgress->QueueEvents 'progress', ${params.streams} concurrent streams (1 event / 200 ms each, 100 B)`;
      results.latency('bullmq.stream.many', 'bullmq', label, l, { lost });
      report(label, `${percentiles(l)}; ${lost} lost`);
    }

    // Deliveries/s: 4 jobs reporting progress as fast as they can, 5 QueueEvents listeners each.
    for (const bytes of CHUNK_SIZES) {
      const count = bytes === 100 ? params.burstChunks : Math.ceil(params.burstChunks / 5);
      const got = await progress(context, { streams: 4, listeners: 5, input: { count, intervalMs: 0, delayMs: 1000, bytes }, measure: false });
      const seconds = (got.lastAt - got.firstAt) / 1000;
      const lost = got.expected - got.received;
      const label = `BullMQ progress deliveries (4 streams x 5 QueueEvents listeners, ${bytes} B)`;
      const detail = `${got.received} of ${got.expected} delivered in ${seconds.toFixed(2)} s`;
      results.value(`bullmq.deliveries.${sizeName(bytes)}`, 'bullmq', label, got.received / seconds, 'deliveries/s', { lost, detail });
      results.value(`bullmq.mbps.${sizeName(bytes)}`, 'bullmq', label, (got.received * bytes) / seconds / 1e6, 'MB/s', { lost, detail });
      report(label, `${(got.received / seconds).toFixed(0)} deliveries/s, ${((got.received * bytes) / seconds / 1e6).toFixed(1)} MB/s; ${lost} lost (${detail})`);
    }
  } finally {
    jobs.close();
    await events.close();
    await queue.close();
    await worker.stop();
  }
}

export async function bullmqBench(results: Results, params: BenchParams): Promise<{ redis: string }> {
  const redis = await startRedis();
  try {
    await measure(results, params, redis);
  } finally {
    await redis.stop();
  }
  return { redis: redis.version };
}
