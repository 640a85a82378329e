import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chromium, type Browser } from 'playwright-core';
import { freePort, Platform } from '@chute/testing';
import { annaKarenina } from '../seed/task';

const CHROMIUM = process.env['CHUTE_CHROMIUM'] ?? '/usr/bin/chromium';

// The seed's "Streaming to a Web Application": the demo app proxies a run's
// stream to curl, and its page in a real browser reads a run's stream from the
// gateway itself with a run-scoped token (auth on, CORS for the demo's origin).
describe('demo web app', () => {
  let platform: Platform;
  let demoUrl: string;
  let demoToken: string;

  before(async () => {
    const port = await freePort();
    demoUrl = `http://127.0.0.1:${port}`;
    platform = await Platform.start({ workers: 1, auth: true, env: { CHUTE_CORS_ORIGINS: demoUrl } });
    demoToken = await platform.token('default', ['runs:write', 'runs:read', 'stream:read']);
    await platform.startService('demo-app', { CHUTE_GATEWAY_URL: platform.gatewayUrl, CHUTE_DEMO_PORT: String(port), CHUTE_TOKEN: demoToken });
  });
  after(async () => {
    await platform?.stop();
  });

  test('curl -N /stream prints the seed text as it is produced', async () => {
    const curl = spawn('curl', ['-sSN', `${demoUrl}/stream`], { stdio: ['ignore', 'pipe', 'pipe'] });
    const arrivals: Array<{ at: number; length: number }> = [];
    let text = '';
    curl.stdout.on('data', (d: Buffer) => {
      text += d.toString('utf8');
      arrivals.push({ at: Date.now(), length: text.length });
    });
    const code = await new Promise<number | null>((resolve) => curl.on('exit', resolve));
    assert.equal(code, 0);
    assert.equal(text, annaKarenina);
    assert.ok(arrivals.length >= 10, `arrived bit by bit (${arrivals.length} pieces)`);
    assert.ok(arrivals.at(-1)!.at - arrivals[0]!.at > 2000, 'over the seconds the task took, not at the end');
  });

  describe('in a browser', () => {
    let browser: Browser;
    before(async () => {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
      });
    });
    after(async () => {
      await browser?.close();
    });

    test('the button starts a run; the text grows as it arrives, read from the gateway with a stream token; the final status shows', async () => {
      const page = await browser.newPage();
      const streamRequests: string[] = [];
      page.on('request', (request) => {
        if (request.url().includes('/stream')) streamRequests.push(request.url());
      });
      await page.goto(demoUrl);
      await page.click('#start');
      const states = new Set<string>();
      const deadline = Date.now() + 60_000;
      let status = '';
      while (Date.now() < deadline) {
        states.add(await page.locator('#output').textContent() ?? '');
        status = (await page.locator('#status').textContent()) ?? '';
        if (status === 'COMPLETED' || status === 'FAILED') break;
        await page.waitForTimeout(100);
      }
      const finalText = (await page.locator('#output').textContent()) ?? '';
      await page.screenshot({ path: `${process.env['TMPDIR'] ?? '/tmp'}/chute-demo.png` });
      assert.equal(status, 'COMPLETED');
      assert.equal(finalText, annaKarenina);
      const intermediate = [...states].filter((s) => s.length > 0 && s.length < annaKarenina.length);
      assert.ok(intermediate.length >= 3, `saw the text grow through ${intermediate.length} intermediate states`);
      assert.ok(intermediate.every((s) => annaKarenina.startsWith(s)), 'each state a prefix of the text');
      assert.equal(streamRequests.length, 1, streamRequests.join(', '));
      const streamUrl = new URL(streamRequests[0]!);
      assert.equal(streamUrl.origin, new URL(platform.gatewayUrl).origin, 'the page reads the stream from the gateway itself');
      assert.ok(streamUrl.searchParams.get('token'), 'with a stream token');
      assert.notEqual(streamUrl.searchParams.get('token'), demoToken, "never the demo's own token");
    });
  });
});
