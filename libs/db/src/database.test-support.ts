import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDb, type Db } from './db';
import { DatabaseUrl } from '@chute/runtime';

/** A database that exists for one test file. */
export interface TestDatabase {
  /** Connection URL of the throwaway database. */
  url: string;
  /** A pool on it, opened lazily; {@link TestDatabase.drop} closes it. */
  db: Db;
  /** Closes `db`, then drops the database, even if other sessions are still connected. Idempotent. */
  drop(): Promise<void>;
}

/** The URL without its password, for error messages. */
function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

async function onServer(serverUrl: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `cannot reach PostgreSQL at ${redact(serverUrl)}: ${error instanceof Error ? error.message : String(error)}. ` +
        'Start it with `npm run infra:up`, or point CHUTE_DATABASE_URL at a running server.',
      { cause: error },
    );
  }
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/**
 * The server URL integration tests run against, from `CHUTE_DATABASE_URL`.
 * Throws when it is missing or malformed: those suites fail, never skip, so a
 * green run always means they ran.
 */
export function requireDatabaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  const value = env['CHUTE_DATABASE_URL'];
  if (!value) {
    throw new Error(
      'CHUTE_DATABASE_URL is not set: integration tests need a real PostgreSQL server. ' +
        'Run them through `npm test`, which starts one, or export CHUTE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/chute.',
    );
  }
  const parsed = DatabaseUrl.safeParse(value);
  if (!parsed.success) throw new Error(`CHUTE_DATABASE_URL ${parsed.error.issues[0]?.message ?? 'is invalid'}`);
  return parsed.data;
}

/**
 * Creates a fresh, empty database (`chute_test_<random>`) on the server at
 * `serverUrl`, so test files never share tables and can run against one server
 * in any order. Call `drop()` in `after`.
 *
 * @param serverUrl any database URL on the server; it is used only to issue
 *   `create database` and `drop database`. @default the integration tests' server, {@link requireDatabaseUrl}
 */
export async function createTestDatabase(serverUrl: string = requireDatabaseUrl()): Promise<TestDatabase> {
  // Lower-case hex only: a valid unquoted identifier, and Postgres folds case.
  const name = `chute_test_${randomBytes(6).toString('hex')}`;
  await onServer(serverUrl, `create database "${name}"`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const db = createDb({ url: url.toString(), max: 5 });
  let dropping: Promise<void> | undefined;
  return {
    url: url.toString(),
    db,
    drop: () =>
      (dropping ??= (async () => {
        // Our own pool first, so `force` only has to evict other sessions (a
        // service under test that was not stopped).
        await db.destroy();
        await onServer(serverUrl, `drop database if exists "${name}" with (force)`);
      })()),
  };
}
