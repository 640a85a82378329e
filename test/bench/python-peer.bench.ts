// Benchmark: Hatchet's own Python-SDK workloads (stream, runs, start) on Chute
// through Chute's Python SDK, against the whole platform with auth on, to stand
// beside Hatchet's figures for the same workloads (hatchet-reference.ts). The
// script libs/sdk-python/bench/hatchet_workloads.py starts its own Python worker
// (serving its own tasks over the gateway's worker protocol), runs the three
// workloads and prints one JSON line. Figures, not assertions.
import { join } from 'node:path';
import { z } from 'zod';
import { Platform, repoRoot } from '@chute/testing';
import { HATCHET_REFERENCE, versusHatchet } from './hatchet-reference';
import { NO_TRIGGER_LIMIT, type BenchParams } from './params';
import type { Results } from './results';
import { runToEnd } from './sdks.bench';
import { CURVE_PERCENTILES, ms, report, type Latency } from './stats';
import { reportWarnings } from './warnings';

const Distribution = z.object({ p50: z.number().nonnegative(), p95: z.number().nonnegative(), p99: z.number().nonnegative(), n: z.number().int().nonnegative() });
type Distribution = z.infer<typeof Distribution>;

/** The JSON line hatchet_workloads.py prints: latencies in ms, CPU in ms per run. */
export const HatchetWorkloadsReport = z.object({
  stream: Distribution,
  runs: z.object({
    runsPerSecond: z.number().positive(),
    p50: z.number().nonnegative(),
    p99: z.number().nonnegative(),
    machineCpuMsPerRun: z.number().nonnegative(),
    clientCpuMsPerRun: z.number().nonnegative(),
    workerCpuMsPerRun: z.number().nonnegative(),
  }),
  start: Distribution,
});
export type HatchetWorkloadsReport = z.infer<typeof HatchetWorkloadsReport>;

const SCRIPT = 'hatchet_workloads.py';

/** The script's JSON line: the last line of its stdout that parses as one. */
function reportOf(stdout: string, stderr: string): HatchetWorkloadsReport {
  for (const line of stdout.trim().split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    try {
      return HatchetWorkloadsReport.parse(JSON.parse(line));
    } catch (error) {
      throw new Error(`${SCRIPT}: its JSON line does not match HatchetWorkloadsReport (${String(error)}): ${line}`);
    }
  }
  throw new Error(`${SCRIPT} printed no JSON line.\nstdout:\n${stdout.slice(-2000)}\nstderr:\n${stderr.slice(-4000)}`);
}

/**
 * The script's percentiles as a Latency. It gives p50, p95 and p99 only, as
 * Hatchet's script does: p99.9 and max are its p99 (the labels say so), and
 * the curve holds only the percentiles it gives.
 */
function latencyOf({ p50, p95, p99, n }: Distribution): Latency {
  const given = new Map<number, number>([[50, p50], [95, p95], [99, p99]]);
  return { n, p50, p95, p99, p999: p99, max: p99, curve: CURVE_PERCENTILES.filter((p) => given.has(p)).map((p) => [p, given.get(p)!]) };
}

export async function pythonPeerBench(results: Results, params: BenchParams): Promise<void> {
  const hatchet = HATCHET_REFERENCE;
  const chunks = params.pyStreamChunks;
  const runs = params.pyRuns;
  const { clients } = hatchet.runs;
  const rate = hatchet.start.ratePerSecond;
  const seconds = params.pyStartSeconds;
  const platform = await Platform.start({
    // As users run it: every request, the worker's connection included, carries a token the gateway verifies.
    auth: true,
    workers: 1,
    env: { ...NO_TRIGGER_LIMIT },
  });
  try {
    // The script is a consumer (trigger, wait, read streams) and its own worker's host (`workers`).
    const token = await platform.token('default', ['runs:write', 'runs:read', 'stream:read', 'workers']);
    const env = { CHUTE_GATEWAY_URL: platform.gatewayUrl, CHUTE_TOKEN: token };
    const command = {
      command: '.venv/bin/python',
      args: [`bench/${SCRIPT}`, '--stream-chunks', String(chunks), '--runs', String(runs), '--clients', String(clients), '--rate', String(rate), '--seconds', String(seconds)],
      cwd: join(repoRoot, 'libs/sdk-python'),
    };
    // Far past any sane pace (10 runs/s, the warm-ups, the worker's start): a script still running by then is stuck, not slow.
    const deadlineMs = 180_000 + 2 * 20 * chunks + 100 * (runs + 200) + 2_000 * seconds;
    const { stdout, stderr } = await runToEnd(SCRIPT, command, env, deadlineMs);
    const r = reportOf(stdout, stderr);

    const streamLabel = `Python SDK, Hatchet's stream workload: ctx.aio_put_stream -> runs.subscribe_to_stream (SSE), 1 stream, ${chunks} chunks 20 ms apart (the script gives p50/p95/p99 only: p99.9 and max are its p99)`;
    const lost = Math.max(0, chunks - r.stream.n);
    results.latency('chute.python.stream', 'chute', streamLabel, latencyOf(r.stream), { lost });
    const loop = `${clients} concurrent clients, ${runs} runs`;
    const cpu = `machine ${r.runs.machineCpuMsPerRun.toFixed(2)} ms, the script (client) ${r.runs.clientCpuMsPerRun.toFixed(2)} ms, its Python worker ${r.runs.workerCpuMsPerRun.toFixed(2)} ms`;
    const detail = `aio_run() -> result p50 ${ms(r.runs.p50)}, p99 ${ms(r.runs.p99)}; CPU per run: ${cpu}`;
    results.value('chute.python.runs', 'chute', `Python SDK, Hatchet's runs workload: no-op runs/s through await task.aio_run(), closed loop (${loop})`, r.runs.runsPerSecond, 'runs/s', { detail });
    results.value('chute.python.runs.cpu', 'chute', `Python SDK, Hatchet's runs workload: the machine's busy CPU (/proc/stat: total - idle - iowait) per run, closed loop (${loop})`, r.runs.machineCpuMsPerRun, 'ms', {
      detail: cpu,
    });
    const startLabel = `Python SDK, Hatchet's start workload: trigger -> task start (the task's time.time_ns()), open loop at ${rate} runs/s for ${seconds} s (the script gives p50/p95/p99 only: p99.9 and max are its p99)`;
    results.latency(`chute.python.start.${rate}`, 'chute', startLabel, latencyOf(r.start));

    const versus = `Hatchet ${hatchet.date}`;
    const s = r.stream;
    report(
      `Python SDK put_stream -> subscribe_to_stream, 1 stream (${chunks} chunks, 20 ms apart)`,
      `Chute p50 ${ms(s.p50)}, p95 ${ms(s.p95)}, p99 ${ms(s.p99)} (received ${s.n}/${chunks}); ${versus} p50 ${ms(hatchet.stream.p50)}, p95 ${ms(hatchet.stream.p95)}, p99 ${ms(hatchet.stream.p99)}; Chute ÷ Hatchet ${versusHatchet(s.p50, hatchet.stream.p50)} / ${versusHatchet(s.p95, hatchet.stream.p95)} / ${versusHatchet(s.p99, hatchet.stream.p99)}`,
    );
    report(
      `Python SDK no-op runs/s (${clients} concurrent aio_run clients, ${runs} runs)`,
      `Chute ${r.runs.runsPerSecond.toFixed(0)}; ${versus} ${hatchet.runs.runsPerSecond}; Chute ÷ Hatchet ${versusHatchet(r.runs.runsPerSecond, hatchet.runs.runsPerSecond)} (Chute aio_run -> result p50 ${ms(r.runs.p50)}, p99 ${ms(r.runs.p99)})`,
    );
    report(
      `Python SDK machine CPU per run (${clients} clients, /proc/stat)`,
      `Chute ${r.runs.machineCpuMsPerRun.toFixed(2)} ms (the script ${r.runs.clientCpuMsPerRun.toFixed(2)} ms, its worker ${r.runs.workerCpuMsPerRun.toFixed(2)} ms); ${versus} ${hatchet.runs.machineCpuMsPerRun} ms; Chute ÷ Hatchet ${versusHatchet(r.runs.machineCpuMsPerRun, hatchet.runs.machineCpuMsPerRun)}`,
    );
    const t = r.start;
    report(
      `Python SDK trigger -> task start at ${rate}/s (open loop, ${seconds} s)`,
      `Chute p50 ${ms(t.p50)}, p95 ${ms(t.p95)}, p99 ${ms(t.p99)} (n ${t.n}); ${versus} p50 ${ms(hatchet.start.p50)}, p99 ${ms(hatchet.start.p99)}; Chute ÷ Hatchet ${versusHatchet(t.p50, hatchet.start.p50)} / ${versusHatchet(t.p99, hatchet.start.p99)}`,
    );
    report('Hatchet reference', hatchet.source);
  } finally {
    await platform.stop();
    reportWarnings(platform);
  }
}
