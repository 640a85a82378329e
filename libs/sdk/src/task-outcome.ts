import type { Json, TaskError } from '@chute/schemas';
import { NonRetryableError } from './errors';

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
  return JSON.parse(text) as Json;
}
