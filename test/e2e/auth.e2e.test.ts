import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import type { RunView } from '@chute/schemas';
import { Platform, waitFor } from '@chute/testing';
import { runResult, triggerRun } from '../support/gateway';

// The gateway with auth on: every API and stream route wants a token of the
// right scope, a tenant sees only its own runs, a browser reads one run's
// stream with a run-scoped token, and triggers are rate-limited per token.

const TRIGGER_LIMIT = 30;

describe('auth and tenants', () => {
  let platform: Platform;
  let gw: string;
  let acme: string;
  let acmeReader: string;
  let globex: string;

  const call = (method: string, path: string, token?: string, body?: unknown) =>
    fetch(`${gw}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  const codeOf = async (response: Response): Promise<[number, string]> => [response.status, ((await response.json()) as { code: string }).code];

  const trigger = (token: string, task = 'echo', input: unknown = { hello: 'acme' }) => triggerRun(gw, task, input, { token });

  const result = (token: string, runId: string) => runResult(gw, runId, { token });


  before(async () => {
    platform = await Platform.start({
      auth: true,
      workers: 0,
      env: { CHUTE_RATE_LIMIT_TRIGGERS_PER_MINUTE: String(TRIGGER_LIMIT), CHUTE_CORS_ORIGINS: 'http://app.example' },
    });
    gw = platform.gatewayUrl;
    await platform.startWorker('acme-worker', { CHUTE_WORKER_TENANT: 'acme' });
    acme = await platform.token('acme', ['runs:write', 'runs:read', 'stream:read']);
    acmeReader = await platform.token('acme', ['runs:read']);
    globex = await platform.token('globex', ['runs:write', 'runs:read', 'stream:read']);
  });

  after(async () => {
    await platform?.stop();
  });

  test('every API and stream route wants a token; the probes do not', async () => {
    const id = '6f1c3c1e-9d8a-4a55-9a57-3f4c2b1a0d01';
    for (const [method, path] of [
      ['POST', '/api/v1/tasks/echo/runs'],
      ['GET', `/api/v1/runs/${id}`],
      ['GET', '/api/v1/runs'],
      ['POST', `/api/v1/runs/${id}/cancel`],
      ['GET', `/api/v1/runs/${id}/result`],
      ['GET', `/api/v1/runs/${id}/stream`],
      ['POST', `/api/v1/runs/${id}/stream-token`],
      ['GET', '/metrics'],
      ['GET', '/docs/json'],
    ] as const) {
      assert.deepEqual(await codeOf(await call(method, path)), [401, 'UNAUTHENTICATED'], `${method} ${path}`);
    }
    assert.equal((await call('GET', '/healthz')).status, 200);
    assert.equal((await call('GET', '/readyz')).status, 200);
    assert.equal((await call('GET', '/metrics', acme)).status, 200);
  });

  test('a bogus token is 401, an expired one TOKEN_EXPIRED, one without the scope 403 FORBIDDEN', async () => {
    assert.deepEqual(await codeOf(await call('GET', '/api/v1/runs', 'not.a.token')), [401, 'UNAUTHENTICATED']);
    const tampered = `${acme.slice(0, -4)}AAAA`;
    assert.deepEqual(await codeOf(await call('GET', '/api/v1/runs', tampered)), [401, 'UNAUTHENTICATED']);
    const expired = await platform.token('acme', ['runs:read'], -1000);
    assert.deepEqual(await codeOf(await call('GET', '/api/v1/runs', expired)), [401, 'TOKEN_EXPIRED']);
    const response = await call('POST', '/api/v1/tasks/echo/runs', acmeReader, { input: null });
    assert.deepEqual(await codeOf(response), [403, 'FORBIDDEN']);
    // Waiting answers with the run's output: a token that may trigger but not read is refused before any run is made.
    const writer = await platform.token('acme', ['runs:write']);
    assert.deepEqual(await codeOf(await call('POST', '/api/v1/tasks/echo/runs?waitMs=1000', writer, { input: null })), [403, 'FORBIDDEN']);
    assert.equal((await call('POST', '/api/v1/tasks/echo/runs', writer, { input: null })).status, 201, 'the same token triggers without waitMs');
  });

  test('a trigger with waitMs answers with the ended run in the caller tenant', async () => {
    const response = await call('POST', '/api/v1/tasks/echo/runs?waitMs=30000', acme, { input: { hello: 'waited' } });
    assert.equal(response.status, 200);
    const run = (await response.json()) as RunView;
    assert.equal(run.status, 'COMPLETED');
    assert.deepEqual(run.output, { hello: 'waited' });
    assert.deepEqual(await codeOf(await call('GET', `/api/v1/runs/${run.runId}`, globex)), [404, 'RUN_NOT_FOUND']);
  });

  test("a tenant's run is run by its own workers and seen by it alone: another tenant gets 404, and cannot cancel it", async () => {
    const runId = await trigger(acme);
    const run = await result(acme, runId);
    assert.equal(run.status, 'COMPLETED');
    assert.deepEqual(run.output, { hello: 'acme' });
    for (const [method, path] of [
      ['GET', `/api/v1/runs/${runId}`],
      ['GET', `/api/v1/runs/${runId}/result?timeoutMs=0`],
      ['GET', `/api/v1/runs/${runId}/stream?from=start`],
      ['POST', `/api/v1/runs/${runId}/cancel`],
      ['POST', `/api/v1/runs/${runId}/stream-token`],
    ] as const) {
      assert.deepEqual(await codeOf(await call(method, path, globex)), [404, 'RUN_NOT_FOUND'], `${method} ${path} as another tenant`);
    }
    const listOf = async (token: string) => ((await (await call('GET', '/api/v1/runs?limit=500', token)).json()) as { runs: RunView[] }).runs.map((r) => r.runId);
    assert.ok((await listOf(acme)).includes(runId));
    assert.ok(!(await listOf(globex)).includes(runId));

    // globex has no worker: its run waits, and acme's worker does not take it.
    const waiting = await trigger(globex);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(((await (await call('GET', `/api/v1/runs/${waiting}`, globex)).json()) as RunView).status, 'QUEUED');
  });

  test("a run-scoped stream token reads that run's stream as ?token=, and nothing else", async () => {
    const runId = await trigger(acme, 'stream-ticks', { count: 5, delayMs: 300 });
    const response = await call('POST', `/api/v1/runs/${runId}/stream-token`, acmeReader);
    assert.equal(response.status, 201);
    const { token, expiresAt } = (await response.json()) as { token: string; expiresAt: string };
    assert.ok(Date.parse(expiresAt) > Date.now());
    const stream = await fetch(`${gw}/api/v1/runs/${runId}/stream?from=start&token=${token}`);
    assert.equal(stream.status, 200);
    assert.ok((await stream.text()).length > 0, 'the stream was read to its end');

    const other = await trigger(acme);
    assert.deepEqual(await codeOf(await fetch(`${gw}/api/v1/runs/${other}/stream?token=${token}`)), [403, 'FORBIDDEN']);
    assert.deepEqual(await codeOf(await call('GET', `/api/v1/runs/${runId}`, token)), [403, 'FORBIDDEN'], 'not a general token');
    assert.deepEqual(await codeOf(await fetch(`${gw}/api/v1/runs/${runId}?token=${acme}`)), [401, 'UNAUTHENTICATED'], '?token= only on the stream route');
  });

  test('a worker connects with a token of the workers scope, and serves its tenant', async () => {
    const connect = (token?: string) =>
      new Promise<number | 'open'>((resolve) => {
        const socket = new WebSocket(`${gw.replace('http', 'ws')}/api/v1/workers/connect`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
        socket.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        socket.on('open', () => {
          socket.close();
          resolve('open');
        });
      });
    assert.equal(await connect(), 401);
    assert.equal(await connect(acme), 403, 'runs scopes do not make a worker');
    assert.equal(await connect(await platform.token('acme', ['workers'])), 'open');
  });

  test(`triggers are limited per token: past ${TRIGGER_LIMIT} a minute, 429 RATE_LIMITED with Retry-After`, async () => {
    const token = await platform.token('acme', ['runs:write']);
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i <= TRIGGER_LIMIT; i++) {
      const response = await call('POST', '/api/v1/tasks/noop/runs', token, { input: null });
      statuses.push(response.status);
      if (response.status === 429) limited = response;
      else await response.body?.cancel();
    }
    assert.deepEqual(statuses.filter((s) => s === 201).length, TRIGGER_LIMIT);
    assert.ok(limited, 'the request past the limit was refused');
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    assert.equal(((await limited.json()) as { code: string }).code, 'RATE_LIMITED');
  });

  test('CORS: an allowed origin gets its preflight answered; another does not', async () => {
    const preflight = (origin: string) =>
      fetch(`${gw}/api/v1/runs`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
    assert.equal((await preflight('http://app.example')).headers.get('access-control-allow-origin'), 'http://app.example');
    assert.equal((await preflight('http://evil.example')).headers.get('access-control-allow-origin'), null);
  });

  test('no secret and no token is ever written to a service log', async () => {
    await waitFor(() => platform.processes.every((p) => p.lines.length > 0), { message: 'logs from every service' });
    const secret = platform.env['CHUTE_AUTH_SECRET']!.split(':')[1]!;
    for (const p of platform.processes) {
      const text = JSON.stringify(p.lines) + p.stderr;
      for (const needle of [secret, acme, globex, acmeReader]) assert.ok(!text.includes(needle), `${p.name}'s log holds a secret`);
    }
  });
});
