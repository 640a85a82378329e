import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { PGlite } from '@electric-sql/pglite';
import type { Database } from './schema';

/** A handle on the read model. */
export type Db = Kysely<Database>;

/** Options of {@link createDb}. */
export interface DbOptions {
  /** A `postgres://` or `postgresql://` connection URL (validate configuration with `DatabaseUrl` from @chute/runtime). */
  url: string;
  /**
   * Most connections the pool opens.
   * @default 10
   */
  max?: number;
}

/** A read model on PGlite, with the one call that releases it. */
export interface PgliteDb {
  db: Db;
  /** Closes the database (and flushes it to its data directory). Idempotent. */
  close(): Promise<void>;
}

/**
 * int8 (bigint) as a JS number, on both engines. The bigints here are log
 * offsets and counts: they stay far below 2^53, and every caller does number
 * arithmetic on them (`offset + 1`, comparisons). pg would hand back strings and
 * PGlite a mix of numbers and BigInts, so one explicit parser keeps the engines
 * alike. A value past 2^53 throws instead of silently losing precision.
 */
function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`int8 value ${text} does not fit in a JS number without losing precision`);
  }
  return value;
}

const INT8_OID = 20;

// Per pool rather than pg.types.setTypeParser, so importing this package does
// not change how other pg clients in the process read int8.
const pgTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/**
 * The read model on a PostgreSQL server, over a `pg` pool. Connections open
 * lazily, on the first query: call {@link pingDb} to fail fast at start-up.
 * timestamptz columns read as `Date`, int8 as `number`.
 * Release it with `db.destroy()`.
 */
export function createDb(options: DbOptions): Db {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    connectionTimeoutMillis: 5_000,
    types: pgTypes,
  });
  // An idle client whose server connection drops emits 'error' on the pool; left
  // unhandled that would crash the process. The next query reconnects, and a
  // query on a broken connection still rejects to its caller.
  pool.on('error', () => undefined);
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/**
 * The read model on PGlite (PostgreSQL compiled to WebAssembly, in process), for
 * the one-process quick start. In memory when `dataDir` is omitted; otherwise
 * kept in that directory across restarts.
 *
 * PGlite is loaded on the first call, not at import: it is heavy and the
 * services that talk to a real server never need it.
 */
export async function createPgliteDb(dataDir?: string): Promise<PgliteDb> {
  const [{ PGlite }, { PGliteDialect }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('kysely-pglite-dialect'),
  ]);
  const client: PGlite = new PGlite(dataDir, { parsers: { [INT8_OID]: parseInt8 } });
  const db = new Kysely<Database>({ dialect: new PGliteDialect(client) });
  let closing: Promise<void> | undefined;
  return {
    db,
    // The dialect's destroy closes the PGlite instance; a second close would throw.
    close: () => (closing ??= db.destroy()),
  };
}

/**
 * Round-trips `select 1`: resolves when the database answers, rejects
 * otherwise. For readiness probes and a fail-fast check at start-up.
 */
// Kysely<any>: Kysely<Database> is not assignable to Kysely<unknown>.
export async function pingDb(db: Kysely<any>): Promise<void> {
  await sql`select 1`.execute(db);
}
