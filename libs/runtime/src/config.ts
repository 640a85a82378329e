import { z } from 'zod';

/** A PostgreSQL connection URL. */
export const DatabaseUrl = z.string().refine(
  (s) => {
    try {
      const url = new URL(s);
      return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.hostname.length > 0;
    } catch {
      return false;
    }
  },
  { message: 'must be a postgres:// URL (e.g. postgres://postgres@127.0.0.1:5432/chute)' },
);

export const Port = z.coerce.number().int().min(0).max(65535);

/** A boolean variable: true, false, 1 or 0. */
export const Flag = z.enum(['true', 'false', '1', '0'], { message: 'must be true or false' }).transform((v) => v === 'true' || v === '1');
/** A variable naming a file. */
export const FilePath = z.string().min(1);

export const DatabaseEnv = z.object({
  CHUTE_DATABASE_URL: DatabaseUrl.default('postgres://postgres@127.0.0.1:5432/chute'),
});

/**
 * Configuration the operator must fix: the process ends with its message as one
 * line (see `runMain`), no stack. Also thrown at start for settings found wrong
 * only on contact, such as a password the broker refuses.
 */
export class ConfigError extends Error {
  override readonly name: string = 'ConfigError';
}

/**
 * Parses the environment once at start-up. On failure throws a `ConfigError`
 * whose single-line message names every offending variable.
 */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  // Empty strings mean "unset" so `VAR= node main.js` falls back to the default.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (parsed.success) return parsed.data;
  // Name the variable, not the element inside it: that is what the operator sets.
  const problems = parsed.error.issues.map((i) => `${String(i.path[0] ?? '(env)')}: ${i.message}`);
  throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
}
