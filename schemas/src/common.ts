import { z } from 'zod';

/**
 * A tenant: one customer's runs, workers and streams, kept apart from every
 * other's. Tokens name it; records and rows carry it.
 */
export const TenantId = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, { message: 'must be 1-63 lowercase letters, digits, "_" or "-", starting with a letter or digit' });
export type TenantId = z.infer<typeof TenantId>;

/** The tenant of records written before tenants existed, and of a deployment that runs without auth. */
export const DEFAULT_TENANT = 'default';

/** Run ids are UUIDs minted by the gateway; every record of a run is keyed by it. */
export const RunId = z.uuid({ message: 'must be a UUID' });
export type RunId = z.infer<typeof RunId>;

/** Task names appear in URLs and topic keys, so they are kept to a URL-safe alphabet. */
export const TaskName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, {
    message: 'must be 1-128 characters of letters, digits, ".", "_", ":" or "-", starting with a letter or digit',
  });
export type TaskName = z.infer<typeof TaskName>;

/**
 * A name or id the read model stores in a PostgreSQL `text` column: 1 to `max`
 * characters, none of them a control character. A text column cannot hold
 * U+0000 at all (PostgreSQL refuses the write), so a record carrying one could
 * never be projected; the other control characters have no place in a name
 * either. Refusing them here keeps such a record off the log.
 */
function plainText(max: number) {
  return z
    .string()
    .min(1)
    .max(max)
    // The control characters (Unicode category Cc) as a class of the characters
    // themselves, not escapes: the published JSON Schema carries this pattern to
    // regex engines that agree on no escape syntax (\p{Cc}, \x9F, \u009F and
    // \x{9F} each fail in one of JavaScript, Python, Go or Ruby).
    .regex(new RegExp(`^[^${String.fromCharCode(0)}-${String.fromCharCode(0x1f)}${String.fromCharCode(0x7f)}-${String.fromCharCode(0x9f)}]*$`), {
      message: 'must not contain control characters (U+0000-U+001F, U+007F-U+009F)',
    });
}

/** A worker process's id, `<name>-<random>`. Stored in text columns (`runs.worker_id`, `workers.id`). */
export const WorkerId = plainText(200);
export type WorkerId = z.infer<typeof WorkerId>;

/** The name a worker process registers under (`workers.name`). */
export const WorkerName = plainText(200);
export type WorkerName = z.infer<typeof WorkerName>;

/**
 * The largest time a JS `Date` holds (ECMA-262's time value range). A later
 * one would become an Invalid Date the read model cannot store.
 */
export const MAX_EPOCH_MS = 8_640_000_000_000_000;

/** Milliseconds since the Unix epoch. Records carry time as data: the domain never reads a clock. */
export const EpochMs = z.number().int().nonnegative().max(MAX_EPOCH_MS);
export type EpochMs = z.infer<typeof EpochMs>;

/** Attempts count from 1; a retry appends records with the next attempt number. */
export const Attempt = z.number().int().min(1);
export type Attempt = z.infer<typeof Attempt>;

/**
 * How deep a JSON value may nest. Checking a value walks it recursively, so a
 * small document nested thousands of levels deep would exhaust the stack;
 * refusing it first (with {@link exceedsJsonDepth}, which does not recurse)
 * keeps that a 400, not a crash. Real task inputs nest a few levels.
 */
export const MAX_JSON_DEPTH = 128;

/** Whether a parsed JSON value nests deeper than `max` arrays or objects. Iterative: any depth is safe to ask about. */
export function exceedsJsonDepth(value: unknown, max: number = MAX_JSON_DEPTH): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (typeof item !== 'object' || item === null) continue;
    if (depth + 1 > max) return true;
    for (const child of Array.isArray(item) ? item : Object.values(item)) stack.push([child, depth + 1]);
  }
  return false;
}

/** A JSON value: what a run's input and output may be. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/**
 * Any JSON value. Spelled out (not `z.json()`) so that it recurses through
 * itself, registered by id: the OpenAPI document and the published JSON
 * Schemas then refer to it by name, rather than to an unnamed inner
 * definition that their generators leave dangling.
 */
export const Json: z.ZodType<Json> = z
  .lazy(() => z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(Json), z.record(z.string(), Json)]))
  .meta({ id: 'Json' });

/** Terminal statuses, shared by the run lifecycle and the end-of-stream record. */
export const FinalStatus = z.enum(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT']);
export type FinalStatus = z.infer<typeof FinalStatus>;

export const RunStatus = z.enum(['QUEUED', 'RUNNING', ...FinalStatus.options]);
export type RunStatus = z.infer<typeof RunStatus>;

/**
 * A task failure as data, so it survives the log and the read model intact.
 * `nonRetryable` lets a task opt out of its remaining retries.
 */
export const TaskError = z.object({
  name: z.string().max(200),
  message: z.string().max(64 * 1024),
  stack: z.string().max(64 * 1024).optional(),
  nonRetryable: z.boolean().default(false),
});
export type TaskError = z.infer<typeof TaskError>;
