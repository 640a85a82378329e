import { z } from 'zod';

/** A comma-separated list of `host:port` pairs, e.g. `127.0.0.1:9092,10.0.0.2:9092`. */
export const BrokerList = z
  .string()
  .transform((s) => s.split(',').map((b) => b.trim()).filter((b) => b.length > 0))
  .pipe(
    z
      .array(
        z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):([1-9][0-9]{0,4})$/, {
          message: 'each broker must be host:port (e.g. 127.0.0.1:9092)',
        }),
      )
      .min(1, { message: 'at least one broker is required (e.g. 127.0.0.1:9092)' }),
  );

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

export const PartitionCount = z.coerce.number().int().min(1).max(1000);

/**
 * Partition counts the platform creates its topics with unless configured
 * otherwise. The dispatch topic has one partition per worker it keeps apart:
 * workers beyond it share partitions, and each skips the others' records.
 */
export const DEFAULT_PARTITIONS = { runEvents: 6, stream: 6, workerEvents: 1, dispatch: 32 } as const;

/** Settings every service shares: where the log is and how its topics are named and sized. */
export const LogEnv = z.object({
  CHUTE_KAFKA_BROKERS: BrokerList.default(['127.0.0.1:9092']),
  /** Prefix of every topic name, so several deployments can share a cluster. @default 'chute' */
  CHUTE_TOPIC_PREFIX: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, { message: 'must be letters, digits, ".", "_" or "-"' }).default('chute'),
  CHUTE_RUN_EVENTS_PARTITIONS: PartitionCount.default(DEFAULT_PARTITIONS.runEvents),
  CHUTE_STREAM_PARTITIONS: PartitionCount.default(DEFAULT_PARTITIONS.stream),
  CHUTE_WORKER_EVENTS_PARTITIONS: PartitionCount.default(DEFAULT_PARTITIONS.workerEvents),
  CHUTE_DISPATCH_PARTITIONS: PartitionCount.default(DEFAULT_PARTITIONS.dispatch),
  CHUTE_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});

export const DatabaseEnv = z.object({
  CHUTE_DATABASE_URL: DatabaseUrl.default('postgres://postgres@127.0.0.1:5432/chute'),
});

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
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
