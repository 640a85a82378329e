// What a waited run costs the calling process, through the TypeScript SDK: the
// same load script as the Python, Go and Ruby SDKs' (their bench/run_loop), so
// the sdks benchmark measures each in a process of its own. Completes --runs
// runs of --task (input {}) with --clients concurrent callers of `task.run()`,
// and prints one JSON line:
//
//   {"runs":N,"seconds":s,"runsPerSecond":r,"clientCpuMsPerRun":c,"latencyMs":{"p50":..,"p95":..,"p99":..}}
//
// clientCpuMsPerRun is this process's user+system CPU during the measured runs,
// divided by their number. A warm-up of min(runs, 2*clients) runs comes first,
// unmeasured, so connections are open and the code is warm. The gateway and
// token come from CHUTE_GATEWAY_URL and CHUTE_TOKEN. A failed run ends the
// program with status 1 and the error on stderr: a figure over failed runs
// would measure something else.
//
//   node --import tsx test/bench/sdk-run-loop.ts --clients 8 --runs 2000 --task noop
import { parseArgs } from 'node:util';
import { Chute, type Task } from '@chute/sdk';
import { pool } from './pool';
import type { RunLoopReport } from './sdks.bench';
import { percentile } from './stats';

type AnyTask = Task<Record<string, never>, unknown>;

function positiveOption(name: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`--${name} must be an integer of at least 1, got "${raw}"`);
  return value;
}

/** Completes `count` runs with `clients` concurrent callers; each run's latency in ms. */
function loop(task: AnyTask, clients: number, count: number): Promise<number[]> {
  return pool(Array.from({ length: count }), clients, async () => {
    const began = performance.now();
    await task.run({});
    return performance.now() - began;
  });
}

const round = (value: number, places: number): number => Number(value.toFixed(places));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { clients: { type: 'string', default: '1' }, runs: { type: 'string', default: '1000' }, task: { type: 'string', default: 'noop' } },
  });
  const clients = positiveOption('clients', values.clients);
  const runs = positiveOption('runs', values.runs);
  // Only the name matters here: the function runs on whichever worker serves the task.
  const task: AnyTask = Chute.init().task({ name: values.task, fn: () => undefined });

  await loop(task, clients, Math.min(runs, 2 * clients));
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const latencies = await loop(task, clients, runs);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);

  const report: RunLoopReport = {
    runs,
    seconds: round(seconds, 6),
    runsPerSecond: round(runs / seconds, 1),
    clientCpuMsPerRun: round((cpu.user + cpu.system) / 1000 / runs, 4),
    latencyMs: { p50: round(percentile(latencies, 50), 3), p95: round(percentile(latencies, 95), 3), p99: round(percentile(latencies, 99), 3) },
  };
  console.log(JSON.stringify(report));
}

// Exits at once either way: the client's keep-alive sockets would otherwise hold the process open.
main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error('sdk-run-loop:', error);
    process.exit(1);
  },
);
