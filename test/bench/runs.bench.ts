// Benchmark: no-op runs through the whole platform (gateway -> scheduler ->
// worker -> projector -> gateway), the services as separate processes on the
// real broker and PostgreSQL. Figures, not assertions: these machines are noisy.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Chute, type Task } from '@chute/sdk';
import { Platform } from '@chute/testing';
import { cpuPerUnit, infraPid, measureCpu, platformProcesses } from './cpu';
import { pool } from './pool';
import { recordBroker } from './broker-profile';
import { profileReport } from './profile';
import { reportWarnings } from './warnings';
import { cpuProfileArgs, NO_TRIGGER_LIMIT, type BenchParams } from './params';
import { REST_PROCESSES } from './report';
import type { Results } from './results';
import { percentiles, report, summary } from './stats';

interface Timing {
  triggeredAt: number;
  startedAt: number;
  completedAt: number;
}

/** What the worker's `clock` task returns: when its fn ran. */
type Clock = { at: number };

/** The SDK's handle of the `clock` task: a no-op that returns when it ran. */
type ClockTask = Task<Record<string, never>, Clock>;

/**
 * Runs the no-op through the SDK's `run()`, as a user does; times trigger ->
 * task start and trigger -> result from this machine's one clock.
 */
async function runOnce(task: ClockTask): Promise<Timing> {
  const triggeredAt = performance.timeOrigin + performance.now();
  const { at } = await task.run({});
  return { triggeredAt, startedAt: at, completedAt: performance.timeOrigin + performance.now() };
}

/** A client of the platform's gateway with a token for runs, as a user's app holds one. */
async function clockTask(platform: Platform): Promise<ClockTask> {
  const token = await platform.token('default', ['runs:write', 'runs:read']);
  // The same definition as the worker's (services/worker/src/tasks.ts); this process only triggers it.
  const fn = (): Clock => ({ at: performance.timeOrigin + performance.now() });
  return Chute.init({ gatewayUrl: platform.gatewayUrl, token }).task({ name: 'clock', fn });
}

/** The platform's processes by name, the broker and PostgreSQL. */
/** Every service's `chute_log_requests_total`, summed by API: the requests the platform sent the broker so far. */
async function brokerRequests(platform: Platform): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const authorization = `Bearer ${await platform.token('default', ['runs:read'])}`;
  for (const service of platform.processes) {
    const base = service.name === 'gateway' ? Platform.addressOf(service) : Platform.probesOf(service);
    const text = await (await fetch(`${base}/metrics`, { headers: { authorization } })).text();
    for (const [, api, value] of text.matchAll(/^chute_log_requests_total\{api="(\w+)"\} (\d+)$/gm)) {
      counts.set(api!, (counts.get(api!) ?? 0) + Number(value));
    }
  }
  return counts;
}

/** The broker requests per run from here on, by API, largest first. */
async function requestsPerRun(platform: Platform): Promise<{ stop(runs: number): Promise<{ total: number; text: string }> }> {
  const before = await brokerRequests(platform);
  return {
    stop: async (runs) => {
      const after = await brokerRequests(platform);
      const each = [...after].map(([api, n]) => [api, (n - (before.get(api) ?? 0)) / runs] as const).filter(([, n]) => n > 0);
      each.sort((a, b) => b[1] - a[1]);
      const total = each.reduce((sum, [, n]) => sum + n, 0);
      return { total, text: `${total.toFixed(1)} (${each.map(([api, n]) => `${api} ${n.toFixed(2)}`).join(', ')})` };
    },
  };
}

/** Closed loop: `clients` concurrent clients each trigger a run and wait for its result, until `total` runs. */
async function throughput(platform: Platform, clients: number, total: number, results?: Results): Promise<void> {
  const task = await clockTask(platform);
  const requests = results ? await requestsPerRun(platform) : undefined;
  const cpu = results ? cpuPerUnit(platform) : undefined;
  const started = performance.now();
  const timings = await pool(Array.from({ length: total }), clients, () => runOnce(task));
  const seconds = (performance.now() - started) / 1000;
  if (!cpu || !requests || !results) return;
  const used = cpu.stop(total);
  const sent = await requests.stop(total);
  const c = summary(timings.map((t) => t.completedAt - t.triggeredAt));
  const s = summary(timings.map((t) => t.startedAt - t.triggeredAt));
  const rateLabel = `no-op runs/s, closed loop (${clients} concurrent HTTP clients, ${total} runs)`;
  results.value(`chute.runs.${clients}`, 'chute', rateLabel, total / seconds, 'runs/s');
  results.latency(`chute.runs.${clients}.completed`, 'chute', `trigger->completed, closed loop, ${clients} clients`, c);
  results.latency(`chute.runs.${clients}.start`, 'chute', `trigger->task start, closed loop, ${clients} clients`, s);
  results.value(`chute.runs.${clients}.cpu`, 'chute', `CPU per run summed over all processes, closed loop, ${clients} clients`, used.total, 'ms', { detail: used.text });
  results.value(`chute.runs.${clients}.requests`, 'chute', `Kafka requests per run, closed loop, ${clients} clients`, sent.total, 'requests', { detail: sent.text });
  report(rateLabel, (total / seconds).toFixed(0));
  report(`trigger->completed (closed loop, ${clients} clients)`, percentiles(c));
  report(`trigger->task start (closed loop, ${clients} clients)`, percentiles(s));
  report(`CPU per run (closed loop, ${clients} clients)`, used.text);
  report(`Kafka requests per run (closed loop, ${clients} clients)`, sent.text);
}

/** Open loop at a fixed rate: trigger->task start at `rate` runs/s for `seconds`. */
async function startLatencyAtRate(platform: Platform, rate: number, seconds: number, results?: Results): Promise<void> {
  const task = await clockTask(platform);
  const pending: Promise<Timing>[] = [];
  const interval = 1000 / rate;
  const requests = results ? await requestsPerRun(platform) : undefined;
  const begin = performance.now();
  const cpu = results ? cpuPerUnit(platform) : undefined;
  for (let i = 0; i < rate * seconds; i++) {
    const due = begin + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    pending.push(runOnce(task));
  }
  const timings = await Promise.all(pending);
  if (!cpu || !requests || !results) return;
  const used = cpu.stop(timings.length);
  const sent = await requests.stop(timings.length);
  const s = summary(timings.map((t) => t.startedAt - t.triggeredAt));
  const c = summary(timings.map((t) => t.completedAt - t.triggeredAt));
  const startLabel = `trigger->task start at ${rate} runs/s (open loop, ${s.n} runs)`;
  results.latency(`chute.start.${rate}`, 'chute', startLabel, s);
  results.latency(`chute.start.${rate}.completed`, 'chute', `trigger->completed at ${rate} runs/s (open loop)`, c);
  results.value(`chute.start.${rate}.cpu`, 'chute', `CPU per run summed over all processes at ${rate} runs/s`, used.total, 'ms', { detail: used.text });
  results.value(`chute.start.${rate}.requests`, 'chute', `Kafka requests per run at ${rate} runs/s`, sent.total, 'requests', { detail: sent.text });
  report(startLabel, percentiles(s));
  report(`trigger->completed at ${rate} runs/s (open loop)`, percentiles(c));
  report(`CPU per run at ${rate} runs/s`, used.text);
  report(`Kafka requests per run at ${rate} runs/s`, sent.text);
}

/**
 * CPU per second of each process with no runs at all: what an idle platform
 * costs (consumers polling, heartbeats, the scheduler's ticks, checkpoints).
 */
async function cpuAtRest(platform: Platform, results: Results, seconds: number): Promise<void> {
  // What the warm-up left (the projector's lag, a checkpoint due) settles first.
  await sleep(3000);
  const cpu = measureCpu(platformProcesses(platform));
  await sleep(seconds * 1000);
  const used = cpu.stop();
  for (const [name, ms] of Object.entries(used)) results.value(`chute.rest.${name}`, 'chute', `CPU at rest: ${name}`, ms / seconds, 'ms/s');
  const order = [...REST_PROCESSES, 'broker', 'postgres'];
  report(
    `CPU at rest, ms per second over ${seconds} s`,
    order.filter((name) => used[name] !== undefined).map((name) => `${name} ${(used[name]! / seconds).toFixed(1)}`).join(', '),
  );
}

export async function runsBench(results: Results, params: BenchParams): Promise<void> {
  const platform = await Platform.start({
    // As users run it: every request carries a token the gateway verifies.
    auth: true,
    workers: 1,
    env: { CHUTE_WORKER_SLOTS: String(Math.max(2000, ...params.clients)), ...NO_TRIGGER_LIMIT },
    nodeArgs: cpuProfileArgs(params.cpuProfDir),
  });
  const brokerPid = infraPid('kafka');
  const broker = params.cpuProfDir && brokerPid ? recordBroker(brokerPid, params.cpuProfDir) : undefined;
  let brokerReport = '';
  try {
    // Warm-up, not reported: the broker's JVM and the services' JIT reach
    // steady state (the first seconds run several times slower).
    await throughput(platform, 50, Math.min(3000, 50 * params.runsPerClient * 2));
    await cpuAtRest(platform, results, params.restSeconds);
    await startLatencyAtRate(platform, 100, Math.min(5, params.openLoopSeconds));
    await startLatencyAtRate(platform, 100, params.openLoopSeconds, results);
    for (const clients of params.clients) await throughput(platform, clients, clients * params.runsPerClient, results);
  } finally {
    try {
      if (broker) brokerReport = `## broker (pid ${brokerPid}, Java Flight Recorder)\n\n${broker.stop()}\n`;
    } finally {
      // Whatever the profile did, the platform stops: its processes are this bench's to stop.
      await platform.stop();
      reportWarnings(platform);
    }
  }
  if (params.cpuProfDir) {
    // The services wrote their profiles as they stopped: they cover the whole benchmark, warm-up and rest included.
    const file = join(params.outDir, 'profiles.md');
    mkdirSync(params.outDir, { recursive: true });
    const services = profileReport(platform.processes, params.cpuProfDir);
    writeFileSync(file, `# Where the CPU went during the runs benchmark\n\n${services}\n${brokerReport}`);
    console.log(`bench: wrote ${file} from the profiles in ${params.cpuProfDir}`);
  }
}
