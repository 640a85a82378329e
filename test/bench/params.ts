// The bench's parameters, read once from the environment. The defaults are the
// full run (under 15 minutes on 2 cores); the smoke test sets tiny ones.
import { resolve } from 'node:path';

/** A positive integer from the environment, or `fallback`; a bad value stops the run with a clear message. */
function positive(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

function list(name: string, fallback: number[]): number[] {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const values = raw.split(',').map((s) => Number(s.trim()));
  if (values.some((v) => !Number.isInteger(v) || v < 1)) throw new Error(`${name} must be a comma-separated list of positive integers, got "${raw}"`);
  return values;
}

export interface BenchParams {
  /** Concurrent clients of each closed-loop runs/jobs measurement. @default [100, 400] */
  clients: number[];
  /** Runs (jobs) each closed-loop client completes per measurement. @default 25 */
  runsPerClient: number;
  /** Seconds of each open-loop measurement at 100 runs (jobs) per second. @default 20 */
  openLoopSeconds: number;
  /** Chunks (progress events, messages) of each 1-stream latency measurement, one per 20 ms. @default 500 */
  samples: number;
  /** Concurrent streams of the many-streams latency measurement, each at 5 chunks/s. @default 1000 */
  streams: number;
  /** Seconds the many-streams measurement streams for. @default 5 */
  streamSeconds: number;
  /** Concurrent streams of the LLM-shaped measurement, each at 20 chunks/s to its WebSocket subscriber. @default 1000 */
  llmStreams: number;
  /** Seconds the LLM-shaped measurement streams for. @default 30 */
  llmSeconds: number;
  /** Chunks each of the 4 streams of the throughput measurement puts. @default 25000 (100 B), a fifth of it at 4 KiB */
  burstChunks: number;
  /** WebSocket subscribers of the idle-then-active measurement (5 per run). @default 10000 */
  crowd: number;
  /** Finished runs in the history of the takeover measurement. @default 1000000 */
  takeoverRuns: number;
  /** Seconds each process's CPU is measured for with no runs at all. @default 20 */
  restSeconds: number;
  /** Concurrent callers of `run()` in each SDK's load script (the Hatchet comparison uses 100 concurrent aio_run clients). @default 100 */
  sdkClients: number;
  /** Waited runs each SDK's load script measures, after its warm-up. @default 3000 */
  sdkRuns: number;
  /** Chunks of the measured stream of the Python SDK's Hatchet workloads (python-peer.bench.ts), 20 ms apart. @default 500 */
  pyStreamChunks: number;
  /** Closed-loop no-op runs of the Python SDK's Hatchet workloads, by 100 concurrent `aio_run` clients. @default 2000 */
  pyRuns: number;
  /** Seconds of the Python SDK's open-loop workload at 20 runs/s (trigger -> task start). @default 20 */
  pyStartSeconds: number;
  /** Seconds each of BullMQ's closed-loop measurements lasts. @default 10 */
  peerSeconds: number;
  /** BullMQ worker concurrency for its no-op job measurements (its docs' example is 50). @default 50 */
  bullmqConcurrency: number;
  /** Where the JSON results and the SVG chart are written. @default test/bench/results */
  outDir: string;
  /** When set, every service of the runs benchmark writes a V8 CPU profile (`--cpu-prof`) here as it stops. */
  cpuProfDir: string | undefined;
}

export function readParams(): BenchParams {
  return {
    clients: list('CHUTE_BENCH_CLIENTS', [100, 400]),
    runsPerClient: positive('CHUTE_BENCH_RUNS_PER_CLIENT', 25),
    openLoopSeconds: positive('CHUTE_BENCH_OPEN_LOOP_SECONDS', 20),
    samples: positive('CHUTE_BENCH_SAMPLES', 500),
    streams: positive('CHUTE_BENCH_STREAMS', 1000),
    streamSeconds: positive('CHUTE_BENCH_STREAM_SECONDS', 5),
    llmStreams: positive('CHUTE_BENCH_LLM_STREAMS', 1000),
    llmSeconds: positive('CHUTE_BENCH_LLM_SECONDS', 30),
    burstChunks: positive('CHUTE_BENCH_BURST_CHUNKS', 25_000),
    crowd: positive('CHUTE_BENCH_CROWD', 10_000),
    takeoverRuns: positive('CHUTE_BENCH_TAKEOVER_RUNS', 1_000_000),
    restSeconds: positive('CHUTE_BENCH_REST_SECONDS', 20),
    peerSeconds: positive('CHUTE_BENCH_PEER_SECONDS', 10),
    bullmqConcurrency: positive('CHUTE_BENCH_BULLMQ_CONCURRENCY', 50),
    sdkClients: positive('CHUTE_BENCH_SDK_CLIENTS', 100),
    sdkRuns: positive('CHUTE_BENCH_SDK_RUNS', 3000),
    pyStreamChunks: positive('CHUTE_BENCH_PY_STREAM_CHUNKS', 500),
    pyRuns: positive('CHUTE_BENCH_PY_RUNS', 2000),
    pyStartSeconds: positive('CHUTE_BENCH_PY_START_SECONDS', 20),
    outDir: process.env['CHUTE_BENCH_OUT_DIR'] || 'test/bench/results',
    cpuProfDir: process.env['CHUTE_BENCH_CPU_PROF_DIR'] || undefined,
  };
}

/** The gateway's per-token trigger limit (6,000 a minute by default) lifted: the bench measures capacity, not the limiter. */
export const NO_TRIGGER_LIMIT = { CHUTE_RATE_LIMIT_TRIGGERS_PER_MINUTE: '100000000' };

/** The node arguments that make a service write a CPU profile into `dir` when it exits. */
export function cpuProfileArgs(dir: string | undefined): string[] {
  // Every 5 ms rather than V8's 1 ms: on 2 cores the profiler's own cost at 1 ms shows in every figure.
  return dir ? ['--cpu-prof', '--cpu-prof-interval=5000', `--cpu-prof-dir=${resolve(dir)}`] : [];
}
