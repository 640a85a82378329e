import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunState } from '@chute/domain';
import { decodeRunState, encodeRunState, InvalidRowError } from './index';

const id = '6f1c3c1e-9d8a-4a55-9a57-3f4c2b1a0d01';
const state: RunState = {
  runId: id,
  tenant: 'acme',
  task: 'echo',
  status: 'FAILED',
  phase: 'ended',
  input: { text: 'a\u0000b' },
  output: null,
  error: { name: 'Error', message: 'boom', nonRetryable: true },
  attempt: 2,
  retries: 1,
  failures: 2,
  executionTimeoutMs: 5000,
  workerId: 'w-1',
  deadlineAt: null,
  nextRetryAt: null,
  cancelRequested: false,
  createdAt: 1000,
  updatedAt: 2000,
  startedAt: 1100,
  finishedAt: 2000,
};

function invalid(value: unknown): InvalidRowError {
  try {
    decodeRunState(id, value);
  } catch (error) {
    assert.ok(error instanceof InvalidRowError, `expected InvalidRowError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the stored state to be refused');
}

describe('persisted run state', () => {
  test('a state written by encodeRunState carries its version and decodes to the same state', () => {
    const text = encodeRunState(state);
    assert.equal(JSON.parse(text).v, 1);
    assert.deepEqual(decodeRunState(id, JSON.parse(text)), state);
  });

  test('a state stored before the state was versioned (no v) reads as version 1', () => {
    assert.deepEqual(decodeRunState(id, JSON.parse(JSON.stringify(state))), state);
  });

  test('a damaged state is a typed error naming the row and the field, not a TypeError later', () => {
    const err = invalid({ ...state, v: 1, status: 'EXPLODED' });
    assert.equal(err.code, 'READ_MODEL_ROW_INVALID');
    assert.equal(err.id, id);
    assert.equal(err.field, 'status');
    assert.match(err.message, /^read model row runs\/6f1c3c1e-9d8a-4a55-9a57-3f4c2b1a0d01 does not decode: status: /);
    assert.equal(invalid({ ...state, input: undefined }).field, 'input');
    assert.equal(invalid({}).field, 'runId');
    assert.equal(invalid(null).field, '(root)');
    assert.equal(invalid(['not', 'a', 'state']).field, '(root)');
  });

  test('a version newer than this reader knows is refused, saying so', () => {
    const err = invalid({ ...state, v: 2 });
    assert.equal(err.field, 'v');
    assert.match(err.message, /version 2 is newer than this reader knows \(1\)/);
  });
});
