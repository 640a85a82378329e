// One projection suite for both engines: PGlite (quick start) and a real
// PostgreSQL server through pg. The tests share one migrated database and use
// a run id each.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { evolveRun, type RunState } from '@chute/domain';
import { decodeRunState, InvalidRowError, migrateToLatest, type Db } from '@chute/db';
import type { RunEvent } from '@chute/schemas';
import pg from 'pg';
import { Metrics, silentLogger } from '@chute/runtime';
import type { RecordParked } from '@chute/schemas';
import { BatchProjector } from './batch-projector';
import { classifyProjectionError } from './failures';
import { applyRunEvents, projectBatch, type ApplyEvents } from './projection';
import { RunsProjection } from './runs-projection';
import { at, decodedRecords, refusedDispatch, runLife } from './run-events.test-support';

/** What the suite needs from an engine: an empty database, and how to release it. */
export interface EmptyDatabase {
  db: Db;
  close(): Promise<void>;
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
      const failed: RunEvent = { v: 1, tenant: 'default', type: 'RunFailed', runId, at: at + 9, attempt: 1, error, retry: { willRetry: false } };
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

    /** A BatchProjector whose dead letters are collected in `letters`. */
    function batchProjector(apply: ApplyEvents<RunEvent> = applyRunEvents) {
      const letters: RecordParked[] = [];
      const metrics = new Metrics();
      const projector = new BatchProjector<RunEvent>({
        db,
        projection: 'runs',
        consumer: 'test.projector.runs',
        apply,
        park: async (parked) => void letters.push(...parked),
        logger: silentLogger,
        metrics,
        policy: { batchAttempts: 2, retryDelayMs: 1 },
      });
      const parkedCount = () => metrics.counter('chute_projector_dead_letters_total', '').get({ projection: 'runs' });
      return { projector, letters, parkedCount };
    }
    const checkpointOf = async (p: number) =>
      (await db.selectFrom('projector_checkpoints').select('offset').where('projection', '=', 'runs').where('partition', '=', p).executeTakeFirst())?.offset;
    const statusOf = async (runId: string) =>
      (await db.selectFrom('runs').select(['status', 'attempt']).where('id', '=', runId).executeTakeFirst());

    test('a value the column cannot hold is refused as data (SQLSTATE 22003), by the error the engine throws', async () => {
      partition = 5;
      const runId = randomUUID();
      const error = await project([runLife(runId, null, null)[0]!, refusedDispatch(runId)]).then(
        () => assert.fail('expected the batch to be refused'),
        (e: unknown) => e,
      );
      assert.deepEqual([classifyProjectionError(error).kind, classifyProjectionError(error).code], ['data', '22003']);
    });

    test('a batch with a record the read model refuses: the good records land, the bad one is parked and skipped', async () => {
      partition = 6;
      const good = randomUUID();
      const bad = randomUUID();
      const [goodRequested, goodDispatched, goodStarted, goodCompleted] = runLife(good, { n: 'a\u0000b' }, 'ok');
      const events = [goodRequested!, runLife(bad, null, null)[0]!, refusedDispatch(bad), goodDispatched!, goodStarted!, goodCompleted!];
      const batch = decodedRecords(events, { partition, offset: 10 });
      const { projector, letters, parkedCount } = batchProjector();

      assert.equal(await projector.project(batch), 5, 'every record but the refused one is applied');
      assert.deepEqual(await statusOf(good), { status: 'COMPLETED', attempt: 1 });
      assert.deepEqual(await statusOf(bad), { status: 'QUEUED', attempt: 0 }, 'the run is there, without the refused dispatch');
      assert.equal(await checkpointOf(partition), 16, 'the checkpoint is past the whole batch');
      assert.equal(letters.length, 1);
      const letter = letters[0]!;
      assert.deepEqual(
        { key: letter.key, topic: letter.topic, partition: letter.partition, offset: letter.offset, code: letter.code, consumer: letter.consumer },
        { key: bad, topic: 'run-events', partition, offset: 12, code: '22003', consumer: 'test.projector.runs' },
      );
      assert.match(letter.reason, /out of range for type integer/);
      assert.deepEqual(Buffer.from(letter.value, 'base64'), batch[2]!.record.value, "the record's bytes as read");
      assert.equal(parkedCount(), 1, 'counted in chute_projector_dead_letters_total');

      assert.equal(await projector.project(batch), 0, 'redelivered, the batch changes nothing');
      assert.equal(letters.length, 1, 'and parks nothing again');
    });

    test('an outage goes back to the log at once: nothing is parked, retried or skipped', async () => {
      partition = 7;
      let calls = 0;
      const shutdown = new pg.DatabaseError('terminating connection due to administrator command', 0, 'error');
      Object.assign(shutdown, { code: '57P01', severity: 'FATAL' });
      const { projector, letters, parkedCount } = batchProjector(async () => {
        calls++;
        throw shutdown;
      });
      const batch = decodedRecords(runLife(randomUUID(), null, null), { partition });
      await assert.rejects(projector.project(batch), (error) => error === shutdown);
      assert.equal(calls, 1);
      assert.deepEqual([letters.length, parkedCount(), await checkpointOf(partition)], [0, 0, undefined]);
    });

    test('a data error that clears when the batch is tried again parks nothing', async () => {
      partition = 8;
      let calls = 0;
      const conflict = new pg.DatabaseError('duplicate key value violates unique constraint', 0, 'error');
      Object.assign(conflict, { code: '23505', severity: 'ERROR' });
      const { projector, letters } = batchProjector(async (trx, events) => {
        if (++calls === 1) throw conflict;
        await applyRunEvents(trx, events);
      });
      const runId = randomUUID();
      assert.equal(await projector.project(decodedRecords(runLife(runId, null, 'ok'), { partition })), 4);
      assert.deepEqual([calls, letters.length], [2, 0]);
      assert.deepEqual(await statusOf(runId), { status: 'COMPLETED', attempt: 1 });
    });

    test("a run whose stored state does not decode: its events are parked as READ_MODEL_ROW_INVALID, other runs go on", async () => {
      partition = 9;
      const damaged = randomUUID();
      const other = randomUUID();
      const damagedLife = runLife(damaged, null, 'ok');
      await project(damagedLife.slice(0, 1));
      await db.updateTable('runs').set({ state: JSON.stringify({ v: 1, runId: damaged }) }).where('id', '=', damaged).execute();
      const { projector, letters } = batchProjector();
      const batch = decodedRecords([...damagedLife.slice(1, 3), ...runLife(other, null, 'ok')], { partition, offset: 1 });
      assert.equal(await projector.project(batch), 4);
      assert.deepEqual(await statusOf(other), { status: 'COMPLETED', attempt: 1 });
      assert.deepEqual(letters.map((l) => [l.key, l.offset, l.code]), [
        [damaged, 1, 'READ_MODEL_ROW_INVALID'],
        [damaged, 2, 'READ_MODEL_ROW_INVALID'],
      ]);
      assert.equal(await checkpointOf(partition), 7);
    });

    describe('one statement per batch (RunsProjection)', () => {
      /** A projection of its own, and how many batches it wrote each way. */
      function runsProjection() {
        const metrics = new Metrics();
        const projection = new RunsProjection(db, metrics);
        const written = metrics.counter('chute_projector_run_batches_total', '');
        return { projection, ways: () => ({ statement: written.get({ write: 'statement' }), transaction: written.get({ write: 'transaction' }) }) };
      }
      const rowOf = (runId: string) => db.selectFrom('runs').selectAll().where('id', '=', runId).executeTakeFirstOrThrow();
      const next = (offset: number) => ({ partition, offset });

      test('batches that follow on are written in one statement each, to the same rows the transaction writes', async () => {
        partition = 20;
        const { projection, ways } = runsProjection();
        const runId = randomUUID();
        const other = randomUUID();
        const input = { text: 'a\u0000b', n: [1, 2] };
        const [requested, dispatched, started, completed] = runLife(runId, input, { out: 'é🙂' });
        assert.equal(await projection.project(decodedRecords([requested!], { partition }), next(1)), 1);
        // Past a commit marker at offset 1: the next batch starts at 2.
        assert.equal(await projection.project(decodedRecords([dispatched!, ...runLife(other, null, null).slice(0, 1)], { partition, offset: 2 }), next(4)), 2);
        assert.equal(await projection.project(decodedRecords([started!, completed!], { partition, offset: 4 }), next(6)), 2);
        assert.deepEqual(ways(), { statement: 2, transaction: 1 }, 'the first batch reads (nothing is known of the partition), the others do not');
        const row = await rowOf(runId);
        const folded = [requested!, dispatched!, started!, completed!].reduce<RunState | undefined>(evolveRun, undefined)!;
        assert.deepEqual(
          [row.status, row.input, row.output, row.attempt, row.worker_id, row.started_at?.getTime(), row.finished_at?.getTime()],
          ['COMPLETED', input, { out: 'é🙂' }, 1, 'w-1', folded.startedAt, folded.finishedAt],
        );
        assert.deepEqual(decodeRunState(runId, row.state), folded, 'the stored state is the fold of the events');
        assert.equal((await rowOf(other)).status, 'QUEUED');
        assert.equal(await checkpointOf(partition), 6);
      });

      test('a checkpoint another projector moved meanwhile: the statement writes nothing, and the batch goes the long way', async () => {
        partition = 21;
        const mine = runsProjection();
        const theirs = runsProjection();
        const runId = randomUUID();
        const [requested, dispatched, started, completed] = runLife(runId, null, 'ok');
        await mine.projection.project(decodedRecords([requested!, dispatched!], { partition }), next(2));
        // The partition changed hands and back: the other projector applied offset 2 meanwhile.
        await theirs.projection.project(decodedRecords([started!], { partition, offset: 2 }), next(3));
        assert.equal(await mine.projection.project(decodedRecords([started!, completed!], { partition, offset: 2 }), next(4)), 1, 'only what the checkpoint is not past');
        assert.deepEqual(mine.ways(), { statement: 0, transaction: 2 });
        assert.deepEqual([(await rowOf(runId)).status, await checkpointOf(partition)], ['COMPLETED', 4]);
      });

      test('a request whose run id is taken does not overwrite the run: the batch goes the long way, where the fold ignores it', async () => {
        partition = 22;
        const { projection, ways } = runsProjection();
        const runId = randomUUID();
        const life = runLife(runId, { first: true }, 'ok');
        // The run is in the read model, written through another partition's checkpoint.
        await projectBatch(db, 'runs', decodedRecords(life, { partition: 23 }), applyRunEvents);
        const before = await rowOf(runId);
        const latecomer = randomUUID();
        await projection.project(decodedRecords(runLife(latecomer, null, null).slice(0, 1), { partition }), next(1));
        const again: RunEvent = { ...life[0]!, input: { first: false } } as RunEvent;
        assert.equal(await projection.project(decodedRecords([again], { partition, offset: 1 }), next(2)), 1);
        assert.deepEqual(ways(), { statement: 0, transaction: 2 });
        assert.deepEqual(await rowOf(runId), before);
        assert.equal(await checkpointOf(partition), 2);
      });

      test('a run it does not remember is read first: the batch goes the long way, then the next follows on in one statement', async () => {
        partition = 24;
        const { projection, ways } = runsProjection();
        const known = randomUUID();
        const unknown = randomUUID();
        const unknownLife = runLife(unknown, null, 'ok');
        await project(unknownLife.slice(0, 2), 0);
        const knownLife = runLife(known, null, 'ok');
        await projection.project(decodedRecords(knownLife.slice(0, 1), { partition, offset: 2 }), next(3));
        await projection.project(decodedRecords([unknownLife[2]!, knownLife[1]!], { partition, offset: 3 }), next(5));
        await projection.project(decodedRecords([unknownLife[3]!, knownLife[2]!, knownLife[3]!], { partition, offset: 5 }), next(8));
        assert.deepEqual(ways(), { statement: 1, transaction: 2 });
        assert.deepEqual([(await rowOf(unknown)).status, (await rowOf(known)).status, await checkpointOf(partition)], ['COMPLETED', 'COMPLETED', 8]);
      });
    });
  });
}
