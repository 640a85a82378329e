import { InvalidRowError, sqlStateOf } from '@chute/db';
import type { LogRecord } from '@chute/log';
import { MAX_PARKED_REASON_CHARS, MAX_PARKED_VALUE_BYTES, type RecordParked } from '@chute/schemas';

/** Why projecting a batch failed, as far as what to do next is concerned. */
export type ProjectionFailure =
  /**
   * The read model refuses the batch's values: trying the same records again
   * gives the same error, so one of them must be set aside.
   */
  | { readonly kind: 'data'; readonly code: string; readonly reason: string }
  /**
   * Anything else: the database unreachable, shutting down or out of
   * resources, a conflict between transactions, or an error not known to be
   * about the data. Retrying may succeed, and a record must never be set aside
   * for a fault that is not its own.
   */
  | { readonly kind: 'outage'; readonly code: string | undefined; readonly reason: string };

/**
 * SQLSTATE classes that mean "these values": 22 data exception (a number out
 * of range, a malformed or unstorable value) and 23 integrity constraint
 * violation. Every other class (08 connection, 53 resources, 57 operator
 * intervention, 40 transaction rollback, ...) is about the server or the
 * moment, not the record.
 */
const DATA_CLASSES: ReadonlySet<string> = new Set(['22', '23']);

/** Classifies an error thrown while projecting a batch, by its type and code, never its message. */
export function classifyProjectionError(error: unknown): ProjectionFailure {
  const reason = error instanceof Error ? error.message : String(error);
  if (error instanceof InvalidRowError) return { kind: 'data', code: error.code, reason };
  const sqlState = sqlStateOf(error);
  if (sqlState !== undefined && DATA_CLASSES.has(sqlState.slice(0, 2))) return { kind: 'data', code: sqlState, reason };
  return { kind: 'outage', code: sqlState ?? codeOf(error), reason };
}

/** An error's own `code`, such as Node's `ECONNREFUSED`, for the log. */
function codeOf(error: unknown): string | undefined {
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/** How a batch that fails on its data is retried before it is split. */
export interface ParkingPolicy {
  /**
   * Tries of the whole batch before it is projected record by record. More
   * than one, because a data error may come from a moment's conflict with
   * another writer rather than from a record. @default 3
   */
  readonly batchAttempts: number;
  /** The wait before the second try; it doubles for each one after. @default 100 */
  readonly retryDelayMs: number;
}

export const DEFAULT_PARKING_POLICY: ParkingPolicy = { batchAttempts: 3, retryDelayMs: 100 };

/** What to do after try number `attempt` (from 1) of a batch failed. */
export type NextStep =
  /** Try the whole batch again after the delay. */
  | { readonly step: 'retry-batch'; readonly delayMs: number }
  /** Project each record alone, so the good ones land, and park those that still fail on their data. */
  | { readonly step: 'record-by-record' }
  /** An outage: give the error back, and the log redelivers the batch, with back-off, until it lands. */
  | { readonly step: 'rethrow' };

export function nextStepAfterFailure(failure: ProjectionFailure, attempt: number, policy: ParkingPolicy = DEFAULT_PARKING_POLICY): NextStep {
  if (failure.kind === 'outage') return { step: 'rethrow' };
  if (attempt < policy.batchAttempts) return { step: 'retry-batch', delayMs: policy.retryDelayMs * 2 ** (attempt - 1) };
  return { step: 'record-by-record' };
}

/**
 * The dead letter of a record that failed on its data: where it was, its
 * value (cut to what a dead letter can carry), and why. `at` is the time of
 * parking, given, not read.
 */
export function deadLetterOf(
  record: LogRecord,
  failure: Extract<ProjectionFailure, { kind: 'data' }>,
  consumer: string,
  at: number,
): RecordParked {
  return {
    v: 1,
    type: 'RecordParked',
    key: record.key,
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    value: record.value.subarray(0, MAX_PARKED_VALUE_BYTES).toString('base64'),
    valueBytes: record.value.length,
    reason: failure.reason.slice(0, MAX_PARKED_REASON_CHARS),
    code: failure.code,
    consumer,
    at,
  };
}
