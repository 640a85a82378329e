import { z } from 'zod';
import { Attempt, FinalStatus } from './common';
import { ChunkEncoding } from './worker-protocol';

/**
 * What a stream subscriber receives from `GET /api/v1/runs/:id/stream`: one
 * WebSocket text message per item, or one SSE event per item (the `type` is
 * the SSE event name and the rest its `data`). Versioned by the URL (`v1`).
 */

/** One chunk. `encoding` is present only for bytes (base64); text is sent as is. */
export const StreamChunkMessage = z
  .object({
    type: z.literal('chunk'),
    /** Position within the attempt, from 0; with `attempt` it is the resume position `A:N`. */
    seq: z.number().int().nonnegative(),
    attempt: Attempt,
    data: z.string(),
    encoding: ChunkEncoding.optional(),
  })
  .strict();
export type StreamChunkMessage = z.infer<typeof StreamChunkMessage>;

/** A retry begins: the chunks after this belong to a new attempt, which starts its text over. */
export const StreamAttemptMessage = z.object({ type: z.literal('attempt'), attempt: Attempt }).strict();
export type StreamAttemptMessage = z.infer<typeof StreamAttemptMessage>;

/** The stream is over; the run ended with this status. Nothing follows. */
export const StreamEndMessage = z.object({ type: z.literal('end'), status: FinalStatus }).strict();
export type StreamEndMessage = z.infer<typeof StreamEndMessage>;

export const StreamMessage = z.discriminatedUnion('type', [StreamChunkMessage, StreamAttemptMessage, StreamEndMessage]);
export type StreamMessage = z.infer<typeof StreamMessage>;
