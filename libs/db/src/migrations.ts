import { sql, type Kysely } from 'kysely';
import type { Migration, MigrationProvider } from 'kysely/migration';

// A migration is frozen once it has run anywhere, so the allowed values are
// spelled out here instead of imported: a later change to the code's enums must
// come with a new migration, not silently rewrite this one.
const runStatuses = sql`'QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT'`;
const workerStatuses = sql`'ACTIVE', 'STOPPED', 'DEAD'`;

const readModel: Migration = {
  // Kysely<unknown>: a migration must not depend on today's `Database` type,
  // which describes the schema after the newest migration, not after this one.
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('runs')
      .addColumn('id', 'uuid', (c) => c.primaryKey())
      .addColumn('task', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('input', 'jsonb', (c) => c.notNull())
      .addColumn('output', 'jsonb')
      .addColumn('error', 'jsonb')
      .addColumn('attempt', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('max_retries', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('worker_id', 'text')
      .addColumn('created_at', 'timestamptz', (c) => c.notNull())
      .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
      .addColumn('started_at', 'timestamptz')
      .addColumn('finished_at', 'timestamptz')
      .addColumn('state', 'jsonb', (c) => c.notNull())
      // Named, so a violation says which rule was broken.
      .addCheckConstraint('runs_status_check', sql`status in (${runStatuses})`)
      .execute();
    // Every listing pages by (created_at desc, id desc), id breaking ties between
    // runs created in the same millisecond. Both keys descend, so one backward
    // or forward index scan serves the page without a sort.
    await db.schema.createIndex('runs_created_at_id_idx').on('runs').columns(['created_at desc', 'id desc']).execute();
    await db.schema.createIndex('runs_task_created_at_idx').on('runs').columns(['task', 'created_at desc', 'id desc']).execute();
    await db.schema.createIndex('runs_status_created_at_idx').on('runs').columns(['status', 'created_at desc', 'id desc']).execute();

    await db.schema
      .createTable('workers')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('tasks', 'jsonb', (c) => c.notNull())
      .addColumn('slots', 'integer', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('registered_at', 'timestamptz', (c) => c.notNull())
      .addColumn('last_heartbeat_at', 'timestamptz', (c) => c.notNull())
      .addCheckConstraint('workers_status_check', sql`status in (${workerStatuses})`)
      .execute();

    // No per-row `last_event_offset` on runs: this table's offset, written in the
    // same transaction as the rows, already makes a redelivered batch a no-op.
    await db.schema
      .createTable('projector_checkpoints')
      .addColumn('projection', 'text', (c) => c.notNull())
      .addColumn('topic', 'text', (c) => c.notNull())
      .addColumn('partition', 'integer', (c) => c.notNull())
      .addColumn('offset', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
      .addPrimaryKeyConstraint('projector_checkpoints_pk', ['projection', 'topic', 'partition'])
      .execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('projector_checkpoints').execute();
    await db.schema.dropTable('workers').execute();
    await db.schema.dropTable('runs').execute();
  },
};

/**
 * runs' JSON columns from `jsonb` to `json`. The gateway accepts any JSON,
 * and JSON may spell U+0000 as `\u0000`; `jsonb` refuses that escape
 * ("unsupported Unicode escape sequence", SQLSTATE 22P05) because it stores
 * strings as text, which cannot hold U+0000. `json` stores the text as given
 * (checked to be JSON), so every value the log carries can be projected.
 * Nothing queries inside these columns, so `jsonb`'s operators and indexes are
 * not missed. `workers.tasks` stays `jsonb`: it holds task names, which the
 * schema keeps to a URL-safe alphabet.
 *
 * The change rewrites `runs` under an exclusive lock: a read model, so a pause
 * at upgrade is acceptable.
 */
const jsonColumns: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    // Kysely's alterColumn has no USING clause; jsonb to json is lossless.
    await sql`alter table runs
      alter column input type json using input::json,
      alter column output type json using output::json,
      alter column error type json using error::json,
      alter column state type json using state::json`.execute(db);
  },

  async down(db: Kysely<unknown>): Promise<void> {
    // Fails, and rolls back, while any row holds a \u0000 that jsonb cannot store.
    await sql`alter table runs
      alter column input type jsonb using input::jsonb,
      alter column output type jsonb using output::jsonb,
      alter column error type jsonb using error::jsonb,
      alter column state type jsonb using state::jsonb`.execute(db);
  },
};

/**
 * Runs get their tenant. Rows projected before tenants existed belong to the
 * default tenant, as their records do. Every listing is a tenant's, so the
 * listing indexes lead with the tenant.
 */
const tenants: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('runs').addColumn('tenant', 'text', (c) => c.notNull().defaultTo('default')).execute();
    await db.schema.alterTable('workers').addColumn('tenant', 'text', (c) => c.notNull().defaultTo('default')).execute();
    await db.schema.dropIndex('runs_created_at_id_idx').execute();
    await db.schema.dropIndex('runs_task_created_at_idx').execute();
    await db.schema.dropIndex('runs_status_created_at_idx').execute();
    await db.schema.createIndex('runs_tenant_created_at_id_idx').on('runs').columns(['tenant', 'created_at desc', 'id desc']).execute();
    await db.schema.createIndex('runs_tenant_task_created_at_idx').on('runs').columns(['tenant', 'task', 'created_at desc', 'id desc']).execute();
    await db.schema.createIndex('runs_tenant_status_created_at_idx').on('runs').columns(['tenant', 'status', 'created_at desc', 'id desc']).execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex('runs_tenant_status_created_at_idx').execute();
    await db.schema.dropIndex('runs_tenant_task_created_at_idx').execute();
    await db.schema.dropIndex('runs_tenant_created_at_id_idx').execute();
    await db.schema.createIndex('runs_created_at_id_idx').on('runs').columns(['created_at desc', 'id desc']).execute();
    await db.schema.createIndex('runs_task_created_at_idx').on('runs').columns(['task', 'created_at desc', 'id desc']).execute();
    await db.schema.createIndex('runs_status_created_at_idx').on('runs').columns(['status', 'created_at desc', 'id desc']).execute();
    await db.schema.alterTable('workers').dropColumn('tenant').execute();
    await db.schema.alterTable('runs').dropColumn('tenant').execute();
  },
};

/**
 * Every migration, in the order its name sorts. Imported statically rather
 * than read from a folder at run time: services ship as one bundled file, where
 * no migrations folder exists.
 */
const migrations: Readonly<Record<string, Migration>> = {
  '0001_read_model': readModel,
  '0002_json_columns': jsonColumns,
  '0003_tenants': tenants,
};

/** Hands Kysely's `Migrator` the migrations compiled into this package. */
export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(migrations),
};
