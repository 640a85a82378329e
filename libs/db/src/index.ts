/**
 * @chute/db — the Postgres read model projected from the run-events log: its
 * Kysely types, its migrations, and the ways to open it (a PostgreSQL server,
 * or PGlite in process for the quick start).
 */
export * from './schema';
export { createDb, createPgliteDb, pingDb, type Db, type DbOptions, type PgliteDb } from './db';
export { migrateToLatest, migrateDown } from './migrate';
export { decodeRunState, encodeRunState, InvalidRowError } from './run-state';
export { sqlStateOf } from './errors';
