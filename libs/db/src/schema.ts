import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';
import type { Json, RunStatus, TaskError } from '@chute/schemas';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** jsonb: written as a JSON string (pg would send a JS array as a Postgres array), read back parsed. */
type JsonColumn<T> = ColumnType<T, string, string>;

export interface RunsTable {
  id: string;
  task: string;
  status: RunStatus;
  input: JsonColumn<Json>;
  output: JsonColumn<Json | null> | null;
  error: JsonColumn<TaskError | null> | null;
  attempt: Generated<number>;
  max_retries: Generated<number>;
  failures: Generated<number>;
  worker_id: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
  /** The projector's folded state of the run (RunState), kept so folding can resume. */
  state: JsonColumn<unknown>;
}

export interface WorkersTable {
  id: string;
  name: string;
  tasks: JsonColumn<string[]>;
  slots: number;
  status: 'ACTIVE' | 'STOPPED';
  registered_at: Timestamp;
  last_heartbeat_at: Timestamp;
}

export interface ProjectorCheckpointsTable {
  projection: string;
  topic: string;
  partition: number;
  /** The next offset to apply. */
  offset: number;
  updated_at: Generated<Date>;
}

export interface Database {
  runs: RunsTable;
  workers: WorkersTable;
  projector_checkpoints: ProjectorCheckpointsTable;
}

export type RunRow = Selectable<RunsTable>;
export type NewRunRow = Insertable<RunsTable>;
export type WorkerRow = Selectable<WorkersTable>;
