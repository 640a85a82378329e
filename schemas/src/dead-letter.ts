import { z } from 'zod';
import { EpochMs } from './common';

/**
 * The most of a parked record's value a dead letter carries. The log refuses
 * records over 2 MiB, a record may be that large, and base64 grows it by a
 * third: 1 MiB keeps every dead letter well within the limit, so parking can
 * never fail for size. A longer value is cut; `valueBytes` says so, and the
 * whole record stays readable at its topic, partition and offset while the
 * topic retains it.
 */
export const MAX_PARKED_VALUE_BYTES = 1024 * 1024;

/** The longest `reason` a dead letter carries; a longer error message is cut. */
export const MAX_PARKED_REASON_CHARS = 4096;

/**
 * A record a consumer could not process, even alone, and set aside so it
 * could move on: the consumer's checkpoint is past it. Carries where the
 * record was, its bytes, and why it was refused.
 */
export const RecordParked = z.object({
  v: z.literal(1),
  type: z.literal('RecordParked'),
  /** The parked record's key, which also keys the dead letter: one run's dead letters stay in order. */
  key: z.string(),
  /** The topic the record was read from (with its deployment prefix). */
  topic: z.string().min(1).max(249),
  partition: z.number().int().nonnegative(),
  offset: z.number().int().nonnegative(),
  /** The record's value as read, base64; its first {@link MAX_PARKED_VALUE_BYTES} bytes. */
  value: z.base64().max(Math.ceil(MAX_PARKED_VALUE_BYTES / 3) * 4),
  /** The value's whole length in bytes: more than `value` decodes to when it was cut. */
  valueBytes: z.number().int().nonnegative(),
  /** What was wrong, for a person: the error's message. */
  reason: z.string().max(MAX_PARKED_REASON_CHARS),
  /** The error's stable code, for a program: a SQLSTATE such as `22003`, or `READ_MODEL_ROW_INVALID`. */
  code: z.string().min(1).max(100),
  /** The consumer group that parked it. */
  consumer: z.string().min(1).max(255),
  at: EpochMs,
});
export type RecordParked = z.infer<typeof RecordParked>;

/** The dead-letter topic, keyed by the parked record's key. */
export const DeadLetter = z.discriminatedUnion('type', [RecordParked]);
export type DeadLetter = z.infer<typeof DeadLetter>;
