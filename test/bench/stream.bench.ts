// Benchmark: the streaming hot path, putStream (in a worker process) -> the
// stream topic -> the gateway's one tail -> subscribers over WebSocket, SSE and
// the SDK, on the real broker. Its floors are in floors.bench.ts. Figures, not
// assertions: these machines are noisy. Auth is on, as users run it.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Platform, type ServiceProcess } from '@chute/testing';
import { cpuPerUnit } from './cpu';
import { CHUNK_SIZES, sizeName } from './floors.bench';
import { HttpClient } from './http';
import { NO_TRIGGER_LIMIT, type BenchParams } from './params';
import { pool } from './pool';
import type { Results } from './results';
import { ms, now, percentiles, report, summary, type Latency } from './stats';
import { reportWarnings } from './warnings';
import { Subscriber, TRANSPORT_NAMES, type Transport } from './subscribers';

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

/** WebSocket handshakes in flight at once while a crowd attaches. */
const OPENING = 1000;

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

/**
 * `runs` runs of stream-ticks, `perRun` subscribers each, attached during the
 * runs' initial delay (drop-before-subscribe: a late one would miss chunks, and
 * the check below would say so).
 */
async function streams(
  platform: Platform,
  token: string,
  options: { runs: number; perRun: number; input: TicksInput; measure: boolean; transport?: Transport; gateway?: ServiceProcess },
): Promise<{ subscribers: Subscriber[]; attachMs: number; rss?: { idle: number; active: number } }> {
  const { runs, perRun, input } = options;
  const triggeredAt = now();
  const client = new HttpClient(platform.gatewayUrl, 50, token);
  const ids = await pool(Array.from({ length: runs }), 50, () => trigger(client, input)).finally(() => client.close());
  // At most OPENING handshakes at once: 10,000 at once were reset (ECONNRESET) on the shared 2 cores.
  const subscribers: Subscriber[] = [];
  await pool(ids.flatMap((id) => Array.from({ length: perRun }, () => id)), OPENING, async (id) => {
    const subscriber = Subscriber.of(options.transport ?? 'ws', platform.gatewayUrl, id, options.measure, { token });
    subscribers.push(subscriber);
    await subscriber.opened;
  });
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

/**
 * Trigger -> first chunk, one run at a time. The run's id comes back from the
 * trigger, so a subscriber cannot attach before it: it attaches the moment the
 * id is known, with from=start so a chunk put before it attached is replayed
 * rather than missed.
 */
async function firstChunk(platform: Platform, token: string, trials: number): Promise<number[]> {
  const client = new HttpClient(platform.gatewayUrl, 1, token);
  const latencies: number[] = [];
  try {
    for (let i = 0; i < trials; i++) {
      const sent = now();
      const runId = await trigger(client, { count: 1, intervalMs: 0, delayMs: 0, bytes: 100 });
      const subscriber = Subscriber.of('ws', platform.gatewayUrl, runId, false, { query: '?from=start', token });
      await subscriber.ended;
      subscriber.close();
      if (subscriber.chunks !== 1) throw new Error(`run ${runId}: ${subscriber.chunks} chunks, expected 1`);
      latencies.push(subscriber.firstAt - sent);
    }
    return latencies;
  } finally {
    client.close();
  }
}

/** `runs` streams of 100 B chunks at `perSecond` each for `seconds`, one measured WebSocket subscriber each. */
async function concurrentStreams(
  platform: Platform,
  token: string,
  runs: number,
  perSecond: number,
  seconds: number,
): Promise<{ latency: Latency; attachMs: number; outOfOrder: number }> {
  const { subscribers, attachMs } = await streams(platform, token, {
    runs,
    perRun: 1,
    input: { count: perSecond * seconds, intervalMs: 1000 / perSecond, delayMs: Math.max(3000, runs * 10), bytes: 100 },
    measure: true,
  });
  return {
    latency: summary(subscribers.flatMap((s) => s.latencies)),
    attachMs,
    outOfOrder: subscribers.reduce((n, s) => n + s.outOfOrder, 0),
  };
}

export async function streamBench(results: Results, params: BenchParams): Promise<void> {
  // Room for the crowd's runs at once in the idle-then-active phase.
  const crowdRuns = Math.ceil(params.crowd / 5);
  // As users run it: every request and subscription carries a token the gateway verifies.
  const platform = await Platform.start({ auth: true, workers: 1, env: { CHUTE_WORKER_SLOTS: String(Math.max(2500, crowdRuns + 500, params.streams + 500, params.llmStreams + 500)), ...NO_TRIGGER_LIMIT } });
  const gateway = platform.processes.find((p) => p.name === 'gateway')!;
  try {
    // An app's backend token: it triggers runs and proxies their streams.
    const token = await platform.token('default', ['runs:write', 'runs:read', 'stream:read']);
    // Warm-up: connections, JIT, the gateway's first subscriptions.
    await streams(platform, token, { runs: 10, perRun: 1, input: { count: 50, intervalMs: 10, delayMs: 2000, bytes: 100 }, measure: false });

    for (const transport of ['ws', 'sse', 'sdk'] as const) {
      for (const bytes of CHUNK_SIZES) {
        if (bytes !== 100 && transport !== 'ws') continue;
        const one = await streams(platform, token, { runs: 1, perRun: 1, transport, input: { count: params.samples, intervalMs: 20, delayMs: 1000, bytes }, measure: true });
        const l = summary(one.subscribers[0]!.latencies);
        const label = `putStream->${TRANSPORT_NAMES[transport]}, 1 stream (1 chunk / 20 ms, ${bytes} B)`;
        results.latency(`chute.stream.1.${transport}.${sizeName(bytes)}`, 'chute', label, l);
        report(label, percentiles(l));
      }
    }

    const first = summary(await firstChunk(platform, token, Math.max(5, Math.ceil(params.samples / 10))));
    const firstLabel = 'trigger->first chunk (WebSocket attached as soon as the trigger answers, from=start)';
    results.latency('chute.first-chunk', 'chute', firstLabel, first);
    report(firstLabel, percentiles(first));

    const many = await concurrentStreams(platform, token, params.streams, 5, params.streamSeconds);
    const manyLabel = `putStream->WebSocket, ${params.streams} concurrent streams (1 chunk / 200 ms each, 100 B)`;
    const manyDetail = `${params.streams} attached in ${ms(many.attachMs)}`;
    results.latency('chute.stream.many.ws', 'chute', manyLabel, many.latency, { detail: manyDetail });
    report(manyLabel, `${percentiles(many.latency)}; ${manyDetail}`);

    // LLM-shaped: many streams of tokens at 20 a second for a while, each to its WebSocket subscriber.
    const llmCpu = cpuPerUnit(platform);
    const llm = await concurrentStreams(platform, token, params.llmStreams, 20, params.llmSeconds);
    const llmChunks = params.llmStreams * 20 * params.llmSeconds;
    const perThousand = llmCpu.stop(llmChunks / 1000);
    const llmLabel = `putStream->WebSocket, LLM-shaped: ${params.llmStreams} streams x 20 chunks/s for ${params.llmSeconds} s (100 B)`;
    // streams() fails the run when any subscriber misses a chunk: what is recorded was delivered whole.
    const llmDetail = `${llmChunks} chunks, 0 lost, ${llm.outOfOrder} out of order`;
    results.latency('chute.stream.llm.ws', 'chute', llmLabel, llm.latency, { lost: 0, detail: llmDetail });
    report(llmLabel, `${percentiles(llm.latency)}; ${llmDetail}`);
    // What a chunk costs the machine, from putStream to its subscriber (the runs' triggers and the subscribers' attach included).
    const llmCpuLabel = 'CPU per 1,000 chunks, LLM-shaped streams, all processes';
    results.value('chute.stream.llm.cpu', 'chute', llmCpuLabel, perThousand.total, 'ms', { detail: perThousand.text });
    report(llmCpuLabel, perThousand.text);

    // Throughput: 4 runs putting chunks as fast as they can, 5 WebSocket subscribers each.
    for (const bytes of CHUNK_SIZES) {
      const count = bytes === 100 ? params.burstChunks : Math.ceil(params.burstChunks / 5);
      const burst = await streams(platform, token, { runs: 4, perRun: 5, input: { count, intervalMs: 0, delayMs: 3000, bytes }, measure: false });
      const firstAt = Math.min(...burst.subscribers.map((s) => s.firstAt));
      const lastAt = Math.max(...burst.subscribers.map((s) => s.lastAt));
      const delivered = burst.subscribers.reduce((n, s) => n + s.chunks, 0);
      const seconds = (lastAt - firstAt) / 1000;
      const label = `chunk deliveries through one gateway (4 streams x 5 WebSocket subscribers, ${bytes} B chunks)`;
      const detail = `${((4 * count) / seconds).toFixed(0)} distinct chunks/s in; ${delivered} deliveries in ${seconds.toFixed(2)} s`;
      results.value(`chute.deliveries.${sizeName(bytes)}`, 'chute', label, delivered / seconds, 'deliveries/s', { detail });
      results.value(`chute.mbps.${sizeName(bytes)}`, 'chute', label, (delivered * bytes) / seconds / 1e6, 'MB/s', { detail });
      report(label, `${(delivered / seconds).toFixed(0)} deliveries/s, ${((delivered * bytes) / seconds / 1e6).toFixed(1)} MB/s (${detail})`);
    }

    // The crowd (runs x 5 subscribers) attaches, sits idle, then every run streams.
    const idleMs = Math.max(params.crowd >= 5000 ? 20_000 : 3000, Math.ceil((many.attachMs / 1000) * (crowdRuns / params.streams) * 5 * 2.5));
    const base = rssMiB(gateway.pid);
    const crowd = await streams(platform, token, { runs: crowdRuns, perRun: 5, input: { count: 10, intervalMs: 500, delayMs: idleMs, bytes: 100 }, measure: true, gateway });
    const lc = summary(crowd.subscribers.flatMap((s) => s.latencies));
    const subscribers = crowdRuns * 5;
    const crowdLabel = `${subscribers} idle-then-active WebSocket subscribers (${crowdRuns} runs x 5, 1 chunk / 500 ms each)`;
    results.latency('chute.crowd.latency', 'chute', crowdLabel, lc, { detail: `${subscribers} attached in ${ms(crowd.attachMs)}` });
    results.value('chute.crowd.rss.idle', 'chute', `gateway RSS with ${subscribers} idle subscribers`, crowd.rss!.idle, 'MiB', { detail: `${base.toFixed(0)} MiB before` });
    results.value('chute.crowd.rss.active', 'chute', `gateway RSS with ${subscribers} active subscribers (peak)`, crowd.rss!.active, 'MiB');
    report(crowdLabel, `gateway RSS ${base.toFixed(0)} MiB before, ${crowd.rss!.idle.toFixed(0)} MiB idle, ${crowd.rss!.active.toFixed(0)} MiB peak active; latency ${percentiles(lc)}; attached in ${ms(crowd.attachMs)}`);
  } finally {
    await platform.stop();
    reportWarnings(platform);
  }
}
