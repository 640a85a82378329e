// One projection suite for both engines: PGlite (quick start) and a real
// PostgreSQL server through pg. The tests share one migrated database and use
// a run id each.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { evolveRun, type RunState } from '@chute/domain';
import { decodeRunState, InvalidRowError, migrateToLatest, type Db } from '@chute/db';
import type { Decoded } from '@chute/log';
import type { Json, RunEvent } from '@chute/schemas';
import { applyRunEvents, projectBatch } from './projection';

/** What the suite needs from an engine: an empty database, and how to release it. */
export interface EmptyDatabase {
  db: Db;
  close(): Promise<void>;
}

const at = 1_767_225_600_000;

/** Events as a consumer hands them over: decoded, with their place in the log. */
export function decodedRecords<T extends { runId: string } | { workerId: string }>(
  values: readonly T[],
  from: { topic?: string; partition?: number; offset?: number } = {},
): Decoded<T>[] {
  return values.map((value, i) => ({
    value,
    record: {
      topic: from.topic ?? 'run-events',
      partition: from.partition ?? 0,
      offset: (from.offset ?? 0) + i,
      key: 'runId' in value ? value.runId : value.workerId,
      value: Buffer.from(JSON.stringify(value)),
      timestamp: at,
    },
  }));
}

/** A run's whole life: requested with `input`, dispatched, started, completed with `output`. */
export function runLife(runId: string, input: Json, output: Json): RunEvent[] {
  return [
    { v: 1, type: 'RunRequested', runId, at, task: 'echo', input, retries: 0, executionTimeoutMs: 5000 },
    { v: 1, type: 'RunDispatched', runId, at: at + 1, task: 'echo', input, attempt: 1, workerId: 'w-1', deadlineAt: at + 5001, retriesLeft: 0, retryDelayMs: 500 },
    { v: 1, type: 'RunStarted', runId, at: at + 2, attempt: 1, workerId: 'w-1' },
    { v: 1, type: 'RunCompleted', runId, at: at + 3, attempt: 1, output },
  ];
}

/**
 * Registers the projection tests on the database `open` returns (migrated
 * here). `open` runs once, in `before`; the suite calls `close` in `after`.
 */
export function describeRunProjection(engine: string, open: () => Promise<EmptyDatabase>): void {
  describe(`run projection on ${engine}`, () => {
    let db: Db;
    let close: (() => Promise<void>) | undefined;
    let partition = 0;
    /** A partition of its own per test, so checkpoints never meet. */
    const project = (events: readonly RunEvent[], offset = 0) =>
      projectBatch(db, 'runs', decodedRecords(events, { partition, offset }), applyRunEvents);

    before(async () => {
      ({ db, close } = await open());
      await migrateToLatest(db);
    });
    after(async () => {
      await close?.();
    });

    test('a run whose input and output hold U+0000 is projected, and reads back equal', async () => {
      partition = 1;
      const runId = randomUUID();
      const input = { text: 'a\u0000b', nested: ['\u0000', { '\u0000key': 'é🙂' }] };
      const output = 'done\u0000';
      const events = runLife(runId, input, output);
      assert.equal(await project(events), 4);
      const row = await db.selectFrom('runs').selectAll().where('id', '=', runId).executeTakeFirstOrThrow();
      assert.deepEqual(row.input, input);
      assert.equal(row.output, output);
      assert.equal(row.status, 'COMPLETED');
      const folded = events.reduce<RunState | undefined>(evolveRun, undefined);
      assert.deepEqual(decodeRunState(runId, row.state), folded, 'the stored state is the fold of the events');
    });

    test("a failure whose message holds U+0000 is projected into the run's error", async () => {
      partition = 2;
      const runId = randomUUID();
      const [requested, dispatched] = runLife(runId, 'in\u0000put', null);
      const error = { name: 'Error\u0000', message: 'bad \u0000 byte', nonRetryable: true };
      const failed: RunEvent = { v: 1, type: 'RunFailed', runId, at: at + 9, attempt: 1, error, retry: { willRetry: false } };
      assert.equal(await project([requested!, dispatched!, failed]), 3);
      const row = await db.selectFrom('runs').select(['status', 'error', 'input']).where('id', '=', runId).executeTakeFirstOrThrow();
      assert.deepEqual(row, { status: 'FAILED', error, input: 'in\u0000put' });
    });

    test('a redelivered batch changes nothing: the checkpoint skips what was applied', async () => {
      partition = 3;
      const runId = randomUUID();
      const events = runLife(runId, { n: 1 }, 'ok');
      assert.equal(await project(events.slice(0, 2)), 2);
      assert.equal(await project(events.slice(0, 2)), 0, 'the same records again');
      assert.equal(await project(events, 0), 2, 'a batch overlapping the applied part applies only the rest');
      const cp = await db.selectFrom('projector_checkpoints').select('offset').where('partition', '=', partition).executeTakeFirstOrThrow();
      assert.equal(cp.offset, 4);
    });

    test('a row whose stored state does not decode fails the batch with InvalidRowError, and nothing of it lands', async () => {
      partition = 4;
      const runId = randomUUID();
      const events = runLife(runId, null, 'ok');
      await project(events.slice(0, 1));
      await db.updateTable('runs').set({ state: JSON.stringify({ v: 1, runId, status: 'EXPLODED' }) }).where('id', '=', runId).execute();
      await assert.rejects(project(events.slice(1), 1), (error) => error instanceof InvalidRowError && error.id === runId);
      const cp = await db.selectFrom('projector_checkpoints').select('offset').where('partition', '=', partition).executeTakeFirstOrThrow();
      assert.equal(cp.offset, 1, 'the checkpoint did not move');
    });
  });
}
