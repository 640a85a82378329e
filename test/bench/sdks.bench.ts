// Benchmark: what a waited `run()` costs the program that calls it, in each of
// the SDKs (TypeScript, Python, Go, Ruby), against the whole platform with auth
// on. Each SDK's own load script runs as a process of its own, one after the
// other (never two at once: 2 cores), and prints one JSON line: runs/s, its own
// CPU per run and its latency percentiles. Figures, not assertions.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { Platform, repoRoot } from '@chute/testing';
import { NO_TRIGGER_LIMIT, type BenchParams } from './params';
import { SDKS, type SdkLang } from './report';
import type { Results } from './results';
import { CURVE_PERCENTILES, ms, report, type Latency } from './stats';
import { reportWarnings } from './warnings';

/** The one JSON line every SDK's load script prints (libs/sdk-go/bench/runloop, libs/sdk-ruby/bench/run_loop.rb, ...). */
export const RunLoopReport = z.object({
  runs: z.number().int().positive(),
  seconds: z.number().positive(),
  runsPerSecond: z.number().nonnegative(),
  clientCpuMsPerRun: z.number().nonnegative(),
  latencyMs: z.object({ p50: z.number().nonnegative(), p95: z.number().nonnegative(), p99: z.number().nonnegative() }),
});
export type RunLoopReport = z.infer<typeof RunLoopReport>;

/** The task every load script runs: the platform's worker serves it (services/worker/src/tasks.ts). */
const TASK = 'noop';

/** A program to run: its executable, arguments and working directory. */
export interface Command {
  command: string;
  args: string[];
  cwd: string;
}

/** How to start each SDK's load script; `goBinary` is the Go one, built beforehand. */
function loopCommand(lang: SdkLang, goBinary: string, clients: number, runs: number): Command {
  const cli = ['--clients', String(clients), '--runs', String(runs), '--task', TASK];
  switch (lang) {
    case 'typescript':
      return { command: process.execPath, args: ['--import', 'tsx', join(__dirname, 'sdk-run-loop.ts'), ...cli], cwd: repoRoot };
    case 'python':
      return { command: '.venv/bin/python', args: ['bench/run_loop.py', ...cli], cwd: join(repoRoot, 'libs/sdk-python') };
    case 'go':
      return { command: goBinary, args: cli.map((a) => a.replace(/^--/, '-')), cwd: join(repoRoot, 'libs/sdk-go') };
    case 'ruby':
      // The script puts its own lib/ on the load path.
      return { command: 'ruby', args: ['bench/run_loop.rb', ...cli], cwd: join(repoRoot, 'libs/sdk-ruby') };
    default: {
      const _exhaustive: never = lang;
      throw new Error(`unknown SDK ${String(_exhaustive)}`);
    }
  }
}

/** Children still running: killed if the bench exits (Ctrl-C) before they end. */
const live = new Set<ReturnType<typeof spawn>>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * Runs `command` to its end and returns what it printed; fails with its
 * stderr if it cannot start, exits non-zero or outlives `deadlineMs`.
 */
export function runToEnd(name: string, { command, args, cwd }: Command, env: Record<string, string>, deadlineMs: number): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      stderr += `\n(killed: still running after ${deadlineMs / 1000} s)`;
      child.kill('SIGKILL');
    }, deadlineMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      live.delete(child);
      reject(new Error(`${name}: could not start ${command} in ${cwd}: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${name}: ${[command, ...args].join(' ')} exited with ${code ?? signal}:\n${stderr.slice(-4000)}`));
    });
  });
}

/** The load script's JSON line: the last line of its stdout that parses as one. */
function reportOf(name: string, stdout: string, stderr: string): RunLoopReport {
  for (const line of stdout.trim().split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    try {
      return RunLoopReport.parse(JSON.parse(line));
    } catch (error) {
      throw new Error(`${name}: its JSON line does not match the load scripts' format (${String(error)}): ${line}`);
    }
  }
  throw new Error(`${name}: printed no JSON line.\nstdout:\n${stdout.slice(-2000)}\nstderr:\n${stderr.slice(-4000)}`);
}

/**
 * The script's latency percentiles as a Latency. The scripts give p50, p95 and
 * p99 only: p99.9 and max are their p99 (the figure's label says so), and the
 * curve holds only the percentiles they give.
 */
function latencyOf(r: RunLoopReport): Latency {
  const { p50, p95, p99 } = r.latencyMs;
  const given = new Map<number, number>([[50, p50], [95, p95], [99, p99]]);
  return { n: r.runs, p50, p95, p99, p999: p99, max: p99, curve: CURVE_PERCENTILES.filter((p) => given.has(p)).map((p) => [p, given.get(p)!]) };
}

/** Builds the Go SDK's load script once, so its compile time counts nowhere (`go run` would build it on every start). */
async function buildGoLoop(dir: string): Promise<string> {
  const binary = join(dir, 'runloop');
  await runToEnd('go build', { command: 'go', args: ['build', '-o', binary, './bench/runloop'], cwd: join(repoRoot, 'libs/sdk-go') }, {}, 300_000);
  return binary;
}

export async function sdksBench(results: Results, params: BenchParams): Promise<void> {
  const clients = params.sdkClients;
  const runs = params.sdkRuns;
  const buildDir = mkdtempSync(join(tmpdir(), 'chute-bench-sdk-go-'));
  try {
    // Before the platform starts: the compiler's CPU does not share the cores with anything measured.
    const goBinary = await buildGoLoop(buildDir);
    const platform = await Platform.start({
      // As users run it: every request carries a token the gateway verifies.
      auth: true,
      workers: 1,
      env: { CHUTE_WORKER_SLOTS: '2000', ...NO_TRIGGER_LIMIT },
    });
    try {
      const env = { CHUTE_GATEWAY_URL: platform.gatewayUrl, CHUTE_TOKEN: await platform.token('default', ['runs:write', 'runs:read']) };
      // Far past any SDK's pace (10 runs/s, plus start-up): a loop still running by then is stuck, not slow.
      const deadlineMs = 120_000 + 100 * runs;
      for (const [lang, name] of Object.entries(SDKS) as [SdkLang, string][]) {
        const { stdout, stderr } = await runToEnd(`the ${name} SDK's load script`, loopCommand(lang, goBinary, clients, runs), env, deadlineMs);
        const r = reportOf(`the ${name} SDK's load script`, stdout, stderr);
        const loop = `${clients} concurrent clients, ${r.runs} runs`;
        const rateLabel = `no-op runs/s through the ${name} SDK's waited run(), closed loop (${loop})`;
        const cpuLabel = `${name} SDK: the calling process's CPU (user+system) per waited run(), closed loop (${loop})`;
        const latencyLabel = `${name} SDK: run() called -> result, closed loop (${loop}; the script gives p50/p95/p99 only: p99.9 and max are its p99)`;
        results.value(`chute.sdk.${lang}.runs`, 'chute', rateLabel, r.runsPerSecond, 'runs/s');
        results.value(`chute.sdk.${lang}.cpu`, 'chute', cpuLabel, r.clientCpuMsPerRun, 'ms');
        results.latency(`chute.sdk.${lang}.latency`, 'chute', latencyLabel, latencyOf(r));
        report(rateLabel, r.runsPerSecond.toFixed(0));
        report(`${name} SDK client CPU per run (closed loop, ${clients} clients)`, `${r.clientCpuMsPerRun.toFixed(3)} ms`);
        const { p50, p95, p99 } = r.latencyMs;
        report(`${name} SDK run() -> result (closed loop, ${clients} clients)`, `p50 ${ms(p50)}, p95 ${ms(p95)}, p99 ${ms(p99)} (n ${r.runs})`);
      }
    } finally {
      await platform.stop();
      reportWarnings(platform);
    }
  } finally {
    rmSync(buildDir, { recursive: true, force: true });
  }
}
