import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { EmbeddedLog, openPlatformTopics, type AppendRecord, type PlatformTopics } from '@chute/log';
import { NonRetryableError } from '@chute/domain';
import { Metrics, silentLogger } from '@chute/runtime';
import type { AttemptRevoked, DispatchRecord, RunDispatched, RunEvent, StreamRecord, WorkerEvent } from '@chute/schemas';
import { runDispatched, waitFor } from '@chute/testing';
import { WorkerHost, type AttemptExecutor, type AttemptIO } from './worker-host';

type TestTask = (input: never, io: AttemptIO) => unknown;

/** Runs an attempt by calling the test's function for its task, as the SDK's worker calls a task's. */
class TestExecutor implements AttemptExecutor {
  constructor(private readonly tasks: Record<string, TestTask>) {}

  run(dispatch: RunDispatched, io: AttemptIO): Promise<unknown> {
    const task = this.tasks[dispatch.task];
    if (!task) throw new NonRetryableError(`no task "${dispatch.task}" here`);
    io.started();
    return Promise.resolve(task(dispatch.input as never, io));
  }
}

// The worker runtime against the embedded log: the scheduler's part (dispatch,
// cancel, timeout) is played by appending its records to the dispatch topic by hand.
/** The embedded log, able to refuse one run start the way a broker that is briefly unreachable would. */
class FlakyLog extends EmbeddedLog {
  refuseNextStart = false;
  /** Refuses the chunk whose data is this, as a broker refuses a record for good. */
  refuseChunk: string | undefined;
  /** Every append call: its topic, its records' types and runs, and how many appends were still in flight when it was made. */
  readonly appends: { topic: string; records: { type: string; runId: string }[]; inFlight: number }[] = [];
  private inFlight = 0;
  override async append(topic: string, records: readonly AppendRecord[]): Promise<void> {
    this.appends.push({ topic, records: records.map((r) => JSON.parse(String(r.value)) as { type: string; runId: string }), inFlight: this.inFlight });
    this.inFlight++;
    try {
      return await this.refuseOrAppend(topic, records);
    } finally {
      this.inFlight--;
    }
  }
  private async refuseOrAppend(topic: string, records: readonly AppendRecord[]): Promise<void> {
    if (this.refuseNextStart && records.some((r) => String(r.value).includes('"RunStarted"'))) {
      this.refuseNextStart = false;
      throw new Error('broker unavailable');
    }
    const refused = this.refuseChunk;
    if (refused !== undefined && records.some((r) => String(r.value).includes(`"data":"${refused}"`))) {
      throw new Error('record refused');
    }
    return super.append(topic, records);
  }
}

describe('worker runtime', () => {
  const log = new FlakyLog();
  const topicsConfig = { prefix: 'unit', runEventsPartitions: 2, streamPartitions: 2, workerEventsPartitions: 1, dispatchPartitions: 4 };
  let topics: PlatformTopics;
  let worker: WorkerHost;
  const runEvents: RunEvent[] = [];
  const stream: StreamRecord[] = [];
  const workerEvents: WorkerEvent[] = [];

  const tasks: Record<string, TestTask> = {
    echo: (input: unknown) => ({ echoed: input }),
    chunky: (input: { n: number }, io) => {
      for (let i = 0; i < input.n; i++) void io.stream.put(`c${i} é🙂`);
      void io.stream.put(new Uint8Array([0, 255, 10]));
      return 'done';
    },
    failing: (input: { fatal: boolean }) => {
      throw input.fatal ? new NonRetryableError('fatal') : new Error('flaky');
    },
    hanging: (_: unknown, io) => new Promise((resolve) => io.signal.addEventListener('abort', () => resolve('saw abort'))),
    deaf: () => new Promise(() => undefined),
    'bad-output': () => ({ big: 1n }),
    'too-big': async (_: unknown, io) => {
      const refused = await io.stream.put('x'.repeat(1024 * 1024 + 1)).then(() => 'accepted', (e: Error) => e.message);
      await io.stream.put('after');
      return refused;
    },
    gappy: async (_: unknown, io) => {
      void io.stream.put('one');
      await io.stream.put('lost').catch(() => undefined);
      // Put once the loss is known: refused, so no chunk follows the hole.
      await io.stream.put('after the hole').catch(() => undefined);
      return 'claims success';
    },
    'slow-echo': async (input: unknown) => {
      await sleep(30);
      return { echoed: input };
    },
  };

  before(async () => {
    await log.start();
    topics = await openPlatformTopics(log, topicsConfig, { logger: silentLogger, metrics: new Metrics() });
    await topics.runEvents.tail((b) => void runEvents.push(...b.map((d) => d.value)));
    await topics.stream.tail((b) => void stream.push(...b.map((d) => d.value)));
    await topics.workerEvents.tail((b) => void workerEvents.push(...b.map((d) => d.value)));
    worker = new WorkerHost({
      name: 'unit-worker',
      tenant: 'default',
      tasks: Object.keys(tasks),
      slots: 5,
      executor: new TestExecutor(tasks),
      log,
      topics,
      logger: silentLogger,
      heartbeatIntervalMs: 50,
      selfHeartbeat: true,
    });
    await worker.start();
    await waitFor(() => workerEvents.some((e) => e.type === 'WorkerRegistered'), { message: 'registration' });
  });
  after(async () => {
    await worker.stop();
    await log.stop();
  });

  async function dispatch(task: string, input: unknown, extra: Partial<RunDispatched> = {}, after: DispatchRecord[] = []): Promise<string> {
    const dispatched = runDispatched({ task, workerId: worker.workerId, input: input as never, ...extra });
    const { runId } = dispatched;
    // The scheduler's record of the dispatch, then its copy for the worker.
    await topics.runEvents.append([dispatched]);
    await topics.dispatch.append([dispatched, ...after]);
    return runId;
  }
  const revoke = (runId: string, extra: Partial<AttemptRevoked> = {}): AttemptRevoked => ({
    v: 1,
    tenant: 'default',
    type: 'AttemptRevoked',
    runId,
    at: Date.now(),
    attempt: 1,
    workerId: worker.workerId,
    reason: 'revoked by the test',
    ...extra,
  });
  const eventsOf = (runId: string) => runEvents.filter((e) => e.runId === runId);
  /** The worker's appends for the run (the dispatch the test appended left out), in call order. */
  const appendsOf = (runId: string) => log.appends.filter((a) => a.records.some((r) => r.runId === runId && r.type !== 'RunDispatched'));
  const ended = (runId: string) => waitFor(() => stream.some((r) => r.runId === runId && r.type === 'StreamEnd'), { message: `end of ${runId}` });

  test('registers with its tasks and slots, and heartbeats', async () => {
    const registered = workerEvents.find((e) => e.type === 'WorkerRegistered');
    assert.ok(registered && registered.type === 'WorkerRegistered');
    assert.deepEqual(registered.tasks, ['echo', 'chunky', 'failing', 'hanging', 'deaf', 'bad-output', 'too-big', 'gappy', 'slow-echo']);
    assert.equal(registered.slots, 5);
    await waitFor(() => workerEvents.some((e) => e.type === 'WorkerHeartbeat'), { message: 'a heartbeat' });
  });

  test('runs a dispatched task: started, then completed with its output, then the end of stream', async () => {
    const runId = await dispatch('echo', { a: 1 });
    await ended(runId);
    assert.deepEqual(eventsOf(runId).map((e) => e.type), ['RunDispatched', 'RunStarted', 'RunCompleted']);
    const completed = eventsOf(runId)[2]!;
    assert.deepEqual(completed.type === 'RunCompleted' && completed.output, { echoed: { a: 1 } });
    const end = stream.find((r) => r.runId === runId);
    assert.deepEqual(end && end.type === 'StreamEnd' && [end.status, end.lastSeq], ['COMPLETED', -1]);
  });

  test("an instant task's start goes with its end in one append, and the end of stream without waiting for it", async () => {
    const runId = await dispatch('echo', 'at once');
    await ended(runId);
    const mine = appendsOf(runId);
    assert.deepEqual(
      mine.map((a) => a.records.map((r) => r.type)),
      [['RunStarted', 'RunCompleted'], ['StreamEnd']],
    );
    assert.ok(mine[1]!.inFlight >= 1, 'the end of stream was appended while the run end was still in flight');
  });

  test("a task that takes a while has its start appended on its own, before its end", async () => {
    const runId = await dispatch('slow-echo', 'later');
    await ended(runId);
    const mine = appendsOf(runId);
    assert.deepEqual(
      mine.map((a) => a.records.map((r) => r.type)),
      [['RunStarted'], ['RunCompleted'], ['StreamEnd']],
    );
    assert.deepEqual(eventsOf(runId).map((e) => e.type), ['RunDispatched', 'RunStarted', 'RunCompleted']);
  });

  test('un-awaited putStream calls arrive in call order, all before the end; unicode and bytes intact', async () => {
    const runId = await dispatch('chunky', { n: 2000 });
    await ended(runId);
    const records = stream.filter((r) => r.runId === runId);
    const chunks = records.filter((r) => r.type === 'StreamChunk');
    assert.equal(chunks.length, 2001);
    assert.deepEqual(chunks.map((c) => c.seq), Array.from({ length: 2001 }, (_, i) => i));
    assert.equal(chunks[1999]!.data, 'c1999 é🙂');
    const bytes = chunks[2000]!;
    assert.equal(bytes.encoding, 'base64');
    assert.deepEqual([...Buffer.from(bytes.data, 'base64')], [0, 255, 10]);
    assert.equal(records.at(-1)!.type, 'StreamEnd');
    const runEnd = eventsOf(runId).findIndex((e) => e.type === 'RunCompleted');
    assert.ok(runEnd > 0);
  });

  test('a throwing task fails with its error; the retry decision follows the dispatch', async () => {
    const retried = await dispatch('failing', { fatal: false }, { retriesLeft: 1 });
    const fatal = await dispatch('failing', { fatal: true }, { retriesLeft: 3 });
    await waitFor(() => eventsOf(retried).some((e) => e.type === 'RunFailed') && eventsOf(fatal).some((e) => e.type === 'RunFailed'));
    const a = eventsOf(retried).find((e) => e.type === 'RunFailed')!;
    const b = eventsOf(fatal).find((e) => e.type === 'RunFailed')!;
    assert.ok(a.type === 'RunFailed' && a.retry.willRetry && a.error.message === 'flaky');
    assert.ok(b.type === 'RunFailed' && !b.retry.willRetry && b.error.nonRetryable && b.error.name === 'NonRetryableError');
  });

  test('a cancel fires the abort signal and frees the slot; the worker writes no end (the scheduler wrote the run\'s and the stream\'s)', async () => {
    const runId = await dispatch('hanging', null);
    await waitFor(() => eventsOf(runId).some((e) => e.type === 'RunStarted'));
    await topics.dispatch.append([revoke(runId, { finalStatus: 'CANCELLED' })]);
    await waitFor(() => worker.activeRuns === 0, { message: 'the slot to be freed' });
    const control = await dispatch('echo', 'after the cancel');
    await ended(control);
    assert.deepEqual(eventsOf(runId).map((e) => e.type), ['RunDispatched', 'RunStarted'], 'a cancelled run reports no completion');
    assert.ok(!stream.some((r) => r.runId === runId && r.type === 'StreamEnd'));
  });

  test('a task that ignores its abort signal still frees its slot on timeout', async () => {
    const runId = await dispatch('deaf', null);
    await waitFor(() => eventsOf(runId).some((e) => e.type === 'RunStarted'));
    await topics.dispatch.append([revoke(runId, { finalStatus: 'TIMED_OUT' })]);
    await waitFor(() => worker.activeRuns === 0, { message: 'the slot to be freed' });
  });

  test('a non-JSON output fails the run without retry', async () => {
    const runId = await dispatch('bad-output', null, { retriesLeft: 5 });
    await ended(runId);
    const failed = eventsOf(runId).find((e) => e.type === 'RunFailed');
    assert.ok(failed?.type === 'RunFailed' && /not JSON-serializable/.test(failed.error.message) && !failed.retry.willRetry);
  });

  test('a chunk over 1 MiB is refused with a clear error and the run goes on', async () => {
    const runId = await dispatch('too-big', null);
    await ended(runId);
    const completed = eventsOf(runId).find((e) => e.type === 'RunCompleted');
    assert.match(String(completed?.type === 'RunCompleted' && completed.output), /exceeds the limit of 1048576 bytes/);
    const chunks = stream.filter((r) => r.runId === runId && r.type === 'StreamChunk');
    assert.deepEqual(chunks.map((c) => c.type === 'StreamChunk' && [c.seq, c.data]), [[0, 'after']]);
  });

  test('a dispatch for another worker, even in the same partition, is not run here', async () => {
    const partition = await log.partitionOf(topics.dispatch.name, worker.workerId);
    let other = 'someone-else';
    for (let i = 0; (await log.partitionOf(topics.dispatch.name, other)) !== partition; i++) other = `someone-else-${i}`;
    const runId = await dispatch('echo', 1, { workerId: other });
    const control = await dispatch('echo', 2);
    await ended(control);
    assert.deepEqual(eventsOf(runId).map((e) => e.type), ['RunDispatched']);
  });

  test('a dispatch delivered again (reading is at-least-once) runs once', async () => {
    const runId = await dispatch('echo', 'once');
    await ended(runId);
    const again = runEvents.find((e) => e.runId === runId && e.type === 'RunDispatched')!;
    await topics.dispatch.append([again as RunDispatched]);
    const control = await dispatch('echo', 'control');
    await ended(control);
    assert.deepEqual(eventsOf(runId).map((e) => e.type), ['RunDispatched', 'RunStarted', 'RunCompleted']);
  });

  test('a move elsewhere (presumed dead) aborts the attempt and writes no end', async () => {
    const runId = await dispatch('hanging', null);
    await waitFor(() => eventsOf(runId).some((e) => e.type === 'RunStarted'));
    await topics.dispatch.append([revoke(runId, { reason: 'the run went to another worker' })]);
    await waitFor(() => worker.activeRuns === 0, { message: 'the slot to be freed' });
    assert.deepEqual(eventsOf(runId).map((e) => e.type), ['RunDispatched', 'RunStarted']);
    assert.ok(!stream.some((r) => r.runId === runId && r.type === 'StreamEnd'), 'the stream goes on with the next attempt');
  });

  test('a cancel in the same batch as its dispatch still reaches the task', async () => {
    const runId = randomUUID();
    await dispatch('hanging', null, { runId }, [revoke(runId, { finalStatus: 'CANCELLED' })]);
    await waitFor(() => worker.activeRuns === 0, { message: 'the slot to be freed' });
    assert.ok(!eventsOf(runId).some((e) => e.type === 'RunCompleted'), 'the task saw the cancel: it did not complete');
  });

  test('a start the log refuses does not lose the outcome: the run still completes', async () => {
    log.refuseNextStart = true;
    // A task that outlasts a turn of the event loop: its start goes alone (an instant task's goes with its end).
    const runId = await dispatch('slow-echo', 'kept');
    await ended(runId);
    const events = eventsOf(runId);
    assert.equal(log.refuseNextStart, false, 'the start was refused');
    assert.ok(!events.some((e) => e.type === 'RunStarted'));
    const completed = events.find((e) => e.type === 'RunCompleted');
    assert.deepEqual(completed?.type === 'RunCompleted' && completed.output, { echoed: 'kept' });
  });

  test('a chunk the log refuses fails the attempt, retryably, instead of completing a stream with a hole', async () => {
    log.refuseChunk = 'lost';
    try {
      const runId = await dispatch('gappy', null, { retriesLeft: 2 });
      await waitFor(() => eventsOf(runId).some((e) => e.type === 'RunFailed'), { message: 'the attempt to fail' });
      const failed = eventsOf(runId).find((e) => e.type === 'RunFailed');
      assert.ok(failed?.type === 'RunFailed');
      assert.equal(failed.error.name, 'StreamIncompleteError');
      assert.match(failed.error.message, /chunk 1 of the stream/);
      assert.ok(failed.retry.willRetry, 'a lost chunk is not the task\'s fault: the run is retried');
      assert.ok(!eventsOf(runId).some((e) => e.type === 'RunCompleted'));
      const written = stream.filter((r) => r.runId === runId && r.type === 'StreamChunk').map((r) => r.type === 'StreamChunk' && r.data);
      assert.deepEqual(written, ['one'], 'nothing put after the loss is written');
    } finally {
      log.refuseChunk = undefined;
    }
  });
});
