import { z } from 'zod';

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

export const WorkerId = z.string().min(1).max(200);
export type WorkerId = z.infer<typeof WorkerId>;

/** Milliseconds since the Unix epoch. Records carry time as data: the domain never reads a clock. */
export const EpochMs = z.number().int().nonnegative();
export type EpochMs = z.infer<typeof EpochMs>;

/** Attempts count from 1; a retry appends records with the next attempt number. */
export const Attempt = z.number().int().min(1);
export type Attempt = z.infer<typeof Attempt>;

export const Json = z.json();
export type Json = z.infer<typeof Json>;

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
