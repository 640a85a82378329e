// One migration suite for both engines: the read model must behave the same on
// PGlite (quick start) and on a real PostgreSQL server. The tests run in order
// on one database and walk it through its lifecycle: failed up, up, up again,
// writes, down, up again.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import { migrateDown, migrateToLatest, sqlStateOf, type Db, type NewRunRow } from './index';
import { migrationProvider } from './migrations';

/** What a suite needs from an engine: an empty database, and how to release it. */
export interface EmptyDatabase {
  db: Db;
  close(): Promise<void>;
}

const TABLES = ['runs', 'workers', 'projector_checkpoints'];

/** `name type null|not null`, one per column in table order: the shape a migration must produce. */
const EXPECTED_COLUMNS: Record<string, string[]> = {
  runs: [
    'id uuid not null',
    'task text not null',
    'status text not null',
    'input json not null',
    'output json null',
    'error json null',
    'attempt integer not null',
    'max_retries integer not null',
    'failures integer not null',
    'worker_id text null',
    'created_at timestamp with time zone not null',
    'updated_at timestamp with time zone not null',
    'started_at timestamp with time zone null',
    'finished_at timestamp with time zone null',
    'state json not null',
    'tenant text not null',
  ],
  workers: [
    'id text not null',
    'name text not null',
    'tasks jsonb not null',
    'slots integer not null',
    'status text not null',
    'registered_at timestamp with time zone not null',
    'last_heartbeat_at timestamp with time zone not null',
    'tenant text not null',
  ],
  projector_checkpoints: [
    'projection text not null',
    'topic text not null',
    'partition integer not null',
    'offset bigint not null',
    'updated_at timestamp with time zone not null',
  ],
};

async function columnsOf(db: Db): Promise<Record<string, string[]>> {
  const { rows } = await sql<{ table_name: string; column_name: string; data_type: string; is_nullable: 'YES' | 'NO' }>`
    select table_name, column_name, data_type, is_nullable from information_schema.columns
    where table_schema = current_schema() and table_name in (${sql.join(TABLES)})
    order by table_name, ordinal_position`.execute(db);
  const columns: Record<string, string[]> = {};
  for (const r of rows) {
    (columns[r.table_name] ??= []).push(`${r.column_name} ${r.data_type} ${r.is_nullable === 'YES' ? 'null' : 'not null'}`);
  }
  return columns;
}

async function tablesOf(db: Db): Promise<string[]> {
  const { rows } = await sql<{ table_name: string }>`
    select table_name from information_schema.tables
    where table_schema = current_schema() and table_name in (${sql.join(TABLES)})
    order by table_name`.execute(db);
  return rows.map((r) => r.table_name);
}

const ALL_MIGRATIONS = ['0001_read_model', '0002_json_columns', '0003_tenants'];

const at = new Date('2026-01-02T03:04:05.678Z');

/** JSON text as the projector writes it, with U+0000 (which JSON spells `\u0000`) in a string. */
const WITH_NUL = JSON.stringify({ text: 'a\u0000b', list: ['\u0000', 'é🙂'] });

function run(id: string, status: string) {
  return {
    id,
    task: 'echo',
    // Cast: the point is to get past the type and reach the database's own check.
    status: status as 'QUEUED',
    input: JSON.stringify({ list: [1, 'two', null], text: 'é🙂' }),
    state: '{}',
    created_at: at,
    updated_at: at,
  };
}

function worker(id: string, status: string) {
  return {
    id,
    name: 'w',
    tasks: JSON.stringify(['echo']),
    slots: 2,
    status: status as 'ACTIVE',
    registered_at: at,
    last_heartbeat_at: at,
  };
}

/**
 * Registers the read-model migration tests on the database `open` returns.
 * `open` runs once, in `before`; the suite calls `close` in `after`.
 */
export function describeReadModelMigrations(engine: string, open: () => Promise<EmptyDatabase>): void {
  describe(`read model migrations on ${engine}`, () => {
    let db: Db;
    let close: (() => Promise<void>) | undefined;

    before(async () => {
      ({ db, close } = await open());
    });
    after(async () => {
      await close?.();
    });

    test('a failing migration is named in the error and leaves no table behind', async () => {
      await sql`create table runs (squatter integer)`.execute(db);
      await assert.rejects(migrateToLatest(db), {
        message: /could not apply migration "0001_read_model": .*"runs" already exists/,
      });
      assert.deepEqual(await tablesOf(db), ['runs'], 'tables created before the failure were rolled back');
      await sql`drop table runs`.execute(db);
    });

    test('migrating up creates runs, workers and projector_checkpoints with the expected columns', async () => {
      assert.deepEqual(await migrateToLatest(db), ALL_MIGRATIONS);
      assert.deepEqual(await columnsOf(db), EXPECTED_COLUMNS);
    });

    test('runs has the indexes its listings page through', async () => {
      const { rows } = await sql<{ indexname: string; indexdef: string }>`
        select indexname, indexdef from pg_indexes
        where schemaname = current_schema() and tablename = 'runs' order by indexname`.execute(db);
      const columnsByIndex = Object.fromEntries(rows.map((r) => [r.indexname, /\((.*)\)/.exec(r.indexdef)?.[1]]));
      assert.deepEqual(columnsByIndex, {
        runs_pkey: 'id',
        runs_tenant_created_at_id_idx: 'tenant, created_at DESC, id DESC',
        runs_tenant_status_created_at_idx: 'tenant, status, created_at DESC, id DESC',
        runs_tenant_task_created_at_idx: 'tenant, task, created_at DESC, id DESC',
      });
    });

    test('migrating again applies nothing', async () => {
      assert.deepEqual(await migrateToLatest(db), []);
    });

    test('rows round-trip: JSON parsed, timestamps as Dates, defaults filled, bigints as numbers', async () => {
      await db.insertInto('runs').values(run('6f1c3c1e-9d8a-4a55-9a57-3f4c2b1a0d01', 'QUEUED')).execute();
      const row = await db.selectFrom('runs').selectAll().executeTakeFirstOrThrow();
      assert.deepEqual(row.input, { list: [1, 'two', null], text: 'é🙂' });
      assert.ok(row.created_at instanceof Date);
      assert.equal(row.created_at.toISOString(), at.toISOString());
      assert.deepEqual([row.attempt, row.max_retries, row.failures, row.output, row.error], [0, 0, 0, null, null]);

      await db.insertInto('workers').values(worker('w-1', 'ACTIVE')).execute();
      const w = await db.selectFrom('workers').select('tasks').executeTakeFirstOrThrow();
      assert.deepEqual(w.tasks, ['echo']);

      const offset = 2 ** 40;
      await db.insertInto('projector_checkpoints').values({ projection: 'runs', topic: 't', partition: 0, offset }).execute();
      const cp = await db.selectFrom('projector_checkpoints').selectAll().executeTakeFirstOrThrow();
      assert.equal(cp.offset, offset);
      assert.ok(cp.updated_at instanceof Date, 'updated_at defaults to now()');
      const count = await db.selectFrom('runs').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
      assert.equal(count.n, 1, 'count(*) is an int8 and reads as a number too');
    });

    test("runs' JSON columns keep any JSON as written, \\u0000 included, and read it back equal", async () => {
      const id = '6f1c3c1e-9d8a-4a55-9a57-3f4c2b1a0d0f';
      const error = { name: 'Error', message: 'nul \u0000 here', nonRetryable: false };
      await db
        .insertInto('runs')
        .values({ ...run(id, 'FAILED'), input: WITH_NUL, output: WITH_NUL, error: JSON.stringify(error), state: WITH_NUL })
        .execute();
      const row = await db.selectFrom('runs').select(['input', 'output', 'error', 'state']).where('id', '=', id).executeTakeFirstOrThrow();
      const expected = { text: 'a\u0000b', list: ['\u0000', 'é🙂'] };
      assert.deepEqual(row, { input: expected, output: expected, error, state: expected });
      const { rows } = await sql<{ text: string }>`select input::text as text from runs where id = ${id}`.execute(db);
      assert.equal(rows[0]?.text, WITH_NUL, 'stored as the exact text written');
      await db.deleteFrom('runs').where('id', '=', id).execute();
    });

    test('a run status outside the lifecycle is refused by the database', async () => {
      await assert.rejects(db.insertInto('runs').values(run('6f1c3c1e-9d8a-4a55-9a57-3f4c2b1a0d02', 'EXPLODED')).execute(), {
        message: /violates check constraint "runs_status_check"/,
      });
      for (const [i, status] of ['RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT'].entries()) {
        await db.insertInto('runs').values(run(`6f1c3c1e-9d8a-4a55-9a57-3f4c2b1a0e0${i}`, status)).execute();
      }
    });

    test("a refused write's SQLSTATE is read from the engine's own error", async () => {
      const refusal = (values: NewRunRow) =>
        db.insertInto('runs').values(values).execute().then(
          () => assert.fail('expected the write to be refused'),
          (error: unknown) => error,
        );
      const id = '6f1c3c1e-9d8a-4a55-9a57-3f4c2b1a0d12';
      assert.equal(sqlStateOf(await refusal({ ...run(id, 'QUEUED'), attempt: 2 ** 31 })), '22003');
      assert.equal(sqlStateOf(await refusal(run(id, 'EXPLODED'))), '23514');
      assert.equal(sqlStateOf(await refusal({ ...run(id, 'QUEUED'), task: 'a\u0000b' })), '22021', 'text cannot hold U+0000');
    });

    test('a worker status outside ACTIVE, STOPPED, DEAD is refused by the database', async () => {
      await db.insertInto('workers').values([worker('w-2', 'STOPPED'), worker('w-3', 'DEAD')]).execute();
      await assert.rejects(db.insertInto('workers').values(worker('w-4', 'SLEEPING')).execute(), {
        message: /violates check constraint "workers_status_check"/,
      });
    });

    test('a checkpoint is unique per projection, topic and partition', async () => {
      await db.insertInto('projector_checkpoints').values({ projection: 'runs', topic: 't', partition: 1, offset: 0 }).execute();
      await assert.rejects(
        db.insertInto('projector_checkpoints').values({ projection: 'runs', topic: 't', partition: 1, offset: 5 }).execute(),
        { message: /duplicate key value violates unique constraint "projector_checkpoints_pk"/ },
      );
    });

    test('migrating down drops every table, and migrating up afterwards starts afresh', async () => {
      assert.deepEqual(await migrateDown(db), [...ALL_MIGRATIONS].reverse());
      assert.deepEqual(await tablesOf(db), []);
      assert.deepEqual(await migrateDown(db), [], 'nothing left to undo');
      assert.deepEqual(await migrateToLatest(db), ALL_MIGRATIONS);
      assert.equal((await db.selectFrom('runs').selectAll().execute()).length, 0);
    });

    test('0002 keeps the rows a read model on 0001 (jsonb) holds, and turns its columns to json; 0003 gives them the default tenant', async () => {
      await migrateDown(db);
      const migrator = new Migrator({ db, provider: migrationProvider });
      assert.equal((await migrator.migrateTo('0001_read_model')).error, undefined);
      const id = '6f1c3c1e-9d8a-4a55-9a57-3f4c2b1a0d10';
      await db.insertInto('runs').values({ ...run(id, 'COMPLETED'), output: '"done"', state: '{"v":1}' }).execute();
      assert.deepEqual(await migrateToLatest(db), ['0002_json_columns', '0003_tenants']);
      assert.deepEqual(await columnsOf(db), EXPECTED_COLUMNS);
      const row = await db.selectFrom('runs').select(['input', 'output', 'error', 'state', 'tenant']).where('id', '=', id).executeTakeFirstOrThrow();
      assert.deepEqual(row, { input: { list: [1, 'two', null], text: 'é🙂' }, output: 'done', error: null, state: { v: 1 }, tenant: 'default' });
    });

    test('undoing 0002 while a row holds \\u0000 fails naming it and changes nothing: jsonb cannot store it', async () => {
      const id = '6f1c3c1e-9d8a-4a55-9a57-3f4c2b1a0d11';
      await db.insertInto('runs').values({ ...run(id, 'QUEUED'), input: WITH_NUL }).execute();
      await assert.rejects(migrateDown(db), { message: /could not undo migration "0002_json_columns": unsupported Unicode escape sequence/ });
      assert.deepEqual(await columnsOf(db), EXPECTED_COLUMNS);
      const row = await db.selectFrom('runs').select('input').where('id', '=', id).executeTakeFirstOrThrow();
      assert.deepEqual(row.input, { text: 'a\u0000b', list: ['\u0000', 'é🙂'] });
    });
  });
}
