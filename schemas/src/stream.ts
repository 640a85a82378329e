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

/** Written after the run's last chunk, so a subscriber sees every chunk before it. */
export const StreamEnd = z.object({
  ...envelope,
  type: z.literal('StreamEnd'),
  status: FinalStatus,
  /** The seq of the attempt's last chunk, -1 when it wrote none. */
  lastSeq: z.number().int().min(-1),
});
export type StreamEnd = z.infer<typeof StreamEnd>;

/** The stream topic: chunks and ends, keyed by run id. */
export const StreamRecord = z.discriminatedUnion('type', [StreamChunk, StreamEnd]);
export type StreamRecord = z.infer<typeof StreamRecord>;
