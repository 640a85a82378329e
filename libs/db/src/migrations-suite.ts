// One migration suite for both engines: the read model must behave the same on
// PGlite (quick start) and on a real PostgreSQL server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { migrateDown, migrateToLatest, type Db } from './index';

export function describeReadModelMigrations(engine: string, open: () => Promise<{ db: Db; close(): Promise<void> }>): void {
  describe(`read model migrations on ${engine}`, () => {
    let db: Db;
    let close: () => Promise<void>;

    before(async () => {
      ({ db, close } = await open());
    });
    after(async () => {
      await close();
    });

    test('migrate up creates runs, workers and projector_checkpoints with their columns', async () => {
      assert.deepEqual(await migrateToLatest(db), ['0001_read_model']);
      const { rows } = await sql<{ table_name: string; column_name: string }>`
        select table_name, column_name from information_schema.columns
        where table_schema = 'public' and table_name in ('runs', 'workers', 'projector_checkpoints')
        order by table_name, ordinal_position`.execute(db);
      const columns = (table: string) => rows.filter((r) => r.table_name === table).map((r) => r.column_name);
      assert.deepEqual(columns('runs'), [
        'id', 'task', 'status', 'input', 'output', 'error', 'attempt', 'max_retries', 'failures', 'worker_id',
        'created_at', 'updated_at', 'started_at', 'finished_at', 'state',
      ]);
      assert.deepEqual(columns('workers'), ['id', 'name', 'tasks', 'slots', 'status', 'registered_at', 'last_heartbeat_at']);
      assert.deepEqual(columns('projector_checkpoints'), ['projection', 'topic', 'partition', 'offset', 'updated_at']);
    });

    test('a second migrate is a no-op', async () => {
      assert.deepEqual(await migrateToLatest(db), []);
    });

    test('rows round-trip, JSON included, and offsets read back as numbers', async () => {
      const now = new Date('2026-01-02T03:04:05.000Z');
      await db
        .insertInto('runs')
        .values({
          id: '6f1c3c1e-9d8a-4a55-9a57-3f4c2b1a0d01',
          task: 'echo',
          status: 'QUEUED',
          input: JSON.stringify({ list: [1, 'two'], text: 'é🙂' }),
          state: '{}',
          created_at: now,
          updated_at: now,
        })
        .execute();
      const run = await db.selectFrom('runs').selectAll().executeTakeFirstOrThrow();
      assert.deepEqual(run.input, { list: [1, 'two'], text: 'é🙂' });
      assert.equal(run.created_at.toISOString(), now.toISOString());
      await db.insertInto('projector_checkpoints').values({ projection: 'p', topic: 't', partition: 0, offset: 2 ** 40 }).execute();
      const cp = await db.selectFrom('projector_checkpoints').select('offset').executeTakeFirstOrThrow();
      assert.equal(cp.offset, 2 ** 40);
    });

    test('a status outside the lifecycle is refused by the database', async () => {
      const now = new Date();
      await assert.rejects(
        db
          .insertInto('runs')
          .values({ id: '6f1c3c1e-9d8a-4a55-9a57-3f4c2b1a0d02', task: 'echo', status: 'EXPLODED' as never, input: 'null', state: '{}', created_at: now, updated_at: now })
          .execute(),
        /check constraint/i,
      );
    });

    test('migrate down drops every table', async () => {
      await migrateDown(db);
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from information_schema.tables
        where table_schema = 'public' and table_name in ('runs', 'workers', 'projector_checkpoints')`.execute(db);
      assert.equal(rows[0]!.n, 0);
    });
  });
}
