import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

/**
 * Migrations live in code, not in files found at run time: services are bundled
 * into one file, so a folder of migrations would not be there to read.
 */
const migrations: Record<string, Migration> = {
  '0001_read_model': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('runs')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('task', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) =>
          c.notNull().check(sql`status in ('QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT')`),
        )
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
        // The whole folded state, so the projector can keep folding without replaying.
        .addColumn('state', 'jsonb', (c) => c.notNull())
        .execute();
      // Listing pages by (created_at desc, id desc), optionally filtered by task or status.
      await db.schema.createIndex('runs_created_idx').on('runs').columns(['created_at desc', 'id desc']).execute();
      await db.schema.createIndex('runs_task_created_idx').on('runs').columns(['task', 'created_at desc', 'id desc']).execute();
      await db.schema.createIndex('runs_status_created_idx').on('runs').columns(['status', 'created_at desc', 'id desc']).execute();

      await db.schema
        .createTable('workers')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('tasks', 'jsonb', (c) => c.notNull())
        .addColumn('slots', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('ACTIVE', 'STOPPED')`))
        .addColumn('registered_at', 'timestamptz', (c) => c.notNull())
        .addColumn('last_heartbeat_at', 'timestamptz', (c) => c.notNull())
        .execute();

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
  },
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
