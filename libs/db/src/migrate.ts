import type { Kysely } from 'kysely';
import { Migrator, NO_MIGRATIONS, type MigrationResultSet } from 'kysely/migration';
import { migrationProvider } from './migrations';

// Kysely<any> in these signatures: any schema's Kysely must be accepted, and
// Kysely<Database> is not assignable to Kysely<unknown>.

function migrator(db: Kysely<any>): Migrator {
  return new Migrator({ db, provider: migrationProvider });
}

/** Turns Kysely's result set into the names it ran, or an Error naming the migration that failed. */
function unwrap({ error, results }: MigrationResultSet, verb: 'apply' | 'undo'): string[] {
  if (error !== undefined) {
    const reason = error instanceof Error ? error.message : String(error);
    const failed = results?.find((r) => r.status === 'Error');
    // No failed result means the migrator itself failed (connection, lock table)
    // before it ran any migration.
    const what = failed ? `could not ${verb} migration "${failed.migrationName}"` : `could not ${verb} migrations`;
    throw new Error(`read model: ${what}: ${reason}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/**
 * Brings the read model's schema to the newest migration. Safe to call from
 * several processes at once: Kysely serialises them with a lock table, and on
 * PostgreSQL each migration runs in its own transaction, so a failed one leaves
 * nothing behind.
 *
 * @returns the names of the migrations applied by this call, oldest first;
 *   empty when the schema was already current.
 * @throws Error naming the migration that failed, with the database's error as `cause`.
 */
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  return unwrap(await migrator(db).migrateToLatest(), 'apply');
}

/**
 * Undoes every migration, dropping the read model's tables. For tests, and for
 * a rebuild from the log; never needed in normal operation.
 *
 * @returns the names of the migrations undone, newest first.
 * @throws Error naming the migration whose `down` failed.
 */
export async function migrateDown(db: Kysely<any>): Promise<string[]> {
  return unwrap(await migrator(db).migrateTo(NO_MIGRATIONS), 'undo');
}
