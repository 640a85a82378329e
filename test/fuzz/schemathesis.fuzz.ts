import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Platform } from '@chute/testing';

/**
 * `npm run test:fuzz`: schemathesis (`--checks all`) fuzzes every operation of
 * the gateway's OpenAPI document (/docs/json) against the whole platform, with
 * auth on. Every response must conform to the document: no 5xx, no
 * undocumented status, every error `{code, message}`, 401 without a token,
 * 405 with Allow for a method a path does not take.
 *
 * Left out: GET /api/v1/runs/{id}/stream, which holds its response open until
 * the run ends (the fuzzed runs are of tasks no worker serves: they never end).
 * The stream's hostile-input suites cover it.
 *
 * CHUTE_FUZZ_EXAMPLES sets the examples per operation and phase (default 100);
 * CHUTE_FUZZ_SEED the seed (default fixed, so CI is repeatable; `random` for a new one each run).
 */
const EXAMPLES = Number(process.env['CHUTE_FUZZ_EXAMPLES'] ?? 100);
const SEED = process.env['CHUTE_FUZZ_SEED'] ?? '20261125';
const STREAM_OPERATION = 'GET /api/v1/runs/{id}/stream';
/** A bound on the whole run, well past what it takes on 2 cores, so CI never hangs on it. */
const DEADLINE_MS = 15 * 60_000;

interface Outcome {
  exitCode: number | null;
  /** Requests schemathesis generated and sent (the test cases of its report), by operation. */
  requests: Map<string, number>;
  /** Scenarios that failed a check or errored, by operation. */
  failed: Map<string, number>;
}

/** Runs schemathesis to its end; its output goes to ours as it comes. */
async function fuzz(bin: string, args: readonly string[]): Promise<number | null> {
  const child = spawn(bin, [...args], { cwd: __dirname, stdio: ['ignore', 'inherit', 'inherit'], detached: true });
  const kill = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const deadline = setTimeout(() => {
    console.error(`fuzz: schemathesis still running after ${DEADLINE_MS / 60_000} min: killed`);
    kill();
  }, DEADLINE_MS);
  // Also when this process is stopped: schemathesis runs in its own process group.
  process.once('exit', kill);
  try {
    return await new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => resolve(code));
    });
  } finally {
    clearTimeout(deadline);
    process.off('exit', kill);
  }
}

/** Counts from schemathesis' NDJSON event report: each scenario's recorder holds its test cases and their interactions. */
function readReport(file: string): Pick<Outcome, 'requests' | 'failed'> {
  const requests = new Map<string, number>();
  const failed = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, n: number) => map.set(key, (map.get(key) ?? 0) + n);
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.includes('"ScenarioFinished"')) continue;
    const scenario = (JSON.parse(line) as { ScenarioFinished: { status: string; recorder: { label: string; interactions?: Record<string, unknown> } } })
      .ScenarioFinished;
    add(requests, scenario.recorder.label, Object.keys(scenario.recorder.interactions ?? {}).length);
    if (scenario.status === 'failure' || scenario.status === 'error') add(failed, scenario.recorder.label, 1);
  }
  return { requests, failed };
}

/** Every `$ref` in a document, with the JSON pointer it names (local refs only: the document is self-contained). */
function* refsOf(node: unknown, at = '#'): Generator<{ at: string; ref: string }> {
  if (typeof node !== 'object' || node === null) return;
  for (const [key, value] of Object.entries(node)) {
    if (key === '$ref' && typeof value === 'string') yield { at, ref: value };
    else yield* refsOf(value, `${at}/${key}`);
  }
}

/** What a local `$ref` (`#/components/schemas/Json`) points at in the document, or undefined. */
function resolve(document: unknown, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  return ref
    .slice(2)
    .split('/')
    .map((part) => decodeURIComponent(part).replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((node, part) => (typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[part] : undefined), document);
}

describe('the HTTP API under schemathesis', () => {
  let platform: Platform;
  let bin: string;
  /** schemathesis' event report of the last run, kept for a look after a failure (git ignores it). */
  const report = join(__dirname, '.schemathesis', 'events.ndjson');

  before(async () => {
    // Installed by `npm run setup` (its fuzz step); the fuzz run fails without it, it is never skipped.
    bin = join(__dirname, '.venv', 'bin', 'schemathesis');
    assert.ok(existsSync(bin), `${bin} is missing: run \`npm run setup\` first`);
    mkdirSync(dirname(report), { recursive: true });
    rmSync(report, { force: true });
    platform = await Platform.start({ auth: true, workers: 1 });
  });

  after(async () => {
    await platform?.stop();
  });

  test('the OpenAPI document declares its bearer auth, and every $ref in it resolves', async () => {
    const token = await platform.token('fuzz', ['runs:read']);
    const response = await fetch(`${platform.gatewayUrl}/docs/json`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(response.status, 200);
    const document = (await response.json()) as { components?: { securitySchemes?: unknown }; security?: unknown; paths: Record<string, Record<string, { security?: unknown }>> };
    assert.deepEqual(document.components?.securitySchemes, { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } });
    assert.deepEqual(document.security, [{ bearerAuth: [] }]);
    // The probes answer without a token, and say so.
    assert.deepEqual(document.paths['/healthz']?.['get']?.security, []);
    assert.deepEqual(document.paths['/readyz']?.['get']?.security, []);
    const dangling = [...refsOf(document)].filter(({ ref }) => resolve(document, ref) === undefined);
    assert.deepEqual(dangling, [], 'every $ref points at something in the document');
  });

  test('every response conforms to the OpenAPI document (--checks all), and none is a 5xx', async () => {
    const token = await platform.token('fuzz', ['runs:write', 'runs:read', 'stream:read']);
    const started = Date.now();
    const exitCode = await fuzz(bin, [
      '--config-file', join(__dirname, 'schemathesis.toml'),
      'run', `${platform.gatewayUrl}/docs/json`,
      '--checks', 'all',
      '--header', `Authorization: Bearer ${token}`,
      '--exclude-name', STREAM_OPERATION,
      '--max-examples', String(EXAMPLES),
      ...(SEED === 'random' ? [] : ['--seed', SEED]),
      '--report', 'ndjson', '--report-ndjson-path', report,
      '--no-color',
    ]);
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    const { requests, failed } = readReport(report);
    const total = [...requests.values()].reduce((a, b) => a + b, 0);
    console.log(`fuzz: ${total} requests generated in ${seconds} s, over ${requests.size} operations (and stateful sequences); schemathesis exited ${exitCode}`);
    for (const [label, n] of [...requests].sort()) console.log(`fuzz:   ${String(n).padStart(5)}  ${label}${failed.has(label) ? `  (${failed.get(label)} failed)` : ''}`);
    assert.ok(total > 0, 'schemathesis generated no request');
    assert.equal(exitCode, 0, `schemathesis found failures (${[...failed.keys()].join(', ')}): see its report above`);
  });
});
