import { z } from 'zod';
import { Attempt, EpochMs, Json, RunId, TaskError, TaskName, WorkerName } from './common';

/**
 * The worker protocol: a WebSocket at `/api/v1/workers/connect` through which a
 * worker in any language serves tasks without a Kafka client. The gateway
 * appends to the log on the worker's behalf what a worker on the log appends
 * itself; the scheduler, the projector and the stream path cannot tell them apart.
 *
 * Every message is one JSON text frame. The URL carries the protocol's version
 * (`v1`); a message of a later version gets a new URL, never a silent change.
 *
 * 1. The worker's first message is `register`; the gateway answers `registered`
 *    with the worker id it announced on the log, or closes the socket.
 * 2. The gateway sends `assigned` for each attempt (never more at once than the
 *    worker's `slots`) and `cancel` when an attempt must stop.
 * 3. For each attempt the worker sends `started`, any number of `chunk`s, then
 *    one `completed` or `failed`. Messages are handled in the order they are
 *    sent, so every chunk is on the log before the attempt's end.
 * 4. The worker sends `heartbeat` every `heartbeatIntervalMs`; a worker silent
 *    for longer than the scheduler's bound is presumed dead and its runs go
 *    elsewhere, as when its socket closes.
 * 5. To stop cleanly the worker sends `drain`, gets no new `assigned` from then
 *    on, and closes the socket (1000) once its attempts have ended. A socket
 *    that closes with attempts still running gives them up: their runs go to
 *    other workers as new attempts, spending no retry.
 *
 * A message that is not JSON closes the socket with 1007; one that does not
 * match its schema, or breaks the order above, with 1008. Either way the
 * gateway first sends an `error` naming what is wrong. A message about an
 * attempt the worker no longer holds (cancelled, or never assigned) is ignored.
 */

/** A chunk's payload as it crosses the wire: text as is, bytes base64-encoded. */
export const ChunkEncoding = z.enum(['utf8', 'base64']);
export type ChunkEncoding = z.infer<typeof ChunkEncoding>;

// --- worker -> gateway ---------------------------------------------------------

export const RegisterMessage = z
  .object({
    type: z.literal('register'),
    /** The worker's name; the gateway appends a random suffix to make its id. */
    name: WorkerName,
    tasks: z.array(TaskName).min(1).max(1000),
    /** How many attempts it runs at once; the gateway never assigns more. */
    slots: z.number().int().min(1).max(10_000),
  })
  .strict();
export type RegisterMessage = z.infer<typeof RegisterMessage>;

export const HeartbeatMessage = z.object({ type: z.literal('heartbeat') }).strict();
export type HeartbeatMessage = z.infer<typeof HeartbeatMessage>;

const attemptRef = { runId: RunId, attempt: Attempt };

/** The task function began running this attempt. */
export const StartedMessage = z.object({ type: z.literal('started'), ...attemptRef }).strict();
export type StartedMessage = z.infer<typeof StartedMessage>;

/** One `put_stream` call. The gateway numbers the attempt's chunks in the order they arrive. */
export const ChunkMessage = z
  .object({
    type: z.literal('chunk'),
    ...attemptRef,
    /**
     * At most `maxChunkBytes` once decoded. A larger chunk fails its attempt
     * (not retried) and gets a `cancel`; the socket stays open.
     */
    data: z.string(),
    encoding: ChunkEncoding.default('utf8'),
  })
  .strict();
export type ChunkMessage = z.infer<typeof ChunkMessage>;

export const CompletedMessage = z
  .object({
    type: z.literal('completed'),
    ...attemptRef,
    /** The task's return value, as JSON (`null` for none). */
    output: Json.default(null),
  })
  .strict();
export type CompletedMessage = z.infer<typeof CompletedMessage>;

export const FailedMessage = z
  .object({
    type: z.literal('failed'),
    ...attemptRef,
    /** `nonRetryable: true` spends no retry: the run fails at once. */
    error: TaskError,
  })
  .strict();
export type FailedMessage = z.infer<typeof FailedMessage>;

/** Take no more assignments: the worker is stopping once its attempts end. */
export const DrainMessage = z.object({ type: z.literal('drain') }).strict();
export type DrainMessage = z.infer<typeof DrainMessage>;

export const WorkerMessage = z.discriminatedUnion('type', [
  RegisterMessage,
  HeartbeatMessage,
  DrainMessage,
  StartedMessage,
  ChunkMessage,
  CompletedMessage,
  FailedMessage,
]);
export type WorkerMessage = z.infer<typeof WorkerMessage>;

// --- gateway -> worker ---------------------------------------------------------

export const RegisteredMessage = z
  .object({
    type: z.literal('registered'),
    /** The id the worker's runs carry on the log (`<name>-<random>`). */
    workerId: z.string(),
    /** How often the worker must send `heartbeat`. */
    heartbeatIntervalMs: z.number().int().positive(),
    /** The largest chunk the gateway takes, in bytes once decoded. */
    maxChunkBytes: z.number().int().positive(),
  })
  .strict();
export type RegisteredMessage = z.infer<typeof RegisteredMessage>;

/** Run this attempt of a task. */
export const AssignedMessage = z
  .object({
    type: z.literal('assigned'),
    ...attemptRef,
    task: TaskName,
    input: Json,
    /** When the scheduler times the attempt out unless it ends first. */
    deadlineAt: EpochMs,
  })
  .strict();
export type AssignedMessage = z.infer<typeof AssignedMessage>;

/**
 * Stop this attempt: the run was cancelled, timed out, or went to another
 * worker. The task's abort signal should fire; whatever the worker sends for
 * the attempt from now on is ignored.
 */
export const CancelMessage = z
  .object({
    type: z.literal('cancel'),
    ...attemptRef,
    reason: z.string(),
  })
  .strict();
export type CancelMessage = z.infer<typeof CancelMessage>;

/** Why the gateway is about to close the socket, or refused one message. */
export const ErrorMessage = z
  .object({
    type: z.literal('error'),
    code: z.enum(['INVALID_JSON', 'INVALID_MESSAGE', 'NOT_REGISTERED', 'ALREADY_REGISTERED', 'CHUNK_TOO_LARGE', 'UNAVAILABLE']),
    message: z.string(),
  })
  .strict();
export type ErrorMessage = z.infer<typeof ErrorMessage>;

export const GatewayMessage = z.discriminatedUnion('type', [RegisteredMessage, AssignedMessage, CancelMessage, ErrorMessage]);
export type GatewayMessage = z.infer<typeof GatewayMessage>;

/** WebSocket close codes of the worker protocol, beside the standard 1000/1001. */
export const WorkerCloseCode = {
  /** A frame that is not JSON. */
  invalidJson: 1007,
  /** A message that does not match its schema or comes out of order. */
  protocolViolation: 1008,
  /** A frame larger than the gateway takes. */
  tooLarge: 1009,
  /** The gateway cannot reach the log; reconnect later (or elsewhere). */
  tryAgainLater: 1013,
} as const;
