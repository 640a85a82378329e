import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  DeadLetters,
  decodeRecord,
  decodeRecordBytes,
  MAX_EPOCH_MS,
  RecordDecodeError,
  RunEvents,
  StreamRecords,
  WorkerEvents,
  type RunEvent,
  type StreamRecord,
} from './index';

const runId = randomUUID();
const at = 1_700_000_000_000;

const validRunEvents: RunEvent[] = [
  { v: 1, tenant: 'default', type: 'RunRequested', runId, at, task: 'stream-example', input: { n: 1 }, retries: 2, executionTimeoutMs: 30_000 },
  {
    v: 1,
    tenant: 'default',
    type: 'RunDispatched',
    runId,
    at,
    task: 'stream-example',
    input: {},
    attempt: 1,
    workerId: 'w-1',
    deadlineAt: at + 30_000,
    retriesLeft: 2,
    retryDelayMs: 500,
  },
  { v: 1, tenant: 'default', type: 'RunStarted', runId, at, attempt: 1, workerId: 'w-1' },
  { v: 1, tenant: 'default', type: 'RunCompleted', runId, at, attempt: 1, output: ['ok', null, 3] },
  {
    v: 1,
    tenant: 'default',
    type: 'RunFailed',
    runId,
    at,
    attempt: 1,
    error: { name: 'Error', message: 'boom', nonRetryable: false },
    retry: { willRetry: true, nextAttempt: 2, retryAt: at + 1000 },
  },
  { v: 1, tenant: 'default', type: 'RunCancelRequested', runId, at },
  { v: 1, tenant: 'default', type: 'RunCancelled', runId, at, attempt: 1 },
  { v: 1, tenant: 'default', type: 'RunTimedOut', runId, at, attempt: 1, timeoutMs: 30_000 },
];

function decodeError(fn: () => unknown): RecordDecodeError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof RecordDecodeError, `expected RecordDecodeError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the record to be rejected');
}

describe('record codec', () => {
  test('every run lifecycle event round-trips through JSON unchanged', () => {
    for (const event of validRunEvents) {
      assert.deepEqual(decodeRecordBytes(RunEvents, Buffer.from(JSON.stringify(event))), event);
    }
  });

  test('stream chunks and ends round-trip', () => {
    const records: StreamRecord[] = [
      { v: 1, tenant: 'default', type: 'StreamChunk', runId, attempt: 1, at, seq: 0, encoding: 'utf8', data: 'Happy families 🙂' },
      { v: 1, tenant: 'default', type: 'StreamEnd', runId, attempt: 1, at, status: 'COMPLETED', lastSeq: 0 },
    ];
    for (const record of records) assert.deepEqual(decodeRecord(StreamRecords, JSON.parse(JSON.stringify(record))), record);
  });

  test('a missing task error flag defaults to retryable', () => {
    const failed = decodeRecord(RunEvents, {
      v: 1,
      tenant: 'default',
      type: 'RunFailed',
      runId,
      at,
      attempt: 1,
      error: { name: 'Error', message: 'x' },
      retry: { willRetry: false },
    });
    assert.equal(failed.type === 'RunFailed' && failed.error.nonRetryable, false);
  });

  test('an invalid run id is rejected naming the runId field', () => {
    const err = decodeError(() => decodeRecord(RunEvents, { ...validRunEvents[2], runId: 'nope' }));
    assert.equal(err.field, 'runId');
    assert.match(err.message, /runId: must be a UUID/);
  });

  test('a nested invalid field is named by its path', () => {
    const err = decodeError(() =>
      decodeRecord(RunEvents, { ...validRunEvents[4], retry: { willRetry: true, nextAttempt: 0, retryAt: at } }),
    );
    assert.equal(err.field, 'retry.nextAttempt');
  });

  test('an unknown record type is rejected naming the type field', () => {
    const err = decodeError(() => decodeRecord(RunEvents, { v: 1, tenant: 'default', type: 'RunExploded', runId, at }));
    assert.equal(err.field, 'type');
  });

  test('a version newer than the reader knows is rejected naming v', () => {
    const err = decodeError(() => decodeRecord(RunEvents, { ...validRunEvents[2], v: 2 }));
    assert.equal(err.field, 'v');
    assert.match(err.message, /unsupported version 2/);
  });

  test('bytes that are not JSON are rejected', () => {
    const err = decodeError(() => decodeRecordBytes(StreamRecords, Buffer.from('{not json')));
    assert.match(err.message, /not valid JSON/);
  });

  test('JSON nested too deeply for the schema check is rejected as a bad record, not thrown as a stack overflow', () => {
    // 20 KB of brackets: well under the log's record limit, far past what a recursive check can descend.
    const deep = '['.repeat(10_000) + ']'.repeat(10_000);
    const bytes = Buffer.from(JSON.stringify({ ...validRunEvents[0], input: null }).replace('"input":null', `"input":${deep}`));
    const err = decodeError(() => decodeRecordBytes(RunEvents, bytes));
    assert.equal(err.field, '(root)');
    assert.match(err.message, /could not be checked/);
  });

  test('a worker must serve at least one task', () => {
    const err = decodeError(() =>
      decodeRecord(WorkerEvents, { v: 1, type: 'WorkerRegistered', workerId: 'w', at, name: 'w', tasks: [], slots: 1 }),
    );
    assert.equal(err.field, 'tasks');
  });

  test('a worker id or name with a control character is refused: the read model stores them as text, which cannot hold U+0000', () => {
    for (const workerId of ['w\u0000-1', 'w\n-1', 'w\u009f']) {
      const err = decodeError(() => decodeRecord(WorkerEvents, { v: 1, type: 'WorkerStopped', workerId, at }));
      assert.equal(err.field, 'workerId');
      assert.match(err.message, /control characters/);
    }
    const started = { v: 1, tenant: 'default', type: 'RunStarted', runId, at, attempt: 1, workerId: 'w\u0000' };
    assert.equal(decodeError(() => decodeRecord(RunEvents, started)).field, 'workerId');
    const registered = { v: 1, type: 'WorkerRegistered', workerId: 'w-1', at, name: 'a\u0000b', tasks: ['echo'], slots: 1 };
    assert.equal(decodeError(() => decodeRecord(WorkerEvents, registered)).field, 'name');
    assert.equal(decodeRecord(WorkerEvents, { ...registered, name: 'élan 🙂 worker' }).type, 'WorkerRegistered', 'other Unicode is fine');
  });

  test('a time past what a JS Date holds is refused, so no Invalid Date reaches the read model', () => {
    const err = decodeError(() => decodeRecord(RunEvents, { ...validRunEvents[2], at: MAX_EPOCH_MS + 1 }));
    assert.equal(err.field, 'at');
    assert.equal(decodeRecord(RunEvents, { ...validRunEvents[2], at: MAX_EPOCH_MS }).at, MAX_EPOCH_MS);
  });

  test("a dead letter round-trips and is keyed by the parked record's key", () => {
    const parked = {
      v: 1,
      type: 'RecordParked',
      key: runId,
      topic: 'chute.run-events',
      partition: 3,
      offset: 42,
      value: Buffer.from('{"v":1}').toString('base64'),
      valueBytes: 7,
      reason: 'value "2147483648" is out of range for type integer',
      code: '22003',
      consumer: 'chute.projector.runs',
      at,
    } as const;
    const decoded = decodeRecordBytes(DeadLetters, Buffer.from(JSON.stringify(parked)));
    assert.deepEqual(decoded, parked);
    assert.equal(DeadLetters.key(decoded), runId);
    assert.equal(decodeError(() => decodeRecord(DeadLetters, { ...parked, value: 'not base64!' })).field, 'value');
  });

  test('records are keyed by run id (and workers by worker id)', () => {
    assert.equal(RunEvents.key(validRunEvents[0]!), runId);
    assert.equal(WorkerEvents.key({ v: 1, type: 'WorkerStopped', workerId: 'w-9', at }), 'w-9');
  });
});
