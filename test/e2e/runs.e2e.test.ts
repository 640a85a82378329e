import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { KafkaLog, openPlatformTopics } from '@chute/log';
import { Metrics, silentLogger } from '@chute/runtime';
import { Chute, RunFailedError } from '@chute/sdk';
import type { RunView, StreamRecord } from '@chute/schemas';
import { Platform, uniqueName, waitFor } from '@chute/testing';

// Runs end to end: the four services as separate processes on the real broker
// and PostgreSQL, driven through the SDK and plain HTTP.
describe('runs end to end', () => {
  let platform: Platform;
  let chute: Chute;
  const streamEnds = new Map<string, Extract<StreamRecord, { type: 'StreamEnd' }>>();
  let streamLog: KafkaLog;

  before(async () => {
    platform = await Platform.start({
      workers: 1,
      env: { CHUTE_HEARTBEAT_INTERVAL_MS: '300', CHUTE_HEARTBEAT_TIMEOUT_MS: '3000' },
    });
    chute = Chute.init({ gatewayUrl: platform.gatewayUrl, brokers: platform.env['CHUTE_KAFKA_BROKERS'], topicPrefix: platform.env['CHUTE_TOPIC_PREFIX'] });
    // Watch the stream topic: every run's stream ends by its end record, whoever ended the run.
    streamLog = new KafkaLog({ brokers: platform.env['CHUTE_KAFKA_BROKERS']!.split(','), clientId: uniqueName('e2e-watch'), logger: silentLogger });
    await streamLog.start();
    const topics = await openPlatformTopics(
      streamLog,
      { prefix: platform.env['CHUTE_TOPIC_PREFIX']!, runEventsPartitions: 6, streamPartitions: 6, workerEventsPartitions: 1 },
      { logger: silentLogger, metrics: new Metrics() },
    );
    await topics.stream.tail((batch) => {
      for (const { value } of batch) if (value.type === 'StreamEnd') streamEnds.set(value.runId, value);
    });
  });

  after(async () => {
    await streamLog?.stop();
    await platform?.stop();
  });

  /** The runs the worker executes now, from its /metrics. */
  const activeRuns = async (): Promise<number> => {
    const worker = platform.processes.find((p) => p.name === 'worker')!;
    const metrics = await (await fetch(`${Platform.probesOf(worker)}/metrics`)).text();
    return Number(/^chute_worker_active_runs (\d+)$/m.exec(metrics)?.[1] ?? NaN);
  };
  const http = (path: string, init?: RequestInit) => fetch(new URL(path, platform.gatewayUrl), init);
  const postJson = (path: string, body: unknown) =>
    http(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const waitForStatus = async (runId: string, status: RunView['status']) => {
    let last: RunView | undefined;
    await waitFor(
      async () => {
        last = await chute.runs.get(runId).catch(() => undefined);
        return last?.status === status;
      },
      { timeoutMs: 60_000, intervalMs: 100, message: `run ${runId} to be ${status} (last: ${last?.status})` },
    );
    return last!;
  };

  test('run() through the SDK returns the task output', async () => {
    const echo = chute.task({ name: 'echo', fn: (x: unknown) => x });
    assert.deepEqual(await echo.run({ hello: 'wörld 🙂', n: [1, 2] }), { hello: 'wörld 🙂', n: [1, 2] });
  });

  test('runNoWait gives the run id at once; the ref resolves with the output', async () => {
    const echo = chute.task({ name: 'echo', fn: (x: unknown) => x });
    const ref = await echo.runNoWait('ping');
    const id = await ref.getWorkflowRunId();
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.equal(await ref.output, 'ping');
    const run = await chute.runs.get(id);
    assert.equal(run.status, 'COMPLETED');
    assert.equal(run.attempt, 1);
    assert.ok(run.startedAt && run.finishedAt && run.workerId);
  });

  test('a run triggered over plain HTTP completes and its result is served', async () => {
    const created = await postJson('/api/v1/tasks/echo/runs', { input: { via: 'http' } });
    assert.equal(created.status, 201);
    const { runId } = (await created.json()) as { runId: string };
    const result = await http(`/api/v1/runs/${runId}/result?timeoutMs=30000`);
    assert.equal(result.status, 200);
    const run = (await result.json()) as RunView;
    assert.equal(run.status, 'COMPLETED');
    assert.deepEqual(run.output, { via: 'http' });
  });

  test('a trigger with waitMs answers 200 with the ended run, in one exchange', async () => {
    const created = await postJson('/api/v1/tasks/echo/runs?waitMs=30000', { input: { via: 'one exchange' } });
    assert.equal(created.status, 200);
    const run = (await created.json()) as RunView;
    assert.equal(run.status, 'COMPLETED');
    assert.deepEqual(run.output, { via: 'one exchange' });
    assert.ok(run.startedAt && run.finishedAt, 'the run as it ended, started and finished');
    // The same run as /result serves it.
    const result = await http(`/api/v1/runs/${run.runId}/result?timeoutMs=0`);
    assert.deepEqual(await result.json(), run);
  });

  test('a trigger with waitMs answers 202 with the run as it stands when the wait runs out; /result takes over', async () => {
    const created = await postJson('/api/v1/tasks/sleep/runs?waitMs=200', { input: { ms: 1500 } });
    assert.equal(created.status, 202);
    const run = (await created.json()) as RunView;
    assert.ok(run.status === 'QUEUED' || run.status === 'RUNNING', `not ended yet, got ${run.status}`);
    const result = await http(`/api/v1/runs/${run.runId}/result?timeoutMs=30000`);
    assert.equal(result.status, 200);
    assert.equal(((await result.json()) as RunView).status, 'COMPLETED');
  });

  test('a trigger with waitMs of a failing task answers 200 with the run FAILED', async () => {
    const created = await postJson('/api/v1/tasks/fail/runs?waitMs=30000', { input: { message: 'waited' }, retries: 0 });
    assert.equal(created.status, 200);
    const run = (await created.json()) as RunView;
    assert.equal(run.status, 'FAILED');
    assert.equal(run.error?.message, 'waited (attempt 1)');
  });

  test('a waitMs out of range or not a number is 400 naming it', async () => {
    for (const waitMs of ['120001', '-1', 'soon']) {
      const refused = await postJson(`/api/v1/tasks/echo/runs?waitMs=${waitMs}`, { input: 'never' });
      assert.equal(refused.status, 400, `waitMs=${waitMs}`);
      assert.match(((await refused.json()) as { message: string }).message, /waitMs/);
    }
  });

  test('a failing task is retried, then FAILED with its error', async () => {
    const fail = chute.task({ name: 'fail', retries: 2, fn: () => undefined });
    const ref = await fail.runNoWait({ message: 'nope' });
    await assert.rejects(ref.result(), (error: unknown) => error instanceof RunFailedError && error.status === 'FAILED');
    const run = await chute.runs.get(ref.runId);
    assert.equal(run.status, 'FAILED');
    assert.equal(run.attempt, 3, 'one attempt and two retries');
    assert.equal(run.error?.message, 'nope (attempt 3)');
  });

  test('a task that fails then succeeds completes on a retry', async () => {
    const flaky = chute.task({ name: 'flaky', retries: 3, fn: () => undefined });
    assert.deepEqual(await flaky.run({ failures: 1 }), { attempt: 2 });
  });

  test('an attempt past its executionTimeout ends TIMED_OUT and the worker sees the abort', async () => {
    const slow = chute.task({ name: 'sleep', executionTimeout: '1s', fn: () => undefined });
    const ref = await slow.runNoWait({ ms: 60_000 });
    await assert.rejects(ref.result(), (error: unknown) => error instanceof RunFailedError && error.status === 'TIMED_OUT');
    const run = await chute.runs.get(ref.runId);
    assert.match(run.error?.message ?? '', /execution timeout of 1000 ms/);
    await waitFor(() => streamEnds.has(ref.runId), { message: 'the stream end the scheduler writes with the timeout' });
    assert.equal(streamEnds.get(ref.runId)?.status, 'TIMED_OUT');
    await waitFor(async () => (await activeRuns()) === 0, { message: 'the worker to abort the task (it would sleep 60 s) and free its slot' });
  });

  test('a cancel reaches the running fn', async () => {
    const slow = chute.task({ name: 'sleep', executionTimeout: '1h', fn: () => undefined });
    const ref = await slow.runNoWait({ ms: 60_000 });
    await waitForStatus(ref.runId, 'RUNNING');
    await chute.runs.cancel(ref.runId);
    await assert.rejects(ref.result(), (error: unknown) => error instanceof RunFailedError && error.status === 'CANCELLED');
    await waitFor(() => streamEnds.has(ref.runId), { message: 'the stream end the scheduler writes with the cancel' });
    assert.equal(streamEnds.get(ref.runId)?.status, 'CANCELLED');
    await waitFor(async () => (await activeRuns()) === 0, { message: 'the worker to abort the task (it would sleep 60 s) and free its slot' });
    const again = await postJson(`/api/v1/runs/${ref.runId}/cancel`, {});
    assert.equal(again.status, 409);
  });

  test('a run for a task no live worker serves stays QUEUED', async () => {
    const created = await postJson('/api/v1/tasks/nobody-serves-this/runs', {});
    const { runId } = (await created.json()) as { runId: string };
    await waitForStatus(runId, 'QUEUED');
    await sleep(1500);
    assert.equal((await chute.runs.get(runId)).status, 'QUEUED');
    const pending = await http(`/api/v1/runs/${runId}/result?timeoutMs=200`);
    assert.equal(pending.status, 202);
  });

  test('listing filters by task and status and pages with a cursor', async () => {
    const echo = chute.task({ name: 'echo', fn: (x: unknown) => x });
    await Promise.all([1, 2, 3].map((i) => echo.run(i)));
    const first = await chute.runs.list({ task: 'echo', status: 'COMPLETED', limit: 2 });
    assert.equal(first.runs.length, 2);
    assert.ok(first.nextCursor);
    assert.ok(first.runs.every((r) => r.task === 'echo' && r.status === 'COMPLETED'));
    const second = await chute.runs.list({ task: 'echo', status: 'COMPLETED', limit: 2, cursor: first.nextCursor });
    const ids = new Set([...first.runs, ...second.runs].map((r) => r.runId));
    assert.equal(ids.size, first.runs.length + second.runs.length, 'pages do not overlap');
    assert.ok(first.runs[0]!.createdAt >= first.runs[1]!.createdAt, 'newest first');
  });

  test('any cursor of the documented shape pages; one of another shape is 400, never a 500', async () => {
    // The document's pattern is the contract: a cursor it admits is served (here: before the epoch, nothing).
    const page = await http(`/api/v1/runs?cursor=0.${randomUUID()}`);
    assert.equal(page.status, 200);
    assert.deepEqual(await page.json(), { runs: [], nextCursor: null });
    // These decoded to a cursor the old format accepted and PostgreSQL refused (an id of dashes, a year before 4713 BC): 500s.
    for (const cursor of [
      Buffer.from(`2026-01-01T00:00:00.000Z|${'-'.repeat(36)}`).toString('base64url'),
      Buffer.from(`-200000-01-01T00:00:00.000Z|${randomUUID()}`).toString('base64url'),
      `-1.${randomUUID()}`,
      `1.${'-'.repeat(36)}`,
    ]) {
      const response = await http(`/api/v1/runs?cursor=${encodeURIComponent(cursor)}`);
      assert.equal(response.status, 400, cursor);
      assert.match(((await response.json()) as { message: string }).message, /^cursor: not a cursor this API returned/);
    }
  });

  describe('bad input gets a 4xx naming the problem', () => {
    const expectError = async (response: Response, status: number, code: string, message: RegExp) => {
      assert.equal(response.status, status);
      const body = (await response.json()) as { code: string; message: string };
      assert.equal(body.code, code);
      assert.match(body.message, message);
    };

    test('malformed JSON is 400 INVALID_JSON', async () => {
      await expectError(
        await http('/api/v1/tasks/echo/runs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"input": ' }),
        400,
        'INVALID_JSON',
        /not valid JSON/,
      );
    });

    test('a body that is not JSON is 415, on every POST', async () => {
      for (const path of ['/api/v1/tasks/echo/runs', `/api/v1/runs/${randomUUID()}/cancel`, `/api/v1/runs/${randomUUID()}/stream-token`]) {
        const response = await http(path, { method: 'POST', headers: { 'content-type': 'multipart/form-data' }, body: 'x' });
        await expectError(response, 415, 'UNSUPPORTED_MEDIA_TYPE', /send application\/json/);
      }
    });

    test('a body over 1 MiB is 413', async () => {
      await expectError(await postJson('/api/v1/tasks/echo/runs', { input: 'x'.repeat(1024 * 1024) }), 413, 'PAYLOAD_TOO_LARGE', /1048576 bytes/);
    });

    test('an unknown run id is 404 and an id that is not a UUID is 400', async () => {
      await expectError(await http(`/api/v1/runs/${randomUUID()}`), 404, 'RUN_NOT_FOUND', /no run/);
      await expectError(await http('/api/v1/runs/not-an-id'), 400, 'INVALID_RUN_ID', /run id: must be a UUID/);
      await expectError(await postJson('/api/v1/runs/not-an-id/cancel', {}), 400, 'INVALID_RUN_ID', /must be a UUID/);
      await expectError(await http('/api/v1/runs/not-an-id/stream-token', { method: 'POST' }), 400, 'INVALID_RUN_ID', /must be a UUID/);
    });

    test('an unknown route is 404', async () => {
      await expectError(await http('/api/v1/nothing-here'), 404, 'NOT_FOUND', /GET \/api\/v1\/nothing-here/);
    });

    test('a body nested deeper than 128 levels is 400, however deep (it used to exhaust the stack: 500)', async () => {
      for (const depth of [129, 5000, 200_000]) {
        const body = `{"input":${'['.repeat(depth)}${']'.repeat(depth)}}`;
        const response = await http('/api/v1/tasks/echo/runs', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        await expectError(response, 400, 'BAD_REQUEST', /nests deeper than 128 levels/);
      }
      // The body's own object is the first level.
      const fine = `{"input":${'['.repeat(127)}${']'.repeat(127)}}`;
      assert.equal((await http('/api/v1/tasks/echo/runs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: fine })).status, 201);
    });

    test('a known route with a method it does not take is 405, naming the methods it does (Allow)', async () => {
      const response = await http('/api/v1/runs', { method: 'DELETE' });
      assert.equal(response.headers.get('allow'), 'GET');
      await expectError(response, 405, 'METHOD_NOT_ALLOWED', /DELETE is not allowed on \/api\/v1\/runs; allowed: GET/);
    });

    test('every other method fastify knows is 405 too, on the probes as well: QUERY without a body, OPTIONS, PUT', async () => {
      // QUERY without a Content-Type was 400 (fastify refused the missing body type before any route ran).
      for (const [method, path, allow] of [
        ['QUERY', `/api/v1/runs/${randomUUID()}`, 'GET'],
        ['OPTIONS', '/api/v1/tasks/echo/runs', 'POST'],
        ['PUT', '/healthz', 'GET'],
        ['POST', '/readyz', 'GET'],
        ['DELETE', '/metrics', 'GET'],
      ] as const) {
        const response = await http(path, { method });
        assert.equal(response.headers.get('allow'), allow, `${method} ${path}`);
        await expectError(response, 405, 'METHOD_NOT_ALLOWED', new RegExp(`^${method} is not allowed`));
      }
    });

    test('invalid fields are named: retries, unknown keys, task names, list queries', async () => {
      await expectError(await postJson('/api/v1/tasks/echo/runs', { retries: -1 }), 400, 'BAD_REQUEST', /retries/);
      await expectError(await postJson('/api/v1/tasks/echo/runs', { inptu: 1 }), 400, 'BAD_REQUEST', /inptu/);
      await expectError(await postJson('/api/v1/tasks/bad%20name/runs', {}), 400, 'BAD_REQUEST', /task name/);
      await expectError(await http('/api/v1/runs?limit=100000'), 400, 'BAD_REQUEST', /limit/);
      await expectError(await http('/api/v1/runs?cursor=garbage'), 400, 'BAD_REQUEST', /cursor/);
      // The fuzzer holds timeoutMs at 250 ms (test/fuzz/schemathesis.toml): its bounds are checked here.
      for (const timeoutMs of ['-1', '120001', '1.5', 'soon']) {
        await expectError(await http(`/api/v1/runs/${randomUUID()}/result?timeoutMs=${timeoutMs}`), 400, 'BAD_REQUEST', /timeoutMs/);
      }
    });

    test('the OpenAPI document describes the API, and /docs serves its UI', async () => {
      type Operation = { parameters?: { name: string; in: string }[]; responses: Record<string, { content?: Record<string, unknown> }> };
      const doc = (await (await http('/docs/json')).json()) as { openapi: string; paths: Record<string, Record<string, Operation>> };
      assert.match(doc.openapi, /^3\./);
      for (const path of [
        '/api/v1/tasks/{name}/runs',
        '/api/v1/runs/{id}',
        '/api/v1/runs',
        '/api/v1/runs/{id}/cancel',
        '/api/v1/runs/{id}/result',
        '/api/v1/runs/{id}/stream-token',
        '/api/v1/runs/{id}/stream',
        '/healthz',
        '/readyz',
        '/metrics',
      ]) {
        assert.ok(doc.paths[path], `documents ${path}`);
      }
      for (const [path, operations] of Object.entries(doc.paths)) {
        for (const [method, operation] of Object.entries(operations)) {
          // A run id that is not a UUID is 400 on every route that takes one (stream-token did not say so).
          if (operation.parameters?.some((p) => p.in === 'path' && p.name === 'id')) assert.ok(operation.responses['400'], `${method} ${path} documents 400`);
          // A POST's body is refused before its route runs: too large, or not JSON.
          if (method === 'post') for (const status of ['413', '415']) assert.ok(operation.responses[status], `${method} ${path} documents ${status}`);
        }
      }
      // The stream's 200 is text, not JSON; /metrics is Prometheus text.
      assert.deepEqual(Object.keys(doc.paths['/api/v1/runs/{id}/stream']!['get']!.responses['200']!.content ?? {}), ['text/plain', 'text/event-stream']);
      assert.deepEqual(Object.keys(doc.paths['/metrics']!['get']!.responses['200']!.content ?? {}), ['text/plain']);
      const ui = await http('/docs');
      assert.equal(ui.status, 200);
      assert.match(ui.headers.get('content-type') ?? '', /text\/html/);
    });

    test('the gateway is still healthy after all of it', async () => {
      assert.equal((await http('/healthz')).status, 200);
      assert.equal((await http('/readyz')).status, 200);
    });
  });
});
