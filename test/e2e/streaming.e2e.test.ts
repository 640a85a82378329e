import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { Chute, ChuteApiError, type TaskWorker } from '@chute/sdk';
import { Platform, repoRoot, waitFor } from '@chute/testing';

// The seed end to end, and the stream's semantics, against the real broker: the
// platform's services as processes, tasks in a worker in this process.
describe('streaming end to end', () => {
  let platform: Platform;
  let chute: Chute;
  let worker: TaskWorker;
  let served: Promise<void>;

  before(async () => {
    platform = await Platform.start({ workers: 0, env: { CHUTE_STREAM_BUFFER_BYTES: String(256 * 1024) } });
    chute = Chute.init({ gatewayUrl: platform.gatewayUrl, brokers: platform.env['CHUTE_KAFKA_BROKERS'], topicPrefix: platform.env['CHUTE_TOPIC_PREFIX'] });
    worker = await chute.worker('stream-tests', {
      slots: 20,
      workflows: [
        chute.task({
          name: 'chunks',
          fn: async (input: { n: number; startDelayMs: number; everyMs: number }, ctx) => {
            await sleep(input.startDelayMs);
            for (let i = 0; i < input.n; i++) {
              void ctx.putStream(`${i}:é🙂|`);
              if (input.everyMs > 0) await sleep(input.everyMs);
            }
            return input.n;
          },
        }),
        chute.task({
          name: 'retried-stream',
          retries: 1,
          fn: async (_: unknown, ctx) => {
            await sleep(ctx.attempt === 1 ? 1000 : 0);
            for (let i = 0; i < 3; i++) await ctx.putStream(`a${ctx.attempt}-${i} `);
            if (ctx.attempt === 1) throw new Error('first attempt fails after streaming');
          },
        }),
        chute.task({
          name: 'bytes',
          fn: async (_: unknown, ctx) => {
            await sleep(1000);
            const text = Buffer.from('naïve 🙂 text', 'utf8');
            // Split inside the multi-byte characters on purpose.
            for (let i = 0; i < text.length; i += 3) void ctx.putStream(new Uint8Array(text.subarray(i, i + 3)));
          },
        }),
        chute.task({
          name: 'big',
          fn: async (input: { n: number; size: number; startDelayMs: number }, ctx) => {
            await sleep(input.startDelayMs);
            const chunk = 'x'.repeat(input.size);
            for (let i = 0; i < input.n; i++) {
              await ctx.putStream(chunk);
              if (i % 20 === 0) await sleep(5);
            }
          },
        }),
      ],
    });
    served = worker.start();
    await worker.ready();
  });

  after(async () => {
    await worker?.stop();
    await served;
    await platform?.stop();
  });

  const chunks = (input: { n: number; startDelayMs: number; everyMs: number }) =>
    chute.task({ name: 'chunks', fn: () => undefined }).runNoWait(input);
  const expected = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `${from + i}:é🙂|`).join('');
  const collect = async (iterable: AsyncIterable<string>) => {
    let out = '';
    for await (const piece of iterable) out += piece;
    return out;
  };

  describe("the seed's TypeScript examples", () => {
    // The seed's client reads its settings from the environment when first imported.
    before(() => {
      Object.assign(process.env, seedEnv());
    });
    const seedEnv = () => ({
      ...process.env,
      CHUTE_GATEWAY_URL: platform.gatewayUrl,
      CHUTE_KAFKA_BROKERS: platform.env['CHUTE_KAFKA_BROKERS']!,
      CHUTE_TOPIC_PREFIX: platform.env['CHUTE_TOPIC_PREFIX']!,
    });
    const runSeed = (file: string) =>
      spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'test/seed', file)], { cwd: repoRoot, env: seedEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    const stopChild = async (child: ReturnType<typeof runSeed>) => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    };
    /** Starts the seed's worker and waits until it has registered. */
    const startSeedWorker = async () => {
      const child = runSeed('worker.ts');
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await waitFor(() => out.includes('"msg":"worker registered"'), { message: "the seed's worker to register" });
      return child;
    };

    test('worker + runNoWait + subscribeToStream print exactly the seed text', async () => {
      const seedWorker = await startSeedWorker();
      try {
        const consumer = runSeed('consumer.ts');
        let stdout = '';
        let stderr = '';
        const writes: number[] = [];
        consumer.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          writes.push(Date.now());
        });
        consumer.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const code = await new Promise<number | null>((resolve) => consumer.on('exit', resolve));
        assert.equal(code, 0, stderr);
        const { annaKarenina } = await import('../seed/task');
        assert.equal(stdout, annaKarenina);
        assert.ok(writes.length >= 10, `printed bit by bit (${writes.length} writes)`);
      } finally {
        await stopChild(seedWorker);
      }
    });

    test('the web-backend proxy streams the seed text as text/plain', async () => {
      const seedWorker = await startSeedWorker();
      try {
        const { GET } = await import('../seed/proxy');
        const { annaKarenina } = await import('../seed/task');
        const response = await GET();
        assert.equal(response.status, 200);
        assert.equal(response.headers.get('content-type'), 'text/plain');
        const reader = response.body!.getReader();
        const decoder = new TextDecoder();
        let text = '';
        let reads = 0;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          // The route hands the stream over as the iterable yields it: strings, which a server encodes.
          text += typeof value === 'string' ? value : decoder.decode(value, { stream: true });
          reads++;
        }
        assert.equal(text, annaKarenina);
        assert.ok(reads >= 10, `arrived as it was produced (${reads} reads)`);
      } finally {
        await stopChild(seedWorker);
      }
    });
  });

  test('2,000 un-awaited putStream calls arrive complete, in order, then the end; unicode intact', async () => {
    const ref = await chunks({ n: 2000, startDelayMs: 1000, everyMs: 0 });
    assert.equal(await collect(chute.runs.subscribeToStream(ref.runId)), expected(0, 2000));
  });

  test('bytes chunks split inside characters decode as UTF-8; raw gives the bytes', async () => {
    const bytes = chute.task({ name: 'bytes', fn: () => undefined });
    const ref = await bytes.runNoWait(null);
    const rawRef = await bytes.runNoWait(null);
    const [text, raw] = await Promise.all([
      collect(chute.runs.subscribeToStream(ref.runId)),
      (async () => {
        const parts: Uint8Array[] = [];
        for await (const p of chute.runs.subscribeToStream(rawRef.runId, { raw: true })) parts.push(p as Uint8Array);
        return Buffer.concat(parts);
      })(),
    ]);
    assert.equal(text, 'naïve 🙂 text');
    assert.equal(raw.toString('utf8'), 'naïve 🙂 text');
  });

  test('a subscriber attaching mid-stream gets a contiguous suffix; chunks before it are dropped', async () => {
    const ref = await chunks({ n: 60, startDelayMs: 500, everyMs: 20 });
    const full = collect(chute.runs.subscribeToStream(ref.runId));
    await sleep(1000);
    const late = await collect(chute.runs.subscribeToStream(ref.runId));
    const all = await full;
    assert.equal(all, expected(0, 60));
    assert.ok(late.length > 0 && late.length < all.length, 'the late subscriber missed the start');
    assert.ok(all.endsWith(late), 'and got an unbroken suffix');
    assert.match(late, /^\d+:é🙂\|/, 'starting at a chunk boundary');
  });

  test('three subscribers on two gateways get identical streams', async () => {
    const second = Chute.init({ gatewayUrl: await platform.startGateway() });
    const ref = await chunks({ n: 200, startDelayMs: 1500, everyMs: 2 });
    const streams = await Promise.all([
      collect(chute.runs.subscribeToStream(ref.runId)),
      collect(second.runs.subscribeToStream(ref.runId)),
      collect(second.runs.subscribeToStream(ref.runId)),
    ]);
    assert.equal(streams[0], expected(0, 200));
    assert.equal(streams[1], streams[0]);
    assert.equal(streams[2], streams[0]);
  });

  test('resume after a forced disconnect: WebSocket ?after= and SSE Last-Event-ID, no gap, no duplicate', async () => {
    const ref = await chunks({ n: 100, startDelayMs: 1000, everyMs: 10 });
    const wsUrl = (query: string) => `${platform.gatewayUrl.replace('http', 'ws')}/api/v1/runs/${ref.runId}/stream${query}`;
    // WebSocket: read 10 chunks, drop the connection, resume after the last one.
    const firstPart: Array<{ seq: number; data: string }> = [];
    const socket = new WebSocket(wsUrl(''));
    await new Promise<void>((resolve) =>
      socket.on('message', (m) => {
        firstPart.push(JSON.parse(String(m)) as { seq: number; data: string });
        if (firstPart.length === 10) {
          socket.terminate();
          resolve();
        }
      }),
    );
    const lastSeq = firstPart.at(-1)!.seq;
    const rest = await collect(chute.runs.subscribeToStream(ref.runId, { after: String(lastSeq) }));
    assert.equal(firstPart.map((m) => m.data).join('') + rest, expected(0, 100));

    // SSE: read some events, abort, reconnect with the last id.
    const sse = async (headers: Record<string, string>, stopAfter?: number) => {
      const controller = new AbortController();
      const response = await fetch(`${platform.gatewayUrl}/api/v1/runs/${ref.runId}/stream`, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
      assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/, response.ok ? '' : await response.text());
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      const events: Array<{ id?: string; event?: string; data: string }> = [];
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let split: number;
          while ((split = buffer.indexOf('\n\n')) >= 0 && !(stopAfter !== undefined && events.length >= stopAfter)) {
            const frame = buffer.slice(0, split);
            buffer = buffer.slice(split + 2);
            if (frame.startsWith(':')) continue;
            const fields = Object.fromEntries(frame.split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
            events.push(fields as { id?: string; event?: string; data: string });
          }
          if (stopAfter !== undefined && events.length >= stopAfter) {
            controller.abort();
            break;
          }
        }
      } catch (error) {
        if (!controller.signal.aborted) throw error;
      }
      return events;
    };
    const head = await sse({ 'last-event-id': '4' }, 20);
    assert.equal(head.length, 20);
    assert.ok(head.every((e) => e.event === 'chunk'));
    const tail = await sse({ 'last-event-id': head.at(-1)!.id! });
    const all = [...head, ...tail];
    assert.equal(all.at(-1)!.event, 'end');
    assert.deepEqual(JSON.parse(all.at(-1)!.data), { status: 'COMPLETED' });
    const data = all.filter((e) => e.event === 'chunk').map((e) => (JSON.parse(e.data) as { data: string }).data).join('');
    assert.equal(data, expected(5, 100));

    // A browser's EventSource reconnects to the very URL it opened, ?from=start included, with
    // Last-Event-ID: it resumes after that chunk instead of being replayed the whole stream.
    const reconnect = await fetch(`${platform.gatewayUrl}/api/v1/runs/${ref.runId}/stream?from=start`, {
      headers: { accept: 'text/event-stream', 'last-event-id': head.at(-1)!.id! },
    });
    const seqs = [...(await reconnect.text()).matchAll(/^data: (\{"seq":\d+.*)$/gm)].map((m) => (JSON.parse(m[1]!) as { seq: number }).seq);
    assert.equal(seqs[0], Number(head.at(-1)!.id) + 1);
    assert.equal(seqs.length, 100 - seqs[0]!);
  });

  test('from=start after the run ended replays the whole stream; without it the stream ends at once', async () => {
    const ref = await chunks({ n: 30, startDelayMs: 0, everyMs: 0 });
    await ref.result();
    assert.equal(await collect(chute.runs.subscribeToStream(ref.runId, { from: 'start' })), expected(0, 30));
    const plain = await fetch(`${platform.gatewayUrl}/api/v1/runs/${ref.runId}/stream?from=start`);
    assert.match(plain.headers.get('content-type') ?? '', /^text\/plain; charset=utf-8/);
    assert.equal(await plain.text(), expected(0, 30));
    const ended = await fetch(`${platform.gatewayUrl}/api/v1/runs/${ref.runId}/stream`, { headers: { accept: 'text/event-stream' } });
    assert.equal(await ended.text(), 'event: end\ndata: {"status":"COMPLETED"}\n\n');
    const messages: string[] = [];
    const socket = new WebSocket(`${platform.gatewayUrl.replace('http', 'ws')}/api/v1/runs/${ref.runId}/stream`);
    socket.on('message', (m) => messages.push(String(m)));
    const [code] = await new Promise<[number]>((resolve) => socket.on('close', (c) => resolve([c])));
    assert.equal(code, 1000);
    assert.deepEqual(messages, ['{"type":"end","status":"COMPLETED"}']);
  });

  test('a replay is read from the gateway\'s memory when the run began after its tail did, and from the log otherwise (a gateway started later)', async () => {
    const replays = async (gateway: string): Promise<Record<string, number>> => {
      const text = await (await fetch(`${gateway}/metrics`)).text();
      return Object.fromEntries([...text.matchAll(/^chute_gateway_stream_replays_total\{from="(\w+)"\} (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]));
    };
    // This gateway's tail started long before (earlier tests): the run's records are all in its memory.
    const before = await replays(platform.gatewayUrl);
    const ref = await chunks({ n: 40, startDelayMs: 0, everyMs: 0 });
    await ref.result();
    assert.equal(await collect(chute.runs.subscribeToStream(ref.runId, { from: 'start' })), expected(0, 40));
    // Counted once the replay has read up to where the subscription began, which may be just after the client has the stream's end.
    let after: Record<string, number> = {};
    await waitFor(async () => (after = await replays(platform.gatewayUrl))['memory'] !== before['memory'], { message: 'the replay to be counted' });
    assert.equal((after['memory'] ?? 0) - (before['memory'] ?? 0), 1, JSON.stringify({ before, after }));
    assert.equal(after['log'] ?? 0, before['log'] ?? 0);

    // A gateway started after the run has none of it in memory: it reads the log, and streams the same.
    const late = await platform.startGateway();
    const replayed = await fetch(`${late}/api/v1/runs/${ref.runId}/stream?from=start`);
    assert.equal(await replayed.text(), expected(0, 40));
    await waitFor(async () => (await replays(late))['log'] === 1, { message: 'the late gateway to count its replay from the log' });
    assert.deepEqual(await replays(late), { log: 1 });
  });

  test('a subscriber that never reads is closed past its buffer; one beside it gets everything', async () => {
    const ref = await chute.task({ name: 'big', fn: () => undefined }).runNoWait({ n: 400, size: 16 * 1024, startDelayMs: 1500 });
    const url = new URL(platform.gatewayUrl);
    // A WebSocket client that completes the handshake and then never reads a byte.
    const stalled = net.connect(Number(url.port), url.hostname);
    await new Promise((resolve) => stalled.once('connect', resolve));
    stalled.write(
      `GET /api/v1/runs/${ref.runId}/stream HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${Buffer.from(randomUUID().slice(0, 16)).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    await sleep(200);
    stalled.pause();
    const healthy = collect(chute.runs.subscribeToStream(ref.runId));
    const closedSlow = async () => {
      const metrics = await (await fetch(`${platform.gatewayUrl}/metrics`)).text();
      return /chute_gateway_stream_slow_closed_total [1-9]/.test(metrics);
    };
    await waitFor(closedSlow, { timeoutMs: 60_000, message: 'the stalled subscriber to be closed as slow' });
    const text = await healthy;
    assert.equal(text.length, 400 * 16 * 1024);
    stalled.destroy();
  });

  describe('bad requests', () => {
    test('an unknown run is 404 over HTTP and refuses the WebSocket', async () => {
      const response = await fetch(`${platform.gatewayUrl}/api/v1/runs/${randomUUID()}/stream`);
      assert.equal(response.status, 404);
      assert.equal(((await response.json()) as { code: string }).code, 'RUN_NOT_FOUND');
      await assert.rejects(collect(chute.runs.subscribeToStream(randomUUID())), (e: unknown) => e instanceof ChuteApiError && e.status === 404);
    });

    test('a malformed resume position is 400 naming it', async () => {
      const ref = await chunks({ n: 1, startDelayMs: 0, everyMs: 0 });
      const response = await fetch(`${platform.gatewayUrl}/api/v1/runs/${ref.runId}/stream?after=banana`);
      assert.equal(response.status, 400);
      assert.match(((await response.json()) as { message: string }).message, /^after: must be a chunk position/);
      const header = await fetch(`${platform.gatewayUrl}/api/v1/runs/${ref.runId}/stream`, { headers: { 'last-event-id': '-3' } });
      assert.equal(header.status, 400);
    });
  });

  test('a retried run marks where the retry begins: WebSocket and SSE say so, the SDK tells onAttempt', async () => {
    const runId = (await (await fetch(`${platform.gatewayUrl}/api/v1/tasks/retried-stream/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: null, retries: 1 }),
    })).json() as { runId: string }).runId;
    const wsUrl = `${platform.gatewayUrl.replace('http', 'ws')}/api/v1/runs/${runId}/stream`;
    const ws = new WebSocket(wsUrl);
    const sseResponse = fetch(`${platform.gatewayUrl}/api/v1/runs/${runId}/stream`, { headers: { accept: 'text/event-stream' } });
    const sdk = (async () => {
      const attempts: number[] = [];
      let text = '';
      for await (const chunk of chute.runs.subscribeToStream(runId, { onAttempt: (a) => attempts.push(a) })) text += chunk;
      return { attempts, text };
    })();
    const messages: unknown[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.on('message', (data) => void messages.push(JSON.parse(String(data))));
      ws.on('close', () => resolve());
      ws.on('error', reject);
    });
    const data = (attempt: number) => [0, 1, 2].map((i) => `a${attempt}-${i} `);
    assert.deepEqual(
      messages.map((m) => {
        const x = m as { type: string; data?: string; attempt?: number; status?: string };
        return x.type === 'chunk' ? x.data : x.type === 'attempt' ? `attempt ${x.attempt}` : `end ${x.status}`;
      }),
      [...data(1), 'attempt 2', ...data(2), 'end COMPLETED'],
    );
    const sse = await (await sseResponse).text();
    assert.match(sse, /event: chunk\n[^]*a1-2 [^]*event: attempt\ndata: \{"attempt":2\}\n\n[^]*a2-0 /);
    assert.deepEqual(await sdk, { attempts: [2], text: [...data(1), ...data(2)].join('') });
  });
});
