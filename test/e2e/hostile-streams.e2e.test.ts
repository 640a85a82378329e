import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { Platform, waitFor } from '@chute/testing';

// Hostile clients on the stream route, against the gateway as a process on the
// real broker: each bad socket is closed with a proper code, the gateway stays
// up, and the well-behaved subscribers beside it get every chunk in order.

/** Per subscriber, what the gateway holds for a client that does not read (the setting's minimum is 64 KiB). */
const BUFFER_BYTES = 256 * 1024;
/** The gateway's HEADERS_TIMEOUT_MS, plus the second Node takes to notice. */
const HEADERS_DROP_MS = 10_000 + 1000;
/** Node's default --max-http-header-size. */
const MAX_HEADER_BYTES = 16 * 1024;

interface Ticks {
  count: number;
  intervalMs: number;
  bytes: number;
  delayMs?: number;
}

/** What one subscriber got: its chunks' positions in arrival order, the end's status, the close code. */
interface Received {
  seqs: number[];
  end: string | undefined;
  code: number;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** A socket's close code and reason, once it closes (errors after a refused frame are expected). */
function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  ws.on('error', () => undefined);
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

const opened = (ws: WebSocket) =>
  new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });

/** Reads everything an HTTP server says on a raw connection until it closes the socket. */
function rawHttp(url: string, onConnect: (socket: net.Socket) => void): Promise<{ response: string; closedAfterMs: number }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    const start = Date.now();
    let response = '';
    socket.setEncoding('utf8');
    socket.on('data', (data: string) => (response += data));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ response, closedAfterMs: Date.now() - start }));
    socket.once('connect', () => onConnect(socket));
  });
}

const statusLine = (response: string) => response.split('\r\n')[0];

describe('hostile clients on the stream route', () => {
  let platform: Platform;
  let gateway: string;
  let gatewayPid: number;

  before(async () => {
    platform = await Platform.start({ workers: 1, env: { CHUTE_STREAM_BUFFER_BYTES: String(BUFFER_BYTES) } });
    gateway = platform.gatewayUrl;
    gatewayPid = platform.processes.find((p) => p.name === 'gateway')!.pid;
  });

  after(async () => {
    await platform?.stop();
  });

  const streamUrl = (runId: string, query = '') => `${gateway.replace(/^http/, 'ws')}/api/v1/runs/${runId}/stream${query}`;

  async function trigger(input: Ticks): Promise<string> {
    const response = await fetch(`${gateway}/api/v1/tasks/stream-ticks/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input }),
    });
    assert.equal(response.status, 201);
    return ((await response.json()) as { runId: string }).runId;
  }

  /** A well-behaved WebSocket subscriber from the run's first chunk: it reads everything and sends nothing. */
  async function subscriber(runId: string): Promise<{ done: Promise<Received> }> {
    const ws = new WebSocket(streamUrl(runId, '?from=start'));
    const received: Received = { seqs: [], end: undefined, code: 0 };
    ws.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString()) as { type: string; seq?: number; status?: string };
      if (message.type === 'chunk') received.seqs.push(message.seq!);
      else if (message.type === 'end') received.end = message.status;
    });
    const closed = closeOf(ws);
    await opened(ws);
    // Wrapped: an async function returning the promise itself would wait for it.
    return { done: closed.then(({ code }) => ({ ...received, code })) };
  }

  /** Every chunk of the run, in order, then the end and a normal close. */
  function assertEveryChunk(received: Received, count: number): void {
    assert.equal(received.seqs.length, count, `${received.seqs.length} chunks of ${count} (closed ${received.code})`);
    assert.deepEqual(received.seqs, range(count));
    assert.equal(received.end, 'COMPLETED');
    assert.equal(received.code, 1000);
  }

  async function assertUp(): Promise<void> {
    const response = await fetch(`${gateway}/healthz`);
    assert.equal(response.status, 200, 'the gateway answers /healthz');
    assert.doesNotThrow(() => process.kill(gatewayPid, 0), 'the gateway process is alive');
  }

  test('WebSocket garbage: text and binary messages close 1003, invalid UTF-8 1007, bytes that are no frame 1002, a 10 MB frame 1009; subscribers beside them get every chunk', async () => {
    const ticks = { count: 600, intervalMs: 10, bytes: 200, delayMs: 500 };
    const runId = await trigger(ticks);
    const normal = await Promise.all(range(3).map(() => subscriber(runId)));

    /** Opens a subscriber, lets `attack` send on it, and gives the code the gateway closed it with. */
    const attack = async (send: (ws: WebSocket, socket: net.Socket) => void) => {
      const ws = new WebSocket(streamUrl(runId));
      let socket!: net.Socket;
      ws.once('upgrade', (response) => (socket = response.socket as net.Socket));
      const closed = closeOf(ws);
      await opened(ws);
      send(ws, socket);
      return closed;
    };
    const cases: Array<[string, (ws: WebSocket, socket: net.Socket) => void, number]> = [
      ['a text message', (ws) => ws.send('{"type":"subscribe","all":true}'), 1003],
      ['a binary message', (ws) => ws.send(Buffer.from([0, 1, 2, 0xff, 0xfe])), 1003],
      ['a text frame of invalid UTF-8', (ws) => ws.send(Buffer.from([0xc3, 0x28, 0xff]), { binary: false }), 1007],
      ['bytes that are no WebSocket frame', (_ws, socket) => socket.write('GET / HTTP/1.1\r\n\r\n'), 1002],
      ['a 10 MB frame', (ws) => ws.send(Buffer.alloc(10 * 1024 * 1024, 'x')), 1009],
    ];
    for (const [what, send, expected] of cases) {
      const { code, reason } = await attack(send);
      assert.equal(code, expected, `${what}: closed ${code} ${reason}`);
      await assertUp();
    }
    // All at once, too.
    const codes = await Promise.all(cases.map(([, send]) => attack(send).then((c) => c.code)));
    assert.deepEqual(codes, cases.map(([, , code]) => code));
    await assertUp();

    for (const received of await Promise.all(normal.map((s) => s.done))) assertEveryChunk(received, ticks.count);
  });

  test('headers over the size limit get 431 on plain GET and on a WebSocket upgrade; headers just under it are served', async () => {
    const ticks = { count: 300, intervalMs: 10, bytes: 200, delayMs: 500 };
    const runId = await trigger(ticks);
    const normal = await subscriber(runId);
    const path = `/api/v1/runs/${runId}/stream`;

    const big = 'a'.repeat(MAX_HEADER_BYTES + 1024);
    const plain = await rawHttp(gateway, (socket) => socket.write(`GET ${path} HTTP/1.1\r\nHost: gateway\r\nX-Big: ${big}\r\n\r\n`));
    assert.equal(statusLine(plain.response), 'HTTP/1.1 431 Request Header Fields Too Large');
    assert.match(plain.response, /\r\n\r\n\{"code":"HEADERS_TOO_LARGE","message":"request headers exceed 16 KiB"\}$/, 'the platform\'s JSON error');
    // Many small headers count the same as one big one.
    const many = Array.from({ length: 400 }, (_, i) => `X-H${i}: ${'b'.repeat(40)}\r\n`).join('');
    const manyPlain = await rawHttp(gateway, (socket) => socket.write(`GET ${path} HTTP/1.1\r\nHost: gateway\r\n${many}\r\n`));
    assert.equal(statusLine(manyPlain.response), 'HTTP/1.1 431 Request Header Fields Too Large');

    const ws = new WebSocket(streamUrl(runId), { headers: { 'x-big': big } });
    const refused = await new Promise<number>((resolve, reject) => {
      ws.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
      ws.once('open', () => reject(new Error('the upgrade was accepted')));
      ws.once('error', reject);
    });
    assert.equal(refused, 431);
    await assertUp();

    const under = await fetch(`${gateway}/healthz`, { headers: { 'x-big': 'a'.repeat(MAX_HEADER_BYTES - 1024) } });
    assert.equal(under.status, 200);
    assertEveryChunk(await normal.done, ticks.count);
  });

  test(`a client that sends nothing and a slowloris client (HTTP and upgrade) get 408 within ${HEADERS_DROP_MS / 1000} s; WebSocket subscribers that send nothing are served, and so is everyone else meanwhile`, async () => {
    // Streams for longer than the drop takes.
    const ticks = { count: 1300, intervalMs: 10, bytes: 200, delayMs: 500 };
    const runId = await trigger(ticks);
    const normal = await Promise.all(range(2).map(() => subscriber(runId)));
    const path = `/api/v1/runs/${runId}/stream`;

    /** Sends `head` one byte every 200 ms, then repeats its last line's value for ever: the headers never end. */
    const slowloris = (head: string) =>
      rawHttp(gateway, (socket) => {
        let i = 0;
        const drip = setInterval(() => {
          if (socket.destroyed) return clearInterval(drip);
          socket.write(i < head.length ? head[i++]! : 'a');
        }, 200);
      });
    const dropped = Promise.all([
      rawHttp(gateway, () => undefined),
      slowloris(`GET ${path} HTTP/1.1\r\nHost: gateway\r\nX-Slow: `),
      slowloris(`GET ${path} HTTP/1.1\r\nHost: gateway\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nX-Slow: `),
    ]);

    // Meanwhile the gateway takes runs and answers, as quickly as ever.
    let served = 0;
    let slowest = 0;
    let done = false;
    void dropped.finally(() => (done = true));
    while (!done) {
      const start = Date.now();
      await assertUp();
      const other = await trigger({ count: 1, intervalMs: 0, bytes: 10 });
      assert.equal((await fetch(`${gateway}/api/v1/runs/${other}`)).status, 200);
      slowest = Math.max(slowest, Date.now() - start);
      served++;
      await sleep(250);
    }
    assert.ok(served >= 10, `${served} rounds of requests served meanwhile`);
    assert.ok(slowest < 2000, `each round answered within 2 s (slowest ${slowest} ms)`);

    const [silent, slow, slowUpgrade] = await dropped;
    for (const [what, result] of [['silent', silent], ['slowloris', slow], ['slowloris upgrade', slowUpgrade]] as const) {
      assert.equal(statusLine(result.response), 'HTTP/1.1 408 Request Timeout', what);
      assert.match(result.response, /"code":"REQUEST_TIMEOUT"/, what);
      assert.ok(result.closedAfterMs <= HEADERS_DROP_MS + 1500, `${what}: dropped after ${result.closedAfterMs} ms`);
    }

    for (const received of await Promise.all(normal.map((s) => s.done))) assertEveryChunk(received, ticks.count);
  });

  test('1,000 subscribers that never read beside 10 that do, on one run that streams 8 MB: the 1,000 are closed 1013, the 10 get every chunk in order', async () => {
    const vm = (field: 'VmHWM' | 'VmRSS') => {
      const kb = Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${gatewayPid}/status`, 'utf8'))![1]);
      return Math.round(kb / 1024);
    };
    const peakBefore = vm('VmHWM');
    const ticks = { count: 4000, intervalMs: 2, bytes: 2000, delayMs: 4000 };
    const runId = await trigger(ticks);
    const normal = await Promise.all(range(10).map(() => subscriber(runId)));

    // Each opens, then stops reading: the gateway's writes pile up in the kernel and then in its own buffer.
    const started = Date.now();
    /** Bytes each non-reading subscriber was sent, read once it resumes. */
    const sizes: number[] = [];
    const slow: Array<{ ws: WebSocket; closed: Promise<{ code: number; reason: string }> }> = [];
    for (let batch = 0; batch < 10; batch++) {
      slow.push(
        ...(await Promise.all(
          range(100).map(async () => {
            const ws = new WebSocket(streamUrl(runId));
            const closed = closeOf(ws);
            await opened(ws);
            ws.pause();
            let sent = 0;
            ws.on('message', (data: Buffer) => (sent += data.length));
            ws.once('close', () => sizes.push(sent));
            return { ws, closed };
          }),
        )),
      );
    }
    const connectedMs = Date.now() - started;

    const received = await Promise.all(normal.map((s) => s.done));
    const peak = vm('VmHWM');
    // The 1,000 read at last: what the gateway wrote before closing them, then its close frame.
    for (const s of slow) s.ws.resume();
    const codes = await Promise.all(slow.map((s) => s.closed.then((c) => c.code)));
    sizes.sort((a, b) => a - b);
    const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(2);
    const tally = new Map<number, number>();
    for (const code of codes) tally.set(code, (tally.get(code) ?? 0) + 1);
    console.log(`# 1,000 non-reading subscribers connected in ${connectedMs} ms; closed with ${[...tally].map(([c, n]) => `${c}×${n}`).join(', ')}`);
    console.log(`# each was sent ${mib(sizes[0]!)}–${mib(sizes.at(-1)!)} MiB (median ${mib(sizes[500]!)}) before its close: the kernel's socket buffers, then the gateway's ${BUFFER_BYTES / 1024} KiB`);
    console.log(`# gateway peak RSS (VmHWM): ${peakBefore} MiB before, ${peak} MiB during the 1,000 non-reading + 10 reading subscribers (buffer ${BUFFER_BYTES / 1024} KiB each); now ${vm('VmRSS')} MiB`);

    for (const r of received) assertEveryChunk(r, ticks.count);
    assert.deepEqual([...tally], [[1013, 1000]]);
    const metrics = await (await fetch(`${gateway}/metrics`)).text();
    assert.match(metrics, /^chute_gateway_stream_slow_closed_total(?:\{\})? 1000$/m);
    await assertUp();
    await waitFor(async () => /^chute_gateway_stream_subscribers(?:\{\})? 0$/m.test(await (await fetch(`${gateway}/metrics`)).text()), {
      message: 'every subscriber to be gone',
    });
  });
});
