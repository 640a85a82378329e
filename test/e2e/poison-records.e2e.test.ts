import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { KafkaLog, type AppendRecord } from '@chute/log';
import { silentLogger } from '@chute/runtime';
import { DISPATCH_WORKER_HEADER, GatewayMessage, StreamMessage, type DeadLetter, type RunView } from '@chute/schemas';
import { Platform, uniqueName, waitFor, type ServiceProcess } from '@chute/testing';
import { openAudit, readAll, type Audit } from '../support/audit';
import { runResult, streamText, triggerRun } from '../support/gateway';
import { annaKarenina } from '../seed/task';

// Records a foreign producer writes straight to the broker, that no reader of
// ours can decode: every consumer logs each, counts it in
// chute_log_invalid_records_total{topic} and skips it, and goes on. Checked
// per consumer and topic against the whole platform as processes, then by
// the platform still doing its work: runs complete, stream and are projected.

type TopicName = 'run-events' | 'worker-events' | 'stream' | 'dispatch';

const INVALID = 'chute_log_invalid_records_total';
const SKIPPED_MSG = 'skipped undecodable record';

/** JSON nested this deep overflows a recursive schema check; 20 KB on the wire. */
const DEEP = '['.repeat(10_000) + ']'.repeat(10_000);

/**
 * Valid-looking records of each topic but for one field, so the decoder must
 * look at every field to refuse them (`bad`), and a deeply nested `input` where
 * the topic's schema has a JSON field (`deep`).
 */
function lookalikes(topic: TopicName, key: string): { bad: object; typical: object; deep?: string } {
  const at = Date.now();
  switch (topic) {
    case 'run-events': {
      const requested = { v: 1, type: 'RunRequested', runId: randomUUID(), at, tenant: 'default', task: 'noop', input: null, retries: 0, executionTimeoutMs: 5000 };
      return {
        typical: requested,
        bad: { ...requested, runId: 'not-a-uuid' },
        deep: JSON.stringify(requested).replace('"input":null', `"input":${DEEP}`),
      };
    }
    case 'worker-events': {
      const registered = { v: 1, type: 'WorkerRegistered', workerId: `ghost-${key.slice(0, 8)}`, at, tenant: 'default', name: 'ghost', tasks: ['noop'], slots: 1 };
      return { typical: registered, bad: { ...registered, slots: -1 } };
    }
    case 'stream': {
      const chunk = { v: 1, type: 'StreamChunk', runId: key, at, attempt: 1, seq: 0, encoding: 'utf8', data: 'forged' };
      return { typical: chunk, bad: { ...chunk, seq: -1 } };
    }
    case 'dispatch': {
      const dispatched = {
        v: 1,
        type: 'RunDispatched',
        runId: randomUUID(),
        at,
        task: 'noop',
        input: null,
        attempt: 1,
        workerId: key,
        deadlineAt: at + 5000,
        retriesLeft: 0,
        retryDelayMs: 500,
      };
      return {
        typical: dispatched,
        bad: { ...dispatched, attempt: 0 },
        deep: JSON.stringify(dispatched).replace('"input":null', `"input":${DEEP}`),
      };
    }
  }
}

/**
 * One of each kind of poison for a topic, keyed `key` (so each lands where a
 * reader of that key looks), with `headers` on every record.
 */
function poison(topic: TopicName, key: string, oddKey: string, headers: Record<string, string> = {}): AppendRecord[] {
  const { typical, bad, deep } = lookalikes(topic, key);
  const values: Array<string | Buffer> = [
    '{"v":1,"type":', // cut short: not JSON
    '', // empty, as a tombstone reads
    randomBytes(256), // binary, not even UTF-8
    DEEP, // JSON, nested deep, not an object
    '[{"v":1}]', // JSON, not an object
    'null',
    JSON.stringify({ hello: 'world' }), // an object of the wrong shape
    JSON.stringify({ ...typical, v: undefined }), // no version
    JSON.stringify({ ...typical, v: 99 }), // a version newer than any reader knows
    JSON.stringify({ ...typical, v: 1.5 }),
    JSON.stringify({ ...typical, type: 'SomethingElse' }), // an unknown record type
    JSON.stringify(bad), // valid-looking, one field wrong
    'x'.repeat(900_000), // large, and not JSON
    ...(deep ? [deep] : []), // valid-looking, with a JSON field nested too deep to check
  ];
  return [
    ...values.map((value) => ({ key, value, headers })),
    // A long key of odd characters, on the same partition as `key`.
    { key: oddKey, value: '\u0000\u0001{]', headers },
  ];
}

async function metric(baseUrl: string, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const key = `{${Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}}`;
  const line = text.split('\n').find((l) => l.startsWith(`${name}${key} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

async function ready(baseUrl: string): Promise<boolean> {
  return (await fetch(`${baseUrl}/readyz`).catch(() => undefined))?.status === 200;
}

/** A bare worker-protocol client, as an SDK in another language is. */
async function protocolWorker(gateway: string, task: string): Promise<{ workerId: string; assigned: string[]; socket: WebSocket }> {
  const socket = new WebSocket(`${gateway.replace(/^http/, 'ws')}/api/v1/workers/connect`);
  const assigned: string[] = [];
  let workerId: string | undefined;
  socket.on('message', (data) => {
    const message = GatewayMessage.parse(JSON.parse(String(data)));
    if (message.type === 'registered') workerId = message.workerId;
    if (message.type !== 'assigned') return;
    assigned.push(message.runId);
    socket.send(JSON.stringify({ type: 'started', runId: message.runId, attempt: message.attempt }));
    socket.send(JSON.stringify({ type: 'completed', runId: message.runId, attempt: message.attempt, output: { by: 'protocol' } }));
  });
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  socket.send(JSON.stringify({ type: 'register', name: 'poison-test', tasks: [task], slots: 4 }));
  await waitFor(() => workerId !== undefined, { timeoutMs: 20_000, message: 'registered' });
  return { workerId: workerId!, assigned, socket };
}

describe('poison records: what no reader can decode is logged, counted and skipped by every consumer', () => {
  let platform: Platform;
  let log: KafkaLog;
  let audit: Audit;
  let prefix: string;
  let scheduler: ServiceProcess;
  let projector: ServiceProcess;
  let gateway: ServiceProcess;
  let worker: ServiceProcess;
  const stopped = new Set<ServiceProcess>();
  const sent = new Map<TopicName, number>();

  const topic = (name: TopicName | 'dead-letter'): string => `${prefix}.${name}`;
  const probes = (service: ServiceProcess): string => (service === gateway ? platform.gatewayUrl : Platform.probesOf(service));

  /** A key of `base`'s partition of the topic, 10,000 characters of odd text long. */
  async function oddKeyLike(name: TopicName, base: string): Promise<string> {
    const partition = await log.partitionOf(topic(name), base);
    for (;;) {
      const key = `🙂\u0007\u00ff${'\u2028'.repeat(100)}${randomUUID()}`.padEnd(10_000, '\u{1F4A9}');
      if ((await log.partitionOf(topic(name), key)) === partition) return key;
    }
  }

  async function send(name: TopicName, records: readonly AppendRecord[]): Promise<void> {
    for (const record of records) await log.append(topic(name), [record]);
    sent.set(name, (sent.get(name) ?? 0) + records.length);
  }

  /** Every record sent to the topic so far is counted by the consumer (at least once: a batch may be delivered again). */
  async function countedBy(service: ServiceProcess, name: TopicName): Promise<void> {
    const expected = sent.get(name) ?? 0;
    let last = 0;
    await waitFor(async () => (last = await metric(probes(service), INVALID, { topic: topic(name) })) >= expected, {
      timeoutMs: 30_000,
      message: `${service.name} to count ${expected} undecodable records of ${name} (counted ${last})`,
    });
    const logged = service.lines.filter((l) => l.msg === SKIPPED_MSG && l['topic'] === topic(name));
    assert.ok(logged.length >= expected, `${service.name} logged ${logged.length} skips of ${name}, sent ${expected}`);
    assert.equal(logged[0]?.level, 'warn');
  }

  async function stillReady(...services: ServiceProcess[]): Promise<void> {
    for (const service of services) {
      assert.ok(service.running, `${service.name} exited: ${service.stderr.slice(-2000)}`);
      await waitFor(() => ready(probes(service)), { timeoutMs: 30_000, message: `${service.name} to be ready` });
    }
  }

  before(async () => {
    platform = await Platform.start({ workers: 1 });
    prefix = platform.env['CHUTE_TOPIC_PREFIX']!;
    const named = (name: string) => platform.processes.find((p) => p.name === name)!;
    [scheduler, projector, gateway, worker] = [named('scheduler'), named('projector'), named('gateway'), named('worker')];
    log = new KafkaLog({ brokers: platform.env['CHUTE_KAFKA_BROKERS']!.split(','), clientId: uniqueName('foreign-producer'), logger: silentLogger });
    await log.start();
    audit = await openAudit(platform.env);
    // Every consumer is up and has read the topics once before the poison arrives.
    assert.equal((await runResult(platform.gatewayUrl, await triggerRun(platform.gatewayUrl, 'echo', { warm: true }))).status, 'COMPLETED');
  });

  after(async () => {
    await log?.stop();
    await audit?.stop();
    await platform?.stop();
  });

  test('run-events: the scheduler, the projector and the gateway tail skip and count each record; runs still complete and are projected', async () => {
    // Keys spread over the partitions: the scheduler owns them all, the others read them all.
    for (let i = 0; i < 3; i++) {
      const key = randomUUID();
      await send('run-events', poison('run-events', key, await oddKeyLike('run-events', key)));
    }
    const runId = await triggerRun(platform.gatewayUrl, 'echo', { after: 'poison' });
    const run = await runResult(platform.gatewayUrl, runId);
    assert.deepEqual([run.status, run.output], ['COMPLETED', { after: 'poison' }]);
    for (const service of [scheduler, projector, gateway]) await countedBy(service, 'run-events');
    await waitFor(
      async () => {
        const { runs } = (await (await fetch(`${platform.gatewayUrl}/api/v1/runs?limit=5`)).json()) as { runs: RunView[] };
        return runs.some((r) => r.runId === runId && r.status === 'COMPLETED');
      },
      { timeoutMs: 30_000, message: 'the read model to list the run as COMPLETED' },
    );
    await stillReady(scheduler, projector, gateway, worker);
  });

  test('worker-events: the scheduler and the projector skip and count each record; the worker is still scheduled', async () => {
    const key = `worker-${randomUUID()}`;
    await send('worker-events', poison('worker-events', key, await oddKeyLike('worker-events', key)));
    for (const service of [scheduler, projector]) await countedBy(service, 'worker-events');
    assert.equal((await runResult(platform.gatewayUrl, await triggerRun(platform.gatewayUrl, 'noop'))).status, 'COMPLETED');
    await stillReady(scheduler, projector);
  });

  test("stream: the gateway skips and counts records of a followed run, live and in a replay, and the run's text comes through whole", async () => {
    const runId = await triggerRun(platform.gatewayUrl, 'stream-example');
    const oddKey = await oddKeyLike('stream', runId);
    let injected: Promise<void> | undefined;
    const live = await streamText(platform.gatewayUrl, runId, () => (injected = send('stream', poison('stream', runId, oddKey))));
    await injected;
    assert.deepEqual(live, { text: annaKarenina, status: 'COMPLETED' });
    // A replay from the run's start reads the poison back from the log, among the chunks.
    assert.deepEqual(await streamText(platform.gatewayUrl, runId), { text: annaKarenina, status: 'COMPLETED' });
    await countedBy(gateway, 'stream');
    await stillReady(gateway);
  });

  test("dispatch: the worker skips and counts records headed with its id on its own partition, and still runs what it is sent", async () => {
    const workerId = Platform.workerIdOf(worker);
    await send('dispatch', poison('dispatch', workerId, await oddKeyLike('dispatch', workerId), { [DISPATCH_WORKER_HEADER]: workerId }));
    await countedBy(worker, 'dispatch');
    assert.equal((await runResult(platform.gatewayUrl, await triggerRun(platform.gatewayUrl, 'echo', 1))).output, 1);
    await stillReady(worker);
  });

  test('dispatch: the gateway skips and counts records headed for a worker it hosts over the protocol, which still gets its runs', async () => {
    const before = sent.get('dispatch') ?? 0;
    const hosted = await protocolWorker(platform.gatewayUrl, 'remote-poison');
    try {
      await send('dispatch', poison('dispatch', hosted.workerId, await oddKeyLike('dispatch', hosted.workerId), { [DISPATCH_WORKER_HEADER]: hosted.workerId }));
      // The gateway counts only what was headed for its workers: what was sent since it hosts one.
      const expected = (sent.get('dispatch') ?? 0) - before;
      await waitFor(async () => (await metric(platform.gatewayUrl, INVALID, { topic: topic('dispatch') })) >= expected, {
        timeoutMs: 30_000,
        message: `the gateway to count ${expected} undecodable dispatch records`,
      });
      const runId = await triggerRun(platform.gatewayUrl, 'remote-poison');
      const run = await runResult(platform.gatewayUrl, runId);
      assert.deepEqual([run.status, run.output, hosted.assigned], ['COMPLETED', { by: 'protocol' }, [runId]]);
    } finally {
      hosted.socket.close(1000);
    }
    await stillReady(gateway);
  });

  test('a record that decodes but that the read model refuses is parked on the dead-letter topic and counted; projection goes on', async () => {
    // The schema admits any attempt number; the read model's integer column does not (SQLSTATE 22003).
    const runId = randomUUID();
    const at = Date.now();
    const requested = { v: 1, type: 'RunRequested', runId, at, tenant: 'default', task: 'nobody-serves-this', input: null, retries: 0, executionTimeoutMs: 5000 };
    const dispatched = { v: 1, type: 'RunDispatched', runId, at, task: 'nobody-serves-this', input: null, attempt: 2 ** 31, workerId: 'ghost', deadlineAt: at + 5000, retriesLeft: 0, retryDelayMs: 500 };
    await log.append(topic('run-events'), [{ key: runId, value: JSON.stringify(requested) }]);
    await log.append(topic('run-events'), [{ key: runId, value: JSON.stringify(dispatched) }]);
    await waitFor(async () => (await metric(probes(projector), 'chute_projector_dead_letters_total', { projection: 'runs' })) >= 1, {
      timeoutMs: 30_000,
      message: 'the projector to park the refused record',
    });
    const letters = (await readAll<DeadLetter>(audit, audit.topics.deadLetters)).filter((l) => l.key === runId);
    assert.ok(letters.length >= 1, 'the refused record is on the dead-letter topic');
    assert.deepEqual([letters[0]!.topic, letters[0]!.code], [topic('run-events'), '22003']);
    const next = await triggerRun(platform.gatewayUrl, 'echo', 'after the parked one');
    assert.equal((await runResult(platform.gatewayUrl, next)).status, 'COMPLETED');
    await waitFor(async () => (await fetch(`${platform.gatewayUrl}/api/v1/runs?limit=10`).then((r) => r.json()) as { runs: RunView[] }).runs.some((r) => r.runId === next && r.status === 'COMPLETED'), {
      timeoutMs: 30_000,
      message: 'the read model to project the next run',
    });
    await stillReady(projector, scheduler);
  });

  test('a scheduler that takes over partitions whose last record does not decode still catches up and schedules', async () => {
    // Stopped cleanly, it checkpoints every partition up to its end; the poison then is
    // all there is between that checkpoint and the end its successor must read up to.
    assert.equal(await scheduler.stop('SIGTERM'), 0);
    stopped.add(scheduler);
    const partitions = (await log.endOffsets(topic('run-events'))).map((p) => p.partition);
    const keyOn = new Map<number, string>();
    while (keyOn.size < partitions.length) {
      const key = randomUUID();
      const partition = await log.partitionOf(topic('run-events'), key);
      if (!keyOn.has(partition)) keyOn.set(partition, key);
    }
    for (const key of keyOn.values()) await send('run-events', [{ key, value: '{"v":1,"type":"RunRequested"' }]);
    await send('worker-events', [{ key: Platform.workerIdOf(worker), value: 'not a worker event' }]);

    scheduler = await platform.startService('scheduler');
    await waitFor(() => ready(Platform.probesOf(scheduler)), { timeoutMs: 60_000, message: 'the new scheduler to catch up and be ready' });
    assert.ok(
      (await metric(Platform.probesOf(scheduler), INVALID, { topic: topic('run-events') })) >= partitions.length,
      'it counted the poison it read on its way',
    );
    assert.equal((await runResult(platform.gatewayUrl, await triggerRun(platform.gatewayUrl, 'echo', 'taken over'))).output, 'taken over');
  });

  test('afterwards: no service exited, every one is ready, and a new run completes, streams and is projected', async () => {
    for (const service of platform.processes) if (!stopped.has(service)) assert.ok(service.running, `${service.name} exited: ${service.stderr.slice(-2000)}`);
    await stillReady(scheduler, projector, gateway, worker);
    const runId = await triggerRun(platform.gatewayUrl, 'stream-example');
    const [streamed, run] = await Promise.all([streamText(platform.gatewayUrl, runId), runResult(platform.gatewayUrl, runId)]);
    assert.deepEqual([streamed, run.status], [{ text: annaKarenina, status: 'COMPLETED' }, 'COMPLETED']);
    await waitFor(
      async () => {
        const response = await fetch(`${platform.gatewayUrl}/api/v1/runs?limit=5`);
        return ((await response.json()) as { runs: RunView[] }).runs.some((r) => r.runId === runId && r.status === 'COMPLETED');
      },
      { timeoutMs: 30_000, message: 'the read model to list the last run as COMPLETED' },
    );
  });
});
