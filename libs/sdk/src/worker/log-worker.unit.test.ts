import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EmbeddedLog, openPlatformTopics, type PlatformTopics } from '@chute/log';
import { Metrics, silentLogger } from '@chute/runtime';
import type { RunEvent, StreamRecord, WorkerEvent } from '@chute/schemas';
import { runDispatched, waitFor } from '@chute/testing';
import { Chute } from '../client/client';
import type { Context } from './context';
import type { TaskWorker } from './types';

// The SDK's worker on the log (`transport: 'kafka'`) against the embedded log:
// what it adds to the worker runtime (tested in libs/worker-runtime) is the
// task function, called with its Context. The scheduler's dispatch is appended by hand.
describe("the SDK's worker on the log", () => {
  const log = new EmbeddedLog();
  const runEvents: RunEvent[] = [];
  const stream: StreamRecord[] = [];
  const workerEvents: WorkerEvent[] = [];
  let topics: PlatformTopics;
  let worker: TaskWorker;
  let served: Promise<void>;
  const seen: { runId: string; attempt: number; workerId: string; aborted: boolean }[] = [];

  const chute = Chute.init({ log: () => log, topicPrefix: 'sdk-unit', logger: silentLogger, heartbeatIntervalMs: 50 });
  const speak = chute.task({
    name: 'speak',
    fn: async (input: { words: string[] }, ctx: Context) => {
      seen.push({ runId: ctx.runId, attempt: ctx.attempt, workerId: ctx.workerId, aborted: ctx.abortSignal.aborted });
      for (const word of input.words) void ctx.putStream(word);
      return { spoken: input.words.length };
    },
  });

  before(async () => {
    topics = await openPlatformTopics(
      log,
      { prefix: 'sdk-unit', runEventsPartitions: 2, streamPartitions: 2, workerEventsPartitions: 1, dispatchPartitions: 4 },
      { logger: silentLogger, metrics: new Metrics() },
    );
    await topics.runEvents.tail((b) => void runEvents.push(...b.map((d) => d.value)));
    await topics.stream.tail((b) => void stream.push(...b.map((d) => d.value)));
    await topics.workerEvents.tail((b) => void workerEvents.push(...b.map((d) => d.value)));
    worker = await chute.worker('sdk-unit-worker', { workflows: [speak], slots: 2, handleKill: false });
    served = worker.start();
    await waitFor(() => workerEvents.some((e) => e.type === 'WorkerRegistered'), { message: 'registration' });
  });
  after(async () => {
    await worker.stop();
    await served;
  });

  async function dispatch(task: string, input: unknown, attempt = 1): Promise<string> {
    const dispatched = runDispatched({ task, workerId: worker.workerId, input: input as never, attempt, retriesLeft: 3 });
    const { runId } = dispatched;
    await topics.runEvents.append([dispatched]);
    await topics.dispatch.append([dispatched]);
    await waitFor(() => stream.some((r) => r.runId === runId && r.type === 'StreamEnd'), { message: `end of ${runId}` });
    return runId;
  }

  test('calls the task function with its Context: the run, the attempt, the worker, and a stream in call order', async () => {
    const runId = await dispatch('speak', { words: ['a', 'b', 'c'] }, 2);
    assert.deepEqual(seen.at(-1), { runId, attempt: 2, workerId: worker.workerId, aborted: false });
    const chunks = stream.filter((r) => r.runId === runId && r.type === 'StreamChunk');
    assert.deepEqual(chunks.map((c) => c.type === 'StreamChunk' && c.data), ['a', 'b', 'c']);
    const completed = runEvents.find((e) => e.runId === runId && e.type === 'RunCompleted');
    assert.deepEqual(completed?.type === 'RunCompleted' && completed.output, { spoken: 3 });
  });

  test('a dispatch for a task it does not serve fails the run without retry, naming the task', async () => {
    const runId = await dispatch('unknown-task', null);
    const failed = runEvents.find((e) => e.runId === runId && e.type === 'RunFailed');
    assert.ok(failed?.type === 'RunFailed');
    assert.equal(failed.error.name, 'NonRetryableError');
    assert.match(failed.error.message, /does not serve task "unknown-task"/);
    assert.equal(failed.retry.willRetry, false);
  });
});
