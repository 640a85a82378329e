// The whole `npm run bench` end to end with tiny parameters, on the real broker,
// PostgreSQL and a redis-server it starts itself: every figure of the
// side-by-side report is in the JSON, the table and the chart are written, and
// every helper process it started (Redis, BullMQ's worker, the ws floor's
// server) is gone when it ends. Figures are not judged here: tiny runs on a
// shared machine say nothing about speed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { processAlive, repoRoot, requireEnv } from '@chute/testing';
import { readParams } from './params';
import { expectedKeys } from './report';
import type { Figure } from './results';

const TINY: Record<string, string> = {
  CHUTE_BENCH_CLIENTS: '4,8',
  CHUTE_BENCH_RUNS_PER_CLIENT: '5',
  CHUTE_BENCH_OPEN_LOOP_SECONDS: '1',
  CHUTE_BENCH_SAMPLES: '20',
  CHUTE_BENCH_STREAMS: '10',
  CHUTE_BENCH_STREAM_SECONDS: '1',
  CHUTE_BENCH_LLM_STREAMS: '5',
  CHUTE_BENCH_LLM_SECONDS: '1',
  CHUTE_BENCH_BURST_CHUNKS: '200',
  CHUTE_BENCH_CROWD: '20',
  CHUTE_BENCH_TAKEOVER_RUNS: '1000',
  CHUTE_BENCH_REST_SECONDS: '1',
  CHUTE_BENCH_PEER_SECONDS: '1',
  CHUTE_BENCH_SDK_CLIENTS: '4',
  CHUTE_BENCH_SDK_RUNS: '20',
  CHUTE_BENCH_PY_STREAM_CHUNKS: '20',
  CHUTE_BENCH_PY_RUNS: '40',
  CHUTE_BENCH_PY_START_SECONDS: '2',
};

test('npm run bench with tiny parameters writes every figure of the side-by-side report and stops everything it started', { timeout: 300_000 }, async () => {
  requireEnv('CHUTE_KAFKA_BROKERS');
  const outDir = mkdtempSync(join(tmpdir(), 'chute-bench-smoke-'));
  // Its own temp dir, so what the bench leaves behind (Redis's files) is visible here.
  const temp = mkdtempSync(join(tmpdir(), 'chute-bench-smoke-tmp-'));
  try {
    const env = { ...process.env, ...TINY, CHUTE_BENCH_OUT_DIR: outDir, TMPDIR: temp };
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'main.ts')], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.equal(code, 0, `the bench failed:\n${output.slice(-4000)}`);

    const json = JSON.parse(readFileSync(join(outDir, 'results.json'), 'utf8')) as { figures: Record<string, Figure>; versions: Record<string, string> };
    const keys = expectedKeys({ ...withEnv(TINY), outDir });
    const missing = keys.filter((key) => !json.figures[key]);
    assert.deepEqual(missing, [], 'figures missing from results.json');
    for (const key of keys) {
      const figure = json.figures[key]!;
      const numbers = figure.kind === 'latency' ? [figure.p50, figure.p99, figure.p999] : [figure.value];
      assert.ok(numbers.every((n) => Number.isFinite(n) && n >= 0), `${key} holds a number: ${JSON.stringify(figure)}`);
      if (figure.kind === 'latency') assert.ok(figure.n > 0, `${key} has samples`);
    }
    assert.notEqual(json.versions['redis-server'], 'not run');

    const markdown = readFileSync(join(outDir, 'results.md'), 'utf8');
    assert.match(markdown, /^\| figure \| Chute \| floor \| BullMQ \|/);
    const svg = readFileSync(join(outDir, 'latency.svg'), 'utf8');
    assert.match(svg, /^<svg[^>]*>/);
    assert.match(svg, /BullMQ, progress event/);

    const started = [...output.matchAll(/^bench: started (.+) pid (\d+)$/gm)].map((m) => ({ name: m[1]!, pid: Number(m[2]) }));
    assert.deepEqual([...new Set(started.map((s) => s.name))].sort(), ['bullmq worker', 'redis-server', 'ws floor server']);
    assert.deepEqual(started.filter((s) => processAlive(s.pid)), [], 'helper processes still running after the bench');
    assert.deepEqual(readdirSync(temp).filter((f) => f.startsWith('chute-bench-redis-')), [], "Redis's files removed");
  } finally {
    rmSync(outDir, { recursive: true, force: true });
    rmSync(temp, { recursive: true, force: true });
  }
});

/** The parameters the bench reads from `env`. */
function withEnv(env: Record<string, string>): ReturnType<typeof readParams> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    return readParams();
  } finally {
    for (const key of Object.keys(env)) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  }
}
