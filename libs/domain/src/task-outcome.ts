import { MAX_CHUNK_BYTES, MAX_OUTPUT_BYTES, type Json, type TaskError } from '@chute/schemas';

/**
 * Throw from a task to fail it without spending its remaining retries.
 */
export class NonRetryableError extends Error {
  override readonly name = 'NonRetryableError';
}

/** A chunk over the stream's limit: refused before it reaches the log, and the run goes on. */
export class ChunkTooLargeError extends Error {
  override readonly name = 'ChunkTooLargeError';
  constructor(bytes: number) {
    super(`stream chunk of ${bytes} bytes exceeds the limit of ${MAX_CHUNK_BYTES} bytes; split it into smaller chunks`);
  }
}

/** A task's error as the log records it. */
export function toTaskError(error: unknown): TaskError {
  if (error instanceof Error) {
    return {
      name: error.name,
      message: error.message.slice(0, 64 * 1024),
      ...(error.stack ? { stack: error.stack.slice(0, 64 * 1024) } : {}),
      nonRetryable: error instanceof NonRetryableError || (error as { nonRetryable?: unknown }).nonRetryable === true,
    };
  }
  return { name: 'Error', message: `task threw a non-Error value: ${String(error)}`.slice(0, 64 * 1024), nonRetryable: false };
}

/** A task's return value as JSON, or a non-retryable error saying why it is not. */
export function toJsonOutput(value: unknown): Json {
  if (value === undefined) return null;
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new NonRetryableError(`task output is not JSON-serializable: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (text === undefined) throw new NonRetryableError(`task output is not JSON-serializable: ${typeof value}`);
  // Checked here, not left to the log: a run's end refused for its size would leave the run running until its timeout.
  const bytes = text.length <= MAX_OUTPUT_BYTES / 3 ? text.length : Buffer.byteLength(text);
  if (bytes > MAX_OUTPUT_BYTES) throw new NonRetryableError(`task output is ${bytes} bytes of JSON; the most a run's output may take is ${MAX_OUTPUT_BYTES}`);
  return JSON.parse(text) as Json;
}
