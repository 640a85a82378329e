// The side-by-side report of one run: which figures stand beside which, the
// table (Markdown, printed and written beside the JSON) and the list of every
// figure the run must have produced (the smoke test checks it).
import { HATCHET_REFERENCE, HATCHET_SAME_DAY } from './hatchet-reference';
import type { BenchParams } from './params';
import type { Figure, LatencyFigure, Results } from './results';

interface Row {
  title: string;
  chute?: string;
  /** Floor figures; the table shows the fastest of them (lowest p50, or highest rate) and names it. */
  floors?: string[];
  bullmq?: string;
}

const kafkaFloors = (suffix: string): string[] => [`floor.kafkajs.${suffix}`, `floor.platformatic.${suffix}`];

/** The services whose CPU at rest the runs benchmark reports in the table (the broker's and PostgreSQL's go to its report line and the JSON, when it knows their pids). */
export const REST_PROCESSES = ['gateway', 'scheduler', 'worker', 'projector'] as const;

/** The SDKs the sdks benchmark measures, in the order it runs them; the key is the `<lang>` of their figures (`chute.sdk.<lang>.runs`). */
export const SDKS = { typescript: 'TypeScript', python: 'Python', go: 'Go', ruby: 'Ruby' } as const;
export type SdkLang = keyof typeof SDKS;

export function rows(params: BenchParams): Row[] {
  const n = params.streams.toLocaleString('en');
  const out: Row[] = [
    { title: 'stream latency, 1 stream, 100 B chunks: WebSocket', chute: 'chute.stream.1.ws.100B', floors: kafkaFloors('stream.1.100B'), bullmq: 'bullmq.stream.1.100B' },
    { title: 'stream latency, 1 stream, 100 B chunks: SSE', chute: 'chute.stream.1.sse.100B', floors: kafkaFloors('stream.1.100B'), bullmq: 'bullmq.stream.1.100B' },
    { title: 'stream latency, 1 stream, 100 B chunks: SDK', chute: 'chute.stream.1.sdk.100B', floors: kafkaFloors('stream.1.100B'), bullmq: 'bullmq.stream.1.100B' },
    { title: 'stream latency, 1 stream, 4 KiB chunks: WebSocket', chute: 'chute.stream.1.ws.4KiB', floors: kafkaFloors('stream.1.4KiB'), bullmq: 'bullmq.stream.1.4KiB' },
    { title: `stream latency, ${n} concurrent streams at 5 chunks/s: WebSocket`, chute: 'chute.stream.many.ws', floors: kafkaFloors('stream.many'), bullmq: 'bullmq.stream.many' },
    { title: `LLM-shaped: ${params.llmStreams.toLocaleString('en')} streams × 20 chunks/s for ${params.llmSeconds} s, each to its WebSocket subscriber`, chute: 'chute.stream.llm.ws' },
    { title: 'CPU per 1,000 chunks, LLM-shaped streams, all processes (triggers and attach included)', chute: 'chute.stream.llm.cpu' },
    { title: 'trigger → first chunk (BullMQ: add → first progress event)', chute: 'chute.first-chunk', bullmq: 'bullmq.first-chunk' },
    { title: 'deliveries/s, 4 streams × 5 subscribers, 100 B', chute: 'chute.deliveries.100B', floors: ['floor.ws.deliveries.100B'], bullmq: 'bullmq.deliveries.100B' },
    { title: 'MB/s delivered, 4 streams × 5 subscribers, 100 B', chute: 'chute.mbps.100B', floors: ['floor.ws.mbps.100B'], bullmq: 'bullmq.mbps.100B' },
    { title: 'deliveries/s, 4 streams × 5 subscribers, 4 KiB', chute: 'chute.deliveries.4KiB', floors: ['floor.ws.deliveries.4KiB'], bullmq: 'bullmq.deliveries.4KiB' },
    { title: 'MB/s delivered, 4 streams × 5 subscribers, 4 KiB', chute: 'chute.mbps.4KiB', floors: ['floor.ws.mbps.4KiB'], bullmq: 'bullmq.mbps.4KiB' },
    { title: 'trigger → task start at 100/s, open loop', chute: 'chute.start.100', bullmq: 'bullmq.start.100' },
    { title: 'trigger → completed at 100/s, open loop', chute: 'chute.start.100.completed', bullmq: 'bullmq.start.100.completed' },
    { title: 'CPU per run at 100/s, all processes', chute: 'chute.start.100.cpu', bullmq: 'bullmq.start.100.cpu' },
    { title: 'Kafka requests per run at 100/s, all services', chute: 'chute.start.100.requests' },
  ];
  for (const clients of params.clients) {
    out.push(
      { title: `no-op runs/s, closed loop, ${clients} clients`, chute: `chute.runs.${clients}`, bullmq: `bullmq.jobs.${clients}` },
      { title: `trigger → completed, closed loop, ${clients} clients`, chute: `chute.runs.${clients}.completed`, bullmq: `bullmq.jobs.${clients}.completed` },
      { title: `trigger → task start, closed loop, ${clients} clients`, chute: `chute.runs.${clients}.start`, bullmq: `bullmq.jobs.${clients}.start` },
      { title: `CPU per run, closed loop, ${clients} clients, all processes`, chute: `chute.runs.${clients}.cpu`, bullmq: `bullmq.jobs.${clients}.cpu` },
      { title: `Kafka requests per run, closed loop, ${clients} clients, all services`, chute: `chute.runs.${clients}.requests` },
    );
  }
  for (const [lang, name] of Object.entries(SDKS)) {
    out.push(
      { title: `SDK run() runs/s, closed loop, ${params.sdkClients} clients: ${name}`, chute: `chute.sdk.${lang}.runs` },
      { title: `SDK run() client CPU per run: ${name}`, chute: `chute.sdk.${lang}.cpu` },
      { title: `SDK run() → result, closed loop, ${params.sdkClients} clients: ${name} (p99.9 shown is p99)`, chute: `chute.sdk.${lang}.latency` },
    );
  }
  // Hatchet's own Python-SDK workloads on Chute (python-peer.bench.ts); Hatchet's figures are a reference, not measured here.
  const hatchet = HATCHET_REFERENCE;
  out.push(
    {
      title: `Python SDK, Hatchet's stream workload: put_stream → subscribe_to_stream, ${params.pyStreamChunks} chunks 20 ms apart (p99.9 shown is p99; ${HATCHET_SAME_DAY}: p50 ${hatchet.stream.p50} / p99 ${hatchet.stream.p99} ms)`,
      chute: 'chute.python.stream',
    },
    {
      title: `Python SDK, Hatchet's runs workload: no-op aio_run() runs/s, closed loop, ${hatchet.runs.clients} clients (${HATCHET_SAME_DAY}: ${hatchet.runs.runsPerSecond} runs/s)`,
      chute: 'chute.python.runs',
    },
    {
      title: `Python SDK, Hatchet's runs workload: the machine's CPU per run, /proc/stat (${HATCHET_SAME_DAY}: ${hatchet.runs.machineCpuMsPerRun} ms)`,
      chute: 'chute.python.runs.cpu',
    },
    {
      title: `Python SDK, Hatchet's start workload: trigger → task start at ${hatchet.start.ratePerSecond}/s, open loop (p99.9 shown is p99; ${HATCHET_SAME_DAY}: p50 ${hatchet.start.p50} / p99 ${hatchet.start.p99} ms)`,
      chute: `chute.python.start.${hatchet.start.ratePerSecond}`,
    },
  );
  for (const name of REST_PROCESSES) out.push({ title: `CPU at rest: ${name} (no runs for ${params.restSeconds} s)`, chute: `chute.rest.${name}` });
  const crowd = (Math.ceil(params.crowd / 5) * 5).toLocaleString('en');
  out.push(
    { title: `${crowd} idle-then-active WebSocket subscribers: latency`, chute: 'chute.crowd.latency' },
    { title: `${crowd} idle subscribers: gateway RSS`, chute: 'chute.crowd.rss.idle' },
    { title: `${crowd} active subscribers: gateway RSS (peak)`, chute: 'chute.crowd.rss.active' },
    { title: `scheduler takeover, ${params.takeoverRuns.toLocaleString('en')} finished runs, no checkpoint`, chute: 'chute.takeover.cold' },
    { title: 'scheduler takeover, same history, from checkpoints', chute: 'chute.takeover.warm' },
    { title: 'floor: bare kafkajs produce → consume, 1 stream, 100 B', floors: ['floor.kafkajs.stream.1.100B'] },
    { title: 'floor: bare @platformatic/kafka produce → consume, 1 stream, 100 B', floors: ['floor.platformatic.stream.1.100B'] },
    { title: 'floor: bare ws send → receive (two processes), 1 stream, 100 B', floors: ['floor.ws.stream.1.100B'] },
    { title: 'floor: bare ws send → receive (two processes), 1 stream, 4 KiB', floors: ['floor.ws.stream.1.4KiB'] },
  );
  return out;
}

/** Every figure key a run with these parameters must produce. */
export function expectedKeys(params: BenchParams): string[] {
  const keys = new Set<string>();
  for (const row of rows(params)) for (const key of [row.chute, row.bullmq, ...(row.floors ?? [])]) if (key) keys.add(key);
  return [...keys].sort();
}

const fmt = (n: number): string => (Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en') : n >= 10 ? n.toFixed(1) : n.toFixed(2));

function cell(figure: Figure | undefined, name?: string): string {
  if (!figure) return '—';
  const lost = figure.lost ? ` (${figure.lost.toLocaleString('en')} events lost)` : '';
  const by = name ? ` (${name})` : '';
  if (figure.kind === 'latency') return `${fmt(figure.p50)} / ${fmt(figure.p99)} / ${fmt(figure.p999)} ms${by}${lost}`;
  return `${fmt(figure.value)} ${figure.unit}${by}${lost}`;
}

function ratio(a: Figure | undefined, b: Figure | undefined): string {
  if (!a || !b) return '—';
  if (a.kind === 'latency' && b.kind === 'latency') return [a.p50 / b.p50, a.p99 / b.p99, a.p999 / b.p999].map((r) => `${r.toFixed(2)}×`).join(' / ');
  if (a.kind === 'value' && b.kind === 'value') return `${(a.value / b.value).toFixed(2)}×`;
  return '—';
}

const FLOOR_NAMES: Record<string, string> = { kafkajs: 'kafkajs', platformatic: '@platformatic/kafka', ws: 'ws' };

/** The fastest of the floors: lowest p50 for a latency, highest value for a rate. */
function bestFloor(results: Results, keys: string[] | undefined): { figure: Figure | undefined; name: string | undefined } {
  let best: { figure: Figure | undefined; name: string | undefined } = { figure: undefined, name: undefined };
  for (const key of keys ?? []) {
    const f = results.figures[key];
    if (!f) continue;
    const b = best.figure;
    const better = !b || (f.kind === 'latency' ? f.p50 < (b as LatencyFigure).p50 : f.kind === 'value' && b.kind === 'value' && f.value > b.value);
    if (better) best = { figure: f, name: keys!.length > 1 ? FLOOR_NAMES[key.split('.')[1]!] : undefined };
  }
  return best;
}

/** The side-by-side table in Markdown. Latency cells are p50 / p99 / p99.9. */
export function table(results: Results, params: BenchParams): string {
  const lines = [
    '| figure | Chute | floor | BullMQ | Chute ÷ floor | Chute ÷ BullMQ |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const row of rows(params)) {
    const chute = row.chute ? results.figures[row.chute] : undefined;
    const floor = bestFloor(results, row.floors);
    const bullmq = row.bullmq ? results.figures[row.bullmq] : undefined;
    lines.push(`| ${row.title} | ${row.chute ? cell(chute) : ''} | ${row.floors ? cell(floor.figure, floor.name) : ''} | ${row.bullmq ? cell(bullmq) : ''} | ${ratio(chute, floor.figure)} | ${ratio(chute, bullmq)} |`);
  }
  return lines.join('\n');
}
