import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunEvent, WorkerEvent } from '@chute/schemas';
import { RunBook } from './run-book';

const at = 1_000_000;
const runId = (n: number): string => `6f1c3c1e-9d8a-4a55-9a57-${String(n).padStart(12, '0')}`;
const requested = (n: number): RunEvent => ({ v: 1, tenant: 'default', type: 'RunRequested', runId: runId(n), at, task: 'echo', input: null, retries: 0, executionTimeoutMs: 60_000 });
const dispatched = (n: number): RunEvent => ({
  v: 1, tenant: 'default', type: 'RunDispatched', runId: runId(n), at: at + 1, task: 'echo', input: null, attempt: 1, workerId: 'w-1',
  deadlineAt: at + 60_001, retriesLeft: 0, retryDelayMs: 500,
});
const completed = (n: number): RunEvent => ({ v: 1, tenant: 'default', type: 'RunCompleted', runId: runId(n), at: at + 3, attempt: 1, output: 'ok' });
const worker: WorkerEvent = { v: 1, type: 'WorkerRegistered', workerId: 'w-1', at, tenant: 'default', name: 'w', tasks: ['echo'], slots: 10 };

describe('RunBook', () => {
  test('starts a partition from its checkpoint: its runs, where reading starts, and the runs that ended there', () => {
    const book = new RunBook();
    const start = book.startPartition(3, { partition: 3, offset: 42, pointer: 'p', runs: [], ended: [runId(9)] });
    assert.equal(start, 42);
    assert.equal(book.progress.get(3)?.checkpointedOffset, 42);
    assert.equal(book.progress.get(3)?.checkpointPointer, 'p');
    book.read(requested(9), 3);
    assert.equal(book.state.runs.size, 0, 'a request for a run the checkpoint says ended does not revive it');
    assert.equal(book.startPartition(4, undefined), 0, 'a partition without a checkpoint starts at its first record');
  });

  test('a run read from a partition belongs to it until it ends; its end is remembered there, for the next checkpoint', () => {
    const book = new RunBook();
    book.startPartition(1, undefined);
    book.read(requested(1), 1);
    assert.equal(book.partitionOf(runId(1)), 1);
    assert.deepEqual(book.runsOf(1).map((r) => r.runId), [runId(1)]);
    book.read(dispatched(1), 1);
    book.read(completed(1), 1);
    assert.equal(book.partitionOf(runId(1)), undefined);
    assert.deepEqual(book.runsOf(1), []);
    assert.deepEqual(book.progress.get(1)?.ended, [runId(1)]);
    book.read(requested(1), 1);
    assert.equal(book.state.runs.size, 0, 'a duplicated request cannot revive an ended run');
  });

  test('forgetting the runs keeps the workers', () => {
    const book = new RunBook();
    book.fold(worker);
    book.startPartition(0, undefined);
    book.read(requested(1), 0);
    book.forgetRuns();
    assert.equal(book.state.runs.size, 0);
    assert.equal(book.progress.size, 0);
    assert.equal(book.state.workers.size, 1);
  });
});
