import { z } from 'zod';

const MESSAGE = 'must be a PostgreSQL URL: postgres://user[:password]@host[:port]/database (e.g. postgres://postgres@127.0.0.1:5432/chute)';

function isPostgresUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.hostname.length > 0;
  } catch {
    return false;
  }
}

/**
 * A PostgreSQL connection URL (`postgres://` or `postgresql://`, with a host).
 * Validate configuration with it once, at start-up, so a typo fails with a
 * message instead of as a connection error on the first query.
 */
export const DatabaseUrl = z.string({ error: MESSAGE }).trim().refine(isPostgresUrl, { error: MESSAGE });
export type DatabaseUrl = z.infer<typeof DatabaseUrl>;
