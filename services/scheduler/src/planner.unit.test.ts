import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EmbeddedLog, FencedError, InvalidRecordError, openPlatformTopics, type ExclusiveAppender, type PlatformTopics, type TopicRecords } from '@chute/log';
import { Metrics, silentLogger } from '@chute/runtime';
import type { RunEvent, WorkerEvent } from '@chute/schemas';
import { waitFor } from '@chute/testing';
import { Planner, type PlanOwnership } from './planner';
import { RunBook } from './run-book';

// The planner without a broker: its appends under a partition's claim (an
// appender that records what it is given, or fails the way a fenced or
// refused append does).

const at = Date.now();
const runId = (n: number): string => `6f1c3c1e-9d8a-4a55-9a57-${String(n).padStart(12, '0')}`;
const requested = (n: number): RunEvent => ({ v: 1, tenant: 'default', type: 'RunRequested', runId: runId(n), at, task: 'echo', input: null, retries: 0, executionTimeoutMs: 60_000 });
const worker: WorkerEvent = { v: 1, type: 'WorkerRegistered', workerId: 'w-1', at, tenant: 'default', name: 'w', tasks: ['echo'], slots: 10 };

/** An exclusive appender that records its appends, and fails the next one with `failNext` when set. */
class RecordingAppender implements ExclusiveAppender {
  readonly appended: TopicRecords[][] = [];
  failNext: Error | undefined;
  release: (() => void) | undefined;
  /** When set, appends wait until `release()`. */
  hold = false;

  claim(): Promise<void> {
    return Promise.resolve();
  }

  async append(batches: readonly TopicRecords[]): Promise<void> {
    if (this.hold) await new Promise<void>((resolve) => (this.release = resolve));
    const failure = this.failNext;
    this.failNext = undefined;
    if (failure) throw failure;
    this.appended.push([...batches]);
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}

describe('Planner', () => {
  const log = new EmbeddedLog();
  let topics: PlatformTopics;
  before(async () => {
    await log.start();
    topics = await openPlatformTopics(
      log,
      { prefix: 'planner-unit', runEventsPartitions: 2, streamPartitions: 1, workerEventsPartitions: 1, dispatchPartitions: 1 },
      { logger: silentLogger, metrics: new Metrics() },
    );
  });
  after(() => log.stop());

  /** A planner over one owned partition (0) with its appender. */
  function planner(): { planner: Planner; book: RunBook; appender: RecordingAppender; reclaimed: unknown[] } {
    const book = new RunBook();
    const appender = new RecordingAppender();
    const reclaimed: unknown[] = [];
    const owned = new Map([[0, 0]]);
    const ownership: PlanOwnership = {
      owned: () => owned,
      mayAct: () => true,
      isReclaiming: () => false,
      appender: (partition) => (partition === 0 ? appender : undefined),
      reclaim: (_, cause) => void reclaimed.push(cause),
    };
    const metrics = new Metrics();
    const instance = new Planner({ book, topics, ownership, heartbeatTimeoutMs: 60_000, logger: silentLogger, appended: metrics.counter('appended_total', 'test') });
    book.fold(worker);
    book.startPartition(0, undefined);
    return { planner: instance, book, appender, reclaimed };
  }

  test("dispatches a partition's waiting runs in one exclusive append: the run events and the worker's dispatches together", async () => {
    const { planner: p, book, appender } = planner();
    book.read(requested(1), 0);
    book.read(requested(2), 0);
    p.request();
    await p.settled();
    assert.equal(appender.appended.length, 1);
    const [dispatches, runEvents, more] = appender.appended[0]!;
    assert.equal(dispatches!.topic, topics.dispatch.name);
    assert.equal(runEvents!.topic, topics.runEvents.name);
    assert.equal(more, undefined, 'a plan that ends no run writes nothing to the stream topic');
    assert.equal(runEvents!.records.length, 2);
    assert.equal(book.state.runs.get(runId(1))?.phase, 'dispatched', 'the decision is folded once it landed');
  });

  test("a cancel ends the run's stream in the same exclusive append as the run: the end record on the stream topic", async () => {
    const { planner: p, book, appender } = planner();
    book.read(requested(1), 0);
    book.read({ v: 1, tenant: 'default', type: 'RunCancelRequested', runId: runId(1), at }, 0);
    p.request();
    await p.settled();
    assert.equal(appender.appended.length, 1);
    const byTopic = new Map(appender.appended[0]!.map((batch) => [batch.topic, batch.records.map((r) => JSON.parse(String(r.value)) as { type: string; status?: string })]));
    assert.deepEqual(byTopic.get(topics.runEvents.name)?.map((r) => r.type), ['RunCancelled']);
    assert.deepEqual(byTopic.get(topics.stream.name)?.map((r) => [r.type, r.status]), [['StreamEnd', 'CANCELLED']]);
  });

  test('a partition with an append in flight is not planned for again until it lands', async () => {
    const { planner: p, book, appender } = planner();
    appender.hold = true;
    book.read(requested(1), 0);
    p.request();
    await waitFor(() => appender.release !== undefined, { message: 'the first append to start' });
    book.read(requested(2), 0);
    p.request();
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(appender.appended.length, 0);
    appender.hold = false;
    appender.release!();
    await waitFor(() => appender.appended.length === 2, { message: 'the second run planned once the first append landed' });
    await p.settled();
  });

  test('a fenced append gives the claim up: the partition is claimed again, nothing is folded', async () => {
    const { planner: p, book, appender, reclaimed } = planner();
    book.read(requested(1), 0);
    appender.failNext = new FencedError('planner-unit.scheduler.0');
    p.request();
    await p.settled();
    assert.equal(reclaimed.length, 1);
    assert.ok(reclaimed[0] instanceof FencedError);
    assert.equal(book.state.runs.get(runId(1))?.phase, 'pending', 'a decision that did not land is not folded');
  });

  test('an append refused before it was sent keeps the claim and backs off', async () => {
    const { planner: p, book, appender, reclaimed } = planner();
    book.read(requested(1), 0);
    appender.failNext = new InvalidRecordError('input', 'a record the topic refuses');
    p.request();
    await p.settled();
    assert.equal(reclaimed.length, 0);
    p.request();
    await p.settled();
    assert.equal(appender.appended.length, 0, 'the partition is not planned for during its back-off');
    p.forgetSetbacks();
    p.request();
    await p.settled();
    assert.equal(appender.appended.length, 1);
  });
});
