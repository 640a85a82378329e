import { durationMs, type Duration } from '@chute/schemas';
import type { Context } from './worker/context';

export type TaskFn<I, O> = (input: I, ctx: Context) => O | Promise<O>;

export interface TaskOptions<I, O> {
  /** Unique per deployment; workers serve tasks by name. */
  name: string;
  fn: TaskFn<I, O>;
  /** Retries after a failed attempt. @default 0 */
  retries?: number;
  /** Budget of one attempt, e.g. '30s'. @default '5m' */
  executionTimeout?: Duration;
}

/** A task definition with its defaults resolved. */
export interface TaskDefinition<I = unknown, O = unknown> {
  readonly name: string;
  readonly fn: TaskFn<I, O>;
  readonly retries: number;
  readonly executionTimeoutMs: number;
}

export function defineTask<I, O>(options: TaskOptions<I, O>): TaskDefinition<I, O> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(options.name)) {
    throw new RangeError(`task name "${options.name}" must be 1-128 letters, digits, ".", "_", ":" or "-"`);
  }
  const retries = options.retries ?? 0;
  if (!Number.isInteger(retries) || retries < 0 || retries > 100) throw new RangeError(`retries must be 0-100, got ${retries}`);
  return {
    name: options.name,
    fn: options.fn,
    retries,
    executionTimeoutMs: durationMs(options.executionTimeout ?? '5m', 'executionTimeout'),
  };
}
