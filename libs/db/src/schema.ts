import type { ColumnType, Generated, Insertable, JSONColumnType, Selectable } from 'kysely';
import type { Json, RunStatus, TaskError } from '@chute/schemas';

/** timestamptz: read as a Date; written as a Date or an ISO string. */
type Timestamp = ColumnType<Date, Date | string, Date | string>;

/**
 * A `json` column, written as a JSON string and read back parsed. `json`, not
 * `jsonb`, so any JSON is stored as given, `\u0000` included (see migration
 * 0002). Strings, because pg would send a JS array as a Postgres array
 * literal, not as JSON. Kysely's `JSONColumnType` does the same but only
 * admits objects, and a run's input or output may be any JSON value, a bare
 * string or number included.
 */
type JsonValueColumn<T> = ColumnType<T, string, string>;

/** Worker lifecycle in the read model. DEAD: its heartbeats stopped without a clean stop. */
export type WorkerStatus = 'ACTIVE' | 'STOPPED' | 'DEAD';

/** One row per run, projected from the run-events topic. */
export interface RunsTable {
  id: string;
  /** Whose run it is: every query of the API is one tenant's. */
  tenant: Generated<string>;
  task: string;
  status: RunStatus;
  input: JsonValueColumn<Json>;
  output: ColumnType<Json | null, string | null, string | null>;
  error: JSONColumnType<TaskError | null, string | null, string | null>;
  attempt: Generated<number>;
  max_retries: Generated<number>;
  /** Failed attempts so far; the retry policy is decided from it, not from `attempt`. */
  failures: Generated<number>;
  worker_id: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
  /** The projector's folded state of the run, kept so folding resumes without a replay. */
  state: JsonValueColumn<unknown>;
}

/** One row per worker process that ever registered. */
export interface WorkersTable {
  id: string;
  tenant: Generated<string>;
  name: string;
  /** Names of the tasks the worker serves. */
  tasks: JSONColumnType<string[]>;
  slots: number;
  status: WorkerStatus;
  registered_at: Timestamp;
  last_heartbeat_at: Timestamp;
}

/** Where each projection stands in each partition it reads. */
export interface ProjectorCheckpointsTable {
  projection: string;
  topic: string;
  partition: number;
  /** The next offset to apply (the last applied one plus one). */
  offset: number;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** The read model, as Kysely sees it. */
export interface Database {
  runs: RunsTable;
  workers: WorkersTable;
  projector_checkpoints: ProjectorCheckpointsTable;
}

export type RunRow = Selectable<RunsTable>;
export type NewRunRow = Insertable<RunsTable>;
export type WorkerRow = Selectable<WorkersTable>;
