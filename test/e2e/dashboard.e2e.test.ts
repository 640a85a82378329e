import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { ListWorkersResponse, RunView } from '@chute/schemas';
import { Platform, waitFor } from '@chute/testing';
import { annaKarenina } from '../seed/task';

const CHROMIUM = process.env['CHUTE_CHROMIUM'] ?? '/usr/bin/chromium';
const SHOTS = process.env['TMPDIR'] ?? '/tmp';

// The dashboard at / (static page, public) and the workers endpoint it lists
// workers from, with auth on: the page asks for a token and sends it on every
// call, and reads a run's stream over SSE with a run-scoped stream token.
describe('dashboard', () => {
  let platform: Platform;
  let gw: string;
  let token: string;

  const call = (method: string, path: string, bearer?: string, body?: unknown) =>
    fetch(`${gw}${path}`, {
      method,
      headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });

  before(async () => {
    platform = await Platform.start({ workers: 1, auth: true });
    gw = platform.gatewayUrl;
    token = await platform.token('default', ['runs:read', 'runs:write', 'stream:read']);
  });
  after(async () => {
    await platform?.stop();
  });

  describe('GET /api/v1/workers', () => {
    test("lists the caller's tenant's workers: name, slots, tasks, status, last heartbeat", async () => {
      let listed: ListWorkersResponse = { workers: [] };
      // The projector writes the row a moment after the worker registers.
      await waitFor(
        async () => {
          const response = await call('GET', '/api/v1/workers', token);
          assert.equal(response.status, 200);
          listed = (await response.json()) as ListWorkersResponse;
          return listed.workers.length > 0;
        },
        { timeoutMs: 15_000, intervalMs: 200, message: 'the worker appears' },
      );
      assert.equal(listed.workers.length, 1);
      const worker = listed.workers[0]!;
      assert.equal(worker.name, 'worker-0');
      assert.equal(worker.status, 'ACTIVE');
      assert.ok(worker.slots >= 1, `slots ${worker.slots}`);
      assert.ok(worker.tasks.includes('stream-example'), worker.tasks.join(','));
      assert.ok(Date.now() - Date.parse(worker.lastHeartbeatAt) < 60_000, `heartbeat ${worker.lastHeartbeatAt}`);
    });

    test('another tenant sees none of them; no token is 401, a token without runs:read 403', async () => {
      const other = await platform.token('globex', ['runs:read']);
      const response = await call('GET', '/api/v1/workers', other);
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { workers: [] });

      const anonymous = await call('GET', '/api/v1/workers');
      assert.equal(anonymous.status, 401);
      assert.equal(((await anonymous.json()) as { code: string }).code, 'UNAUTHENTICATED');
      const streamOnly = await call('GET', '/api/v1/workers', await platform.token('default', ['stream:read']));
      assert.equal(streamOnly.status, 403);
      assert.equal(((await streamOnly.json()) as { code: string }).code, 'FORBIDDEN');
    });
  });

  test('the page and its files are public, same-origin only (CSP), and hold no data', async () => {
    for (const [path, type] of [
      ['/', 'text/html'],
      ['/dashboard/app.js', 'text/javascript'],
      ['/dashboard/style.css', 'text/css'],
    ] as const) {
      const response = await fetch(`${gw}${path}`);
      assert.equal(response.status, 200, path);
      assert.ok(response.headers.get('content-type')?.startsWith(type), `${path}: ${response.headers.get('content-type')}`);
      assert.match(response.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    }
  });

  describe('in a browser', () => {
    let browser: Browser;
    let page: Page;
    before(async () => {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
      });
      page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    });
    after(async () => {
      await browser?.close();
    });

    test('without a token the page says it wants one; with one, it lists the worker', async () => {
      await page.goto(`${gw}/`);
      await page.locator('#error', { hasText: 'token' }).waitFor({ timeout: 10_000 });
      await page.fill('#token', token);
      await page.click('#save-token');
      await page.locator('#workers tr[data-worker="worker-0"][data-status="ACTIVE"]').waitFor({ timeout: 15_000 });
      assert.equal(await page.locator('#error').isHidden(), true);
      assert.equal(await page.evaluate('sessionStorage.getItem("chute.token")'), token, 'kept in sessionStorage');
    });

    test("a run triggered from the page: its stream grows live on its page, read with a stream token, and it completes", async () => {
      const streamRequests: string[] = [];
      page.on('request', (request) => {
        if (request.url().includes('/stream?')) streamRequests.push(request.url());
      });
      await page.fill('#trigger-task', 'stream-example');
      await page.click('#trigger');
      await page.waitForURL(/#\/runs\/[0-9a-f-]{36}$/);
      const runId = new URL(page.url()).hash.slice('#/runs/'.length);
      const states = new Set<string>();
      const deadline = Date.now() + 60_000;
      let status = '';
      while (Date.now() < deadline) {
        states.add((await page.locator('#stream').textContent()) ?? '');
        status = (await page.locator('#run-status').textContent()) ?? '';
        if (status === 'COMPLETED' && (await page.locator('#stream-state').textContent())?.includes('ended')) break;
        await page.waitForTimeout(100);
      }
      await page.screenshot({ path: `${SHOTS}/chute-dashboard-run.png`, fullPage: true });
      assert.equal(status, 'COMPLETED');
      assert.equal(await page.locator('#stream').textContent(), annaKarenina);
      const intermediate = [...states].filter((s) => s.length > 0 && s.length < annaKarenina.length);
      assert.ok(intermediate.length >= 3, `saw the stream grow through ${intermediate.length} intermediate states`);
      assert.ok(intermediate.every((s) => annaKarenina.startsWith(s)), 'each state a prefix of the text');
      assert.equal(await page.locator('#cancel').isHidden(), true, 'no cancel button on an ended run');
      assert.equal(streamRequests.length, 1, streamRequests.join(', '));
      const url = new URL(streamRequests[0]!);
      assert.equal(url.pathname, `/api/v1/runs/${runId}/stream`);
      assert.equal(url.searchParams.get('from'), 'start');
      assert.ok(url.searchParams.get('token'), 'with a stream token');
      assert.notEqual(url.searchParams.get('token'), token, 'never the pasted token in a URL');
    });

    test('a stream cut off midway is resumed after its last chunk, not replayed: the text shows once', async () => {
      const created = await call('POST', '/api/v1/tasks/stream-example/runs', token, {});
      const { runId } = (await created.json()) as { runId: string };
      assert.equal((await call('GET', `/api/v1/runs/${runId}/result?timeoutMs=60000`, token)).status, 200);
      const streamRequests: string[] = [];
      // The first stream response is cut after a few chunks, as a dropped connection would be.
      await page.route(/\/stream\?/, async (route) => {
        streamRequests.push(route.request().url());
        if (streamRequests.length > 1) return route.continue();
        const response = await route.fetch();
        const events = (await response.text()).split('\n\n').filter((e) => e.includes('event: chunk'));
        return route.fulfill({ response, body: `${events.slice(0, 5).join('\n\n')}\n\n` });
      });
      try {
        await page.goto(`${gw}/#/runs/${runId}`);
        await page.locator('#stream-state', { hasText: 'ended COMPLETED' }).waitFor({ timeout: 15_000 });
        assert.equal(await page.locator('#stream').textContent(), annaKarenina);
        assert.equal(streamRequests.length, 2, streamRequests.join(', '));
        const resumed = new URL(streamRequests[1]!);
        assert.equal(resumed.searchParams.get('from'), null);
        assert.match(resumed.searchParams.get('after') ?? '', /^(\d+:)?\d+$/);
        assert.ok(resumed.searchParams.get('token'), 'with a fresh stream token');
      } finally {
        await page.unroute(/\/stream\?/);
      }
    });

    test('the cancel button cancels a running sleep; the list shows both runs and filters by task and status', async () => {
      const created = await call('POST', '/api/v1/tasks/sleep/runs', token, { input: { ms: 60_000 } });
      assert.equal(created.status, 201);
      const { runId } = (await created.json()) as { runId: string };
      await page.goto(`${gw}/#/runs/${runId}`);
      await page.locator('#run-status', { hasText: 'RUNNING' }).waitFor({ timeout: 20_000 });
      await page.click('#cancel');
      await page.locator('#run-status', { hasText: 'CANCELLED' }).waitFor({ timeout: 15_000 });
      assert.equal(await page.locator('#cancel').isHidden(), true);
      const view = (await (await call('GET', `/api/v1/runs/${runId}`, token)).json()) as RunView;
      assert.equal(view.status, 'CANCELLED');

      await page.click('a[href="#/"]');
      await page.locator(`#runs tr[data-run-id="${runId}"][data-status="CANCELLED"]`).waitFor({ timeout: 10_000 });
      await page.locator('#runs tr[data-status="COMPLETED"]').first().waitFor({ timeout: 10_000 });
      await page.locator('#workers tr[data-worker="worker-0"]').waitFor({ timeout: 10_000 });
      await page.screenshot({ path: `${SHOTS}/chute-dashboard.png`, fullPage: true });

      await page.fill('#filter-task', 'sleep');
      await waitFor(async () => (await page.locator('#runs tr').count()) === 1, { timeoutMs: 5000, intervalMs: 100, message: 'only the sleep run' });
      assert.equal(await page.locator('#runs tr').getAttribute('data-run-id'), runId);
      await page.fill('#filter-task', '');
      await page.selectOption('#filter-status', 'COMPLETED');
      // The two stream-example runs, and not the cancelled sleep.
      await waitFor(async () => (await page.locator('#runs tr').count()) === 2 && (await page.locator('#runs tr[data-status="COMPLETED"]').count()) === 2, {
        timeoutMs: 5000,
        intervalMs: 100,
        message: 'only the completed runs',
      });
    });
  });
});

// With auth off (CHUTE_AUTH_DISABLED=true) stream-token answers 409: the page
// then reads the stream without a token, and needs none pasted.
describe('dashboard, auth off', () => {
  let platform: Platform;
  let browser: Browser;
  before(async () => {
    platform = await Platform.start({ workers: 1 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
    });
  });
  after(async () => {
    await browser?.close();
    await platform?.stop();
  });

  test('no token: the worker is listed, and a run triggered from the page streams to its end', async () => {
    const page = await browser.newPage();
    const streamRequests: string[] = [];
    page.on('request', (request) => {
      if (request.url().includes('/stream')) streamRequests.push(request.url());
    });
    await page.goto(`${platform.gatewayUrl}/`);
    await page.locator('#workers tr[data-worker="worker-0"][data-status="ACTIVE"]').waitFor({ timeout: 15_000 });
    await page.fill('#trigger-task', 'stream-example');
    await page.click('#trigger');
    await page.waitForURL(/#\/runs\/[0-9a-f-]{36}$/);
    await page.locator('#stream-state', { hasText: 'ended COMPLETED' }).waitFor({ timeout: 60_000 });
    assert.equal(await page.locator('#stream').textContent(), annaKarenina);
    assert.equal(await page.locator('#error').isHidden(), true, (await page.locator('#error').textContent()) ?? '');
    assert.equal(streamRequests.filter((url) => url.includes('/stream?')).length, 1, streamRequests.join(', '));
    const url = new URL(streamRequests.find((u) => u.includes('/stream?'))!);
    assert.equal(url.searchParams.get('token'), null, 'no token on the stream');
  });
});
