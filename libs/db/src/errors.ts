import pg from 'pg';

/** Five characters of digits and upper-case letters: the shape of every SQLSTATE. */
const SQLSTATE = /^[0-9A-Z]{5}$/;

/**
 * The SQLSTATE of an error the database server sent (`22003`, `57P01`, ...),
 * on either engine; undefined for anything else, such as a refused connection
 * (whose `code` is Node's `ECONNREFUSED`) or a bug in our own code.
 *
 * pg throws its `DatabaseError`. PGlite throws its own copy of that class,
 * minified into each of its bundles, so `instanceof` cannot name it; like
 * pg's it carries the server's ErrorResponse fields, of which `severity` is
 * always present. Both are recognised by type or by those fields, never by
 * their message.
 */
export function sqlStateOf(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code, severity } = error as { code?: unknown; severity?: unknown };
  const fromServer = error instanceof pg.DatabaseError || typeof severity === 'string';
  return fromServer && typeof code === 'string' && SQLSTATE.test(code) ? code : undefined;
}
