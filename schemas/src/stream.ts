import { z } from 'zod';
import { Attempt, DEFAULT_TENANT, EpochMs, FinalStatus, RunId, TenantId } from './common';

/** A chunk is at most 1 MiB of payload; larger ones are refused at the producer. */
export const MAX_CHUNK_BYTES = 1024 * 1024;

const envelope = {
  v: z.literal(1),
  runId: RunId,
  /** The run's tenant (records written before tenants existed read as the default tenant). */
  tenant: TenantId.default(DEFAULT_TENANT),
  attempt: Attempt,
  at: EpochMs,
};

/**
 * One `ctx.putStream(chunk)` call. `seq` counts from 0 within an attempt, in call
 * order, so a subscriber can detect gaps and resume after a given chunk.
 * Text goes as is (`utf8`); bytes go base64-encoded.
 */
export const StreamChunk = z.object({
  ...envelope,
  type: z.literal('StreamChunk'),
  seq: z.number().int().nonnegative(),
  encoding: z.enum(['utf8', 'base64']),
  // base64 of 1 MiB is 4/3 larger; the producer enforces the byte limit exactly.
  data: z.string().max(Math.ceil((MAX_CHUNK_BYTES * 4) / 3) + 4),
});
export type StreamChunk = z.infer<typeof StreamChunk>;

/**
 * The end of a run's stream, with the run's final status: the one record that
 * ends it for every subscriber. Whoever ends the run writes it: the worker
 * after the last chunk of an attempt it completed or failed for good, the
 * scheduler with its decision to cancel a run or time it out (in the same
 * exclusive append), so a subscriber sees every chunk put before the end.
 */
export const StreamEnd = z.object({
  ...envelope,
  /** The attempt that ended; absent when the scheduler ended a run no attempt had started (a cancel while queued). */
  attempt: Attempt.optional(),
  type: z.literal('StreamEnd'),
  status: FinalStatus,
  /** The seq of the attempt's last chunk, -1 when it wrote none; absent when the scheduler ended the stream (it does not know). */
  lastSeq: z.number().int().min(-1).optional(),
});
export type StreamEnd = z.infer<typeof StreamEnd>;

/** The stream topic: chunks and ends, keyed by run id. */
export const StreamRecord = z.discriminatedUnion('type', [StreamChunk, StreamEnd]);
export type StreamRecord = z.infer<typeof StreamRecord>;
