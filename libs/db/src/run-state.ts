import type { RunState } from '@chute/domain';
import { describeIssue, PersistedRunState } from '@chute/schemas';

/**
 * A read-model row that does not decode: written by a newer version, or
 * damaged. Deterministic: reading it again gives the same error, so a caller
 * must not retry it as if the database were down.
 */
export class InvalidRowError extends Error {
  override readonly name = 'InvalidRowError';
  /** Stable, for classifying the error without reading its message. */
  readonly code = 'READ_MODEL_ROW_INVALID';
  constructor(
    readonly table: string,
    readonly id: string,
    /** The first offending path in the stored value, `(root)` for the value itself. */
    readonly field: string,
    readonly detail: string,
  ) {
    super(`read model row ${table}/${id} does not decode: ${field}: ${detail}`);
  }
}

/** The newest version of `runs.state` this code reads and writes. */
const LATEST = 1;

/** True when A and B are each assignable to the other. */
type Agree<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
// The persisted shape and the domain's RunState must not drift apart: a field
// added to one only fails to compile here.
true satisfies Agree<Omit<PersistedRunState, 'v'>, RunState>;

/**
 * A run's state as `runs.state` stores it: the domain's state with the
 * persisted schema's version. Returns JSON text, as the column is written.
 */
export function encodeRunState(state: RunState): string {
  const persisted: PersistedRunState = { v: 1, ...state };
  return JSON.stringify(persisted);
}

/**
 * Decodes `runs.state` as read back, upcasting older versions: rows projected
 * before the state was versioned carry no `v` and have version 1's shape.
 *
 * @param id the row's id, for the error.
 * @throws InvalidRowError when the value matches no version this code knows.
 */
export function decodeRunState(id: string, value: unknown): RunState {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidRowError('runs', id, '(root)', 'expected a JSON object');
  }
  const v: unknown = 'v' in value ? value.v : 1;
  if (typeof v === 'number' && v > LATEST) {
    throw new InvalidRowError('runs', id, 'v', `version ${v} is newer than this reader knows (${LATEST}); upgrade it`);
  }
  const stored = 'v' in value ? value : { ...value, v };
  const parsed = PersistedRunState.safeParse(stored);
  if (!parsed.success) {
    const { field, detail } = describeIssue(parsed.error);
    throw new InvalidRowError('runs', id, field, detail);
  }
  const { v: _version, ...state } = parsed.data;
  return state;
}
