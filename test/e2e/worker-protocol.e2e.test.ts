import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { GatewayMessage, StreamMessage, type RunEvent, type RunView, type WorkerMessage } from '@chute/schemas';
import { Chute } from '@chute/sdk';
import { silentLogger } from '@chute/runtime';
import { Platform, waitFor } from '@chute/testing';
import { openAudit, readAll, type Audit } from '../support/audit';
import { runResult, streamText, triggerRun } from '../support/gateway';

// The worker protocol against the real gateway: a worker with no Kafka client,
// speaking JSON over a WebSocket, serves tasks like any worker on the log.

/** A bare protocol client: what every SDK in another language implements. */
class ProtocolWorker {
  readonly received: GatewayMessage[] = [];
  readonly socket: WebSocket;
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly handlers = new Set<(message: GatewayMessage) => void>();

  constructor(gateway: string) {
    this.socket = new WebSocket(`${gateway.replace(/^http/, 'ws')}/api/v1/workers/connect`);
    this.socket.on('message', (data) => {
      const message = GatewayMessage.parse(JSON.parse(String(data)));
      this.received.push(message);
      for (const handler of this.handlers) handler(message);
    });
    this.closed = new Promise((resolve) => this.socket.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  }

  /**
   * Connects and registers; from then on it heartbeats at the interval the
   * gateway asks for, as every SDK's worker does, until its socket closes.
   * Without that, a worker given no run for longer than the scheduler's
   * heartbeat timeout (3 s here) is presumed dead, and a busy machine gets
   * there before the test's runs are all dispatched.
   */
  static async register(gateway: string, tasks: string[], slots = 10): Promise<{ worker: ProtocolWorker; workerId: string }> {
    const worker = new ProtocolWorker(gateway);
    await new Promise((resolve, reject) => worker.socket.once('open', resolve).once('error', reject));
    worker.send({ type: 'register', name: 'protocol-test', tasks, slots });
    const registered = await worker.next('registered');
    const beat = setInterval(() => {
      if (worker.socket.readyState === WebSocket.OPEN) worker.send({ type: 'heartbeat' });
    }, registered.heartbeatIntervalMs);
    worker.socket.on('close', () => clearInterval(beat));
    return { worker, workerId: registered.workerId };
  }

  on(handler: (message: GatewayMessage) => void): void {
    this.handlers.add(handler);
  }

  send(message: WorkerMessage | Record<string, unknown>): void {
    this.socket.send(JSON.stringify(message));
  }

  /** The first message of this type received (already or from now on). */
  async next<T extends GatewayMessage['type']>(type: T, timeoutMs = 20_000): Promise<Extract<GatewayMessage, { type: T }>> {
    const find = () => this.received.find((m) => m.type === type) as Extract<GatewayMessage, { type: T }> | undefined;
    await waitFor(() => find() !== undefined, { timeoutMs, message: `a ${type} message` });
    return find()!;
  }
}

describe('worker protocol (/api/v1/workers/connect)', () => {
  let platform: Platform;
  let audit: Audit;

  before(async () => {
    // Quick liveness, so a worker behind a dead gateway is presumed dead within seconds.
    platform = await Platform.start({ workers: 0, env: { CHUTE_HEARTBEAT_TIMEOUT_MS: '3000', CHUTE_WORKER_HEARTBEAT_INTERVAL_MS: '500' } });
    audit = await openAudit(platform.env);
  });

  after(async () => {
    await audit?.stop();
    await platform?.stop();
  });

  test('a worker over the protocol runs a task: started, chunks in order, completed; the stream and the run say so', async () => {
    const { worker, workerId } = await ProtocolWorker.register(platform.gatewayUrl, ['remote-words']);
    worker.on((message) => {
      if (message.type !== 'assigned') return;
      const { runId, attempt } = message;
      worker.send({ type: 'started', runId, attempt });
      for (const word of ['one ', 'two ', 'three']) worker.send({ type: 'chunk', runId, attempt, data: word });
      worker.send({ type: 'chunk', runId, attempt, data: Buffer.from('!').toString('base64'), encoding: 'base64' });
      worker.send({ type: 'completed', runId, attempt, output: { words: 3 } });
    });
    const runId = await triggerRun(platform.gatewayUrl, 'remote-words');
    const [streamed, run] = await Promise.all([streamText(platform.gatewayUrl, runId), runResult(platform.gatewayUrl, runId)]);
    assert.deepEqual(streamed, { text: 'one two three!', status: 'COMPLETED' });
    assert.equal(run.status, 'COMPLETED');
    assert.deepEqual(run.output, { words: 3 });
    assert.equal(run.workerId, workerId);
    const events = (await readAll<RunEvent>(audit, audit.topics.runEvents)).filter((e) => e.runId === runId);
    assert.deepEqual(events.map((e) => e.type), ['RunRequested', 'RunDispatched', 'RunStarted', 'RunCompleted']);
    worker.socket.close(1000);
  });

  test('a failure reported by the worker fails the run with its error, not retried when it says so', async () => {
    const { worker } = await ProtocolWorker.register(platform.gatewayUrl, ['remote-fail']);
    worker.on((message) => {
      if (message.type !== 'assigned') return;
      worker.send({ type: 'started', runId: message.runId, attempt: message.attempt });
      worker.send({ type: 'failed', runId: message.runId, attempt: message.attempt, error: { name: 'ValueError', message: 'bad input', nonRetryable: true } });
    });
    const response = await fetch(`${platform.gatewayUrl}/api/v1/tasks/remote-fail/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: {}, retries: 3 }),
    });
    const { runId } = (await response.json()) as { runId: string };
    const run = await runResult(platform.gatewayUrl, runId);
    assert.equal(run.status, 'FAILED');
    assert.equal(run.attempt, 1, 'a non-retryable failure spends no retry');
    assert.deepEqual([run.error?.name, run.error?.message], ['ValueError', 'bad input']);
    worker.socket.close(1000);
  });

  test('never more assignments at once than the slots it registered', async () => {
    const { worker } = await ProtocolWorker.register(platform.gatewayUrl, ['remote-slow'], 2);
    let running = 0;
    let peak = 0;
    worker.on((message) => {
      if (message.type !== 'assigned') return;
      running++;
      peak = Math.max(peak, running);
      worker.send({ type: 'started', runId: message.runId, attempt: message.attempt });
      setTimeout(() => {
        running--;
        worker.send({ type: 'completed', runId: message.runId, attempt: message.attempt, output: null });
      }, 100);
    });
    const ids = await Promise.all(Array.from({ length: 8 }, () => triggerRun(platform.gatewayUrl, 'remote-slow')));
    const runs = await Promise.all(ids.map((id) => runResult(platform.gatewayUrl, id)));
    assert.deepEqual(runs.map((r) => r.status), ids.map(() => 'COMPLETED'));
    assert.equal(peak, 2);
    worker.socket.close(1000);
  });

  test('a worker that disconnects mid-run gives the run up: another worker runs it as attempt 2', async () => {
    const { worker: first } = await ProtocolWorker.register(platform.gatewayUrl, ['remote-handover']);
    const runId = await triggerRun(platform.gatewayUrl, 'remote-handover');
    const assigned = await first.next('assigned');
    first.send({ type: 'started', runId, attempt: assigned.attempt });
    first.send({ type: 'chunk', runId, attempt: assigned.attempt, data: 'lost with the first worker' });
    first.socket.terminate();

    const { worker: second } = await ProtocolWorker.register(platform.gatewayUrl, ['remote-handover']);
    const again = await second.next('assigned');
    assert.equal(again.runId, runId);
    assert.equal(again.attempt, 2);
    second.send({ type: 'started', runId, attempt: 2 });
    second.send({ type: 'completed', runId, attempt: 2, output: 'second' });
    const run = await runResult(platform.gatewayUrl, runId);
    assert.deepEqual([run.status, run.attempt, run.output], ['COMPLETED', 2, 'second']);
    second.socket.close(1000);
  });

  test('a chunk over 1 MiB fails its attempt with a clear error, and the socket stays open', async () => {
    const { worker } = await ProtocolWorker.register(platform.gatewayUrl, ['remote-big']);
    const runId = await triggerRun(platform.gatewayUrl, 'remote-big');
    const assigned = await worker.next('assigned');
    worker.send({ type: 'started', runId, attempt: assigned.attempt });
    worker.send({ type: 'chunk', runId, attempt: assigned.attempt, data: 'x'.repeat(1024 * 1024 + 1) });
    const error = await worker.next('error');
    assert.equal(error.code, 'CHUNK_TOO_LARGE');
    assert.equal((await worker.next('cancel')).runId, runId);
    const run = await runResult(platform.gatewayUrl, runId);
    assert.equal(run.status, 'FAILED');
    assert.match(run.error?.message ?? '', /exceeds the limit of 1048576 bytes/);
    assert.equal(worker.socket.readyState, WebSocket.OPEN);
    worker.socket.close(1000);
  });

  test('malformed messages close the socket with a code naming the problem; the gateway stays up', async () => {
    const notJson = new ProtocolWorker(platform.gatewayUrl);
    await new Promise((resolve) => notJson.socket.once('open', resolve));
    notJson.socket.send('{not json');
    assert.equal((await notJson.closed).code, 1007);
    assert.equal((await notJson.next('error')).code, 'INVALID_JSON');

    const badField = new ProtocolWorker(platform.gatewayUrl);
    await new Promise((resolve) => badField.socket.once('open', resolve));
    badField.send({ type: 'register', name: 'x', tasks: [], slots: 1 });
    const closed = await badField.closed;
    assert.equal(closed.code, 1008);
    assert.match((await badField.next('error')).message, /tasks/);

    const early = new ProtocolWorker(platform.gatewayUrl);
    await new Promise((resolve) => early.socket.once('open', resolve));
    early.send({ type: 'heartbeat' });
    assert.equal((await early.closed).code, 1008);
    assert.equal((await early.next('error')).code, 'NOT_REGISTERED');

    const deep = new ProtocolWorker(platform.gatewayUrl);
    await new Promise((resolve) => deep.socket.once('open', resolve));
    deep.socket.send(`{"type":"register","name":${'['.repeat(50_000)}${']'.repeat(50_000)}}`);
    assert.equal((await deep.closed).code, 1008);
    assert.match((await deep.next('error')).message, /nests deeper than 128 levels/);

    assert.equal((await fetch(`${platform.gatewayUrl}/readyz`)).status, 200);
  });

  test("the TypeScript SDK's worker over the gateway transport runs a streaming task", async () => {
    const chute = Chute.init({ gatewayUrl: platform.gatewayUrl, logger: silentLogger });
    const task = chute.task({
      name: 'ts-over-gateway',
      fn: async (input: { words: string[] }, ctx) => {
        for (const word of input.words) void ctx.putStream(word);
        void ctx.putStream(new Uint8Array(Buffer.from('!')));
        return { count: input.words.length };
      },
    });
    const worker = await chute.worker('ts-gateway-worker', { workflows: [task], slots: 4, transport: 'gateway', handleKill: false });
    await worker.ready();
    try {
      const ref = await task.runNoWait({ words: ['uno ', 'dos ', 'tres'] });
      const [streamed, output] = await Promise.all([streamText(platform.gatewayUrl, ref.runId), ref.result()]);
      assert.deepEqual(streamed, { text: 'uno dos tres!', status: 'COMPLETED' });
      assert.deepEqual(output, { count: 3 });
      assert.equal((await chute.runs.get(ref.runId)).workerId, worker.workerId);
    } finally {
      await worker.stop();
    }
  });

  test('when its gateway dies, a worker reconnects to another one, and its run is reassigned there', async () => {
    const doomed = await platform.startService('gateway');
    const chute = Chute.init({ gatewayUrl: `${Platform.addressOf(doomed)},${platform.gatewayUrl}`, logger: silentLogger });
    let attempts = 0;
    const task = chute.task({
      name: 'survives-its-gateway',
      fn: async (_: unknown, ctx) => {
        attempts++;
        // The first attempt waits to be stopped; the second completes.
        if (ctx.attempt === 1) await new Promise((resolve) => ctx.abortSignal.addEventListener('abort', resolve));
        return `attempt ${ctx.attempt}`;
      },
    });
    const worker = await chute.worker('gateway-hopper', { workflows: [task], transport: 'gateway', handleKill: false });
    await worker.ready();
    const first = worker.workerId;
    try {
      const ref = await task.runNoWait({});
      await waitFor(() => attempts === 1, { message: 'the first attempt to start' });
      await doomed.kill();
      const run = await runResult(platform.gatewayUrl, ref.runId);
      assert.deepEqual([run.status, run.attempt, run.output], ['COMPLETED', 2, 'attempt 2']);
      assert.notEqual(run.workerId, first, 'the second attempt ran under the worker\'s new registration');
      assert.equal(run.workerId, worker.workerId);
    } finally {
      await worker.stop();
    }
  });
});

// Forty workers in one test process on a busy machine: on the file's quick
// liveness (a 3 s heartbeat timeout) a stalled moment got some of them presumed
// dead and their runs dispatched again as attempt 2, which is not what this
// test is about. Its own platform keeps the default liveness.
describe('worker protocol: many workers on one gateway', () => {
  let platform: Platform;
  let audit: Audit;

  before(async () => {
    platform = await Platform.start({ workers: 0 });
    audit = await openAudit(platform.env);
  });

  after(async () => {
    await audit?.stop();
    await platform?.stop();
  });

  test('forty workers on one gateway share one dispatch reader per partition, and each still gets only its own runs', async () => {
    const gateway = platform.gatewayUrl;
    const metric = async (name: string): Promise<number> => {
      const text = await (await fetch(`${gateway}/metrics`)).text();
      return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
    };
    const workers = await Promise.all(Array.from({ length: 40 }, () => ProtocolWorker.register(gateway, ['remote-shared'], 1)));
    const ran = new Map<string, string[]>();
    const assignments: string[] = [];
    for (const { worker, workerId } of workers) {
      worker.on((message) => {
        if (message.type !== 'assigned') return;
        ran.set(workerId, [...(ran.get(workerId) ?? []), message.runId]);
        assignments.push(`${message.runId} attempt ${message.attempt} to ${workerId}`);
        worker.send({ type: 'started', runId: message.runId, attempt: message.attempt });
        worker.send({ type: 'completed', runId: message.runId, attempt: message.attempt, output: workerId });
      });
    }
    const partitions = new Set(await Promise.all(workers.map(({ workerId }) => audit.log.partitionOf(audit.topics.dispatch.name, workerId))));
    assert.equal(await metric('chute_gateway_workers_connected'), 40);
    // 40 workers over 32 partitions: some share one, and share its reader.
    assert.ok(partitions.size < 40, `${partitions.size} partitions`);
    assert.equal(await metric('chute_gateway_dispatch_readers'), partitions.size);

    const ids = await Promise.all(Array.from({ length: 80 }, () => triggerRun(gateway, 'remote-shared')));
    const runs = await Promise.all(ids.map((id) => runResult(gateway, id)));
    assert.deepEqual(runs.map((r) => r.status), ids.map(() => 'COMPLETED'));
    // Each run was assigned once, to the one worker the scheduler dispatched it to, which ran it.
    const twice = assignments.filter((a) => assignments.filter((b) => b.split(' ')[0] === a.split(' ')[0]).length > 1);
    assert.equal(assignments.length, 80, `eighty assignments in all; more than one for: ${twice.join('; ')}`);
    assert.equal(new Set([...ran.values()].flat()).size, 80, 'no run assigned twice');
    for (const run of runs) {
      assert.equal(run.output, run.workerId, `run ${run.runId} ran on the worker it was dispatched to`);
      assert.ok(ran.get(run.workerId!)?.includes(run.runId));
    }

    for (const { worker } of workers) worker.socket.close(1000);
    await waitFor(async () => (await metric('chute_gateway_dispatch_readers')) === 0, { message: 'the readers to stop with their last worker' });
  });
});
