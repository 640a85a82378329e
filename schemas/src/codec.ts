import { z } from 'zod';
import { RunEvent } from './run-events';
import { StreamRecord } from './stream';
import { WorkerEvent } from './worker-events';
import { DeadLetter } from './dead-letter';
import { DISPATCH_WORKER_HEADER, DispatchRecord } from './dispatch';
import { SchedulerSnapshotRecord } from './scheduler-snapshot';

/** Raised when a record does not match its schema; `field` names the first offending path. */
export class RecordDecodeError extends Error {
  override readonly name = 'RecordDecodeError';
  constructor(
    readonly family: string,
    readonly field: string,
    readonly detail: string,
  ) {
    super(`invalid ${family} record: ${field}: ${detail}`);
  }
}

type Upcaster = (record: Record<string, unknown>) => Record<string, unknown>;

/**
 * The records of one topic: their schema, the key that keeps a run's (or a
 * worker's) records ordered in one partition, and the upcasters that lift an
 * older version `n` to `n + 1`.
 */
export interface RecordFamily<S extends z.ZodType> {
  /** The topic's base name; the log layer prefixes it per deployment. */
  readonly topic: string;
  readonly schema: S;
  readonly version: number;
  readonly upcasters: Readonly<Record<number, Upcaster>>;
  key(record: z.infer<S>): string;
  /** Record headers, for readers that route on them without decoding the value. */
  headers?(record: z.infer<S>): Readonly<Record<string, string>>;
}

/** The first thing wrong in a failed parse: its path (`(root)` for the value itself) and message. */
export function describeIssue(error: z.ZodError): { field: string; detail: string } {
  const issue = error.issues[0];
  if (!issue) return { field: '(root)', detail: 'invalid' };
  const field = issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)';
  return { field, detail: issue.message };
}

/**
 * Validates an already-parsed value against the family's newest schema, upcasting
 * older versions first. Throws `RecordDecodeError` naming the field.
 */
export function decodeRecord<S extends z.ZodType>(family: RecordFamily<S>, value: unknown): z.infer<S> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RecordDecodeError(family.topic, '(root)', 'expected a JSON object');
  }
  let record = value as Record<string, unknown>;
  const v = record['v'];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new RecordDecodeError(family.topic, 'v', 'expected a positive integer schema version');
  }
  if (v > family.version) {
    throw new RecordDecodeError(family.topic, 'v', `unsupported version ${v}; this reader knows up to ${family.version}`);
  }
  let parsed;
  try {
    for (let from = v; from < family.version; from++) {
      const up = family.upcasters[from];
      if (!up) throw new RecordDecodeError(family.topic, 'v', `no upcaster from version ${from}`);
      record = up(record);
    }
    parsed = family.schema.safeParse(record);
  } catch (error) {
    if (error instanceof RecordDecodeError) throw error;
    // Checking the value itself failed, not the value the check: JSON nested a few
    // thousand levels deep overflows the stack of zod's recursive `Json` check.
    // That is the record's fault, so it is reported like any other bad record
    // (a consumer skips it) rather than thrown on, which would have the log
    // deliver the same batch again forever.
    throw new RecordDecodeError(family.topic, '(root)', `could not be checked: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!parsed.success) {
    const { field, detail } = describeIssue(parsed.error);
    throw new RecordDecodeError(family.topic, field, detail);
  }
  return parsed.data;
}

/** Decodes a record's bytes as read from the log: JSON first, then the schema. */
export function decodeRecordBytes<S extends z.ZodType>(family: RecordFamily<S>, bytes: Uint8Array | string): z.infer<S> {
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    throw new RecordDecodeError(family.topic, '(root)', 'not valid JSON');
  }
  return decodeRecord(family, value);
}

/**
 * Parses JSON text against a schema without throwing: text that is not JSON
 * fails as a value of the wrong shape does, so a caller handles both alike.
 */
export function safeParseJson<S extends z.ZodType>(schema: S, text: string): ReturnType<S['safeParse']> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  return schema.safeParse(value) as ReturnType<S['safeParse']>;
}

function family<S extends z.ZodType>(def: RecordFamily<S>): RecordFamily<S> {
  return def;
}

export const RunEvents = family({
  topic: 'run-events',
  schema: RunEvent,
  version: 1,
  upcasters: {},
  key: (r) => r.runId,
});

export const StreamRecords = family({
  topic: 'stream',
  schema: StreamRecord,
  version: 1,
  upcasters: {},
  key: (r) => r.runId,
});

export const WorkerEvents = family({
  topic: 'worker-events',
  schema: WorkerEvent,
  version: 1,
  upcasters: {},
  key: (r) => r.workerId,
});

/** What schedulers tell workers, keyed and headed by the worker it is for. */
export const Dispatches = family({
  topic: 'dispatch',
  schema: DispatchRecord,
  version: 1,
  upcasters: {},
  key: (r) => r.workerId,
  headers: (r) => ({ [DISPATCH_WORKER_HEADER]: r.workerId }),
});

/** Schedulers' checkpoints of their run-events partitions, keyed by partition. */
export const SchedulerSnapshots = family({
  topic: 'scheduler-snapshots',
  schema: SchedulerSnapshotRecord,
  version: 1,
  upcasters: {},
  key: (r) => String(r.partition),
});

/** Records a consumer set aside because it could not process them (see `RecordParked`). */
export const DeadLetters = family({
  topic: 'dead-letter',
  schema: DeadLetter,
  version: 1,
  upcasters: {},
  key: (r) => r.key,
});
