import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RunEvent, StreamRecord } from '@chute/schemas';
import { AttemptRecords, runRequested } from './events';

const dispatch = { runId: '0b6f2e4e-4a1f-4c1e-9a55-2f1d7f1f0c11', tenant: 'acme', attempt: 2 };

describe('the events one place builds', () => {
  test('a trigger makes a RunRequested that matches its schema', () => {
    const event = runRequested({ ...dispatch, task: 'summarize', input: { text: 'hi' }, retries: 3, executionTimeoutMs: 60_000 }, 1_000);
    assert.deepEqual(RunEvent.parse(event), event);
    assert.equal(event.type, 'RunRequested');
    assert.equal(event.at, 1_000);
  });

  test("every record of an attempt matches its schema and carries the attempt's run, tenant and number", () => {
    const records = new AttemptRecords(dispatch, 'worker-1');
    const events = [
      records.rejected('all 4 slots are busy', 1),
      records.started(2),
      records.completed({ ok: true }, 3),
      records.failed({ name: 'Error', message: 'boom', nonRetryable: false }, { willRetry: false }, 4),
    ];
    for (const event of events) {
      assert.deepEqual(RunEvent.parse(event), event, event.type);
      assert.deepEqual([event.runId, event.tenant, event.attempt], [dispatch.runId, dispatch.tenant, dispatch.attempt], event.type);
    }
    for (const record of [records.chunk(0, 'token', 'utf8', 5), records.chunk(1, 'AAE=', 'base64', 6), records.streamEnd('COMPLETED', 1, 7)]) {
      assert.deepEqual(StreamRecord.parse(record), record, record.type);
      assert.equal(record.attempt, dispatch.attempt);
    }
    assert.equal(records.started(2).workerId, 'worker-1');
  });
});
