import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { InvalidRowError } from '@chute/db';
import type { LogRecord } from '@chute/log';
import { MAX_PARKED_REASON_CHARS, MAX_PARKED_VALUE_BYTES, RecordParked } from '@chute/schemas';
import { classifyProjectionError, deadLetterOf, nextStepAfterFailure, type ProjectionFailure } from './failures';

/** An error as pg throws it for a server's ErrorResponse. */
function serverError(code: string, message = `server said ${code}`): pg.DatabaseError {
  const error = new pg.DatabaseError(message, 0, 'error');
  error.code = code;
  error.severity = 'ERROR';
  return error;
}

describe('classifyProjectionError', () => {
  test('data exceptions (22) and integrity violations (23) are the data: the same records fail the same way again', () => {
    for (const code of ['22003', '22P05', '22021', '22007', '23505', '23514']) {
      assert.deepEqual(classifyProjectionError(serverError(code)), { kind: 'data', code, reason: `server said ${code}` });
    }
  });

  test("PGlite's errors are read by their ErrorResponse fields, like pg's", () => {
    const pglite = Object.assign(new Error('value "2147483648" is out of range for type integer'), { severity: 'ERROR', code: '22003' });
    assert.equal(classifyProjectionError(pglite).kind, 'data');
  });

  test('a read-model row that does not decode is the data too', () => {
    const failure = classifyProjectionError(new InvalidRowError('runs', 'r-1', 'status', 'invalid option'));
    assert.deepEqual([failure.kind, failure.code], ['data', 'READ_MODEL_ROW_INVALID']);
  });

  test('connection, resource, shutdown and transaction-conflict errors are outages, with their code for the log', () => {
    for (const code of ['08006', '08001', '53300', '57P01', '57P03', '40001', '40P01', '25P02', 'XX000']) {
      assert.deepEqual(classifyProjectionError(serverError(code)), { kind: 'outage', code, reason: `server said ${code}` });
    }
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    assert.deepEqual(classifyProjectionError(refused), { kind: 'outage', code: 'ECONNREFUSED', reason: refused.message });
  });

  test('an error not known to be about the data is an outage: a record is never parked for a fault that is not its own', () => {
    assert.equal(classifyProjectionError(new TypeError('cannot read properties of undefined')).kind, 'outage');
    assert.equal(classifyProjectionError(Object.assign(new Error('no severity'), { code: '22003' })).kind, 'outage', 'not from a server');
    assert.deepEqual(classifyProjectionError('a string'), { kind: 'outage', code: undefined, reason: 'a string' });
  });
});

describe('nextStepAfterFailure', () => {
  const data: ProjectionFailure = { kind: 'data', code: '22003', reason: 'out of range' };
  const outage: ProjectionFailure = { kind: 'outage', code: '57P01', reason: 'shutting down' };
  const policy = { batchAttempts: 3, retryDelayMs: 100 };

  test('a data failure is retried with a doubling delay, then the batch goes record by record', () => {
    assert.deepEqual(
      [1, 2, 3, 4].map((attempt) => nextStepAfterFailure(data, attempt, policy)),
      [{ step: 'retry-batch', delayMs: 100 }, { step: 'retry-batch', delayMs: 200 }, { step: 'record-by-record' }, { step: 'record-by-record' }],
    );
  });

  test('one batch attempt goes record by record at once', () => {
    assert.deepEqual(nextStepAfterFailure(data, 1, { batchAttempts: 1, retryDelayMs: 100 }), { step: 'record-by-record' });
  });

  test('an outage goes back to the log however often it happened', () => {
    for (const attempt of [1, 3, 1000]) assert.deepEqual(nextStepAfterFailure(outage, attempt, policy), { step: 'rethrow' });
  });
});

describe('deadLetterOf', () => {
  const failure = { kind: 'data', code: '22003', reason: 'value "2147483648" is out of range for type integer' } as const;
  const record = (value: Buffer): LogRecord => ({ topic: 'chute.run-events', partition: 2, offset: 41, key: 'run-1', value, timestamp: 5, headers: {} });

  test('says where the record was, carries its bytes and why it was refused, and is a valid dead letter', () => {
    const value = Buffer.from('{"v":1,"text":"a\\u0000b"}');
    const letter = deadLetterOf(record(value), failure, 'chute.projector.runs', 1234);
    assert.deepEqual(letter, {
      v: 1,
      type: 'RecordParked',
      key: 'run-1',
      topic: 'chute.run-events',
      partition: 2,
      offset: 41,
      value: value.toString('base64'),
      valueBytes: value.length,
      reason: failure.reason,
      code: '22003',
      consumer: 'chute.projector.runs',
      at: 1234,
    });
    assert.deepEqual(Buffer.from(letter.value, 'base64'), value);
    assert.deepEqual(RecordParked.parse(letter), letter);
  });

  test("a value too large for a dead letter is cut, its whole length kept; a long reason is cut", () => {
    const value = Buffer.alloc(2 * 1024 * 1024, 'x');
    const letter = deadLetterOf(record(value), { ...failure, reason: 'r'.repeat(10_000) }, 'c', 1);
    assert.equal(Buffer.from(letter.value, 'base64').length, MAX_PARKED_VALUE_BYTES);
    assert.equal(letter.valueBytes, value.length);
    assert.equal(letter.reason.length, MAX_PARKED_REASON_CHARS);
    assert.ok(JSON.stringify(letter).length < 2 * 1024 * 1024, "it fits the log's record limit");
    assert.doesNotThrow(() => RecordParked.parse(letter));
  });
});
