/**
 * The API's answers, as far as the dashboard reads them. Written out here, not
 * imported from @chute/schemas, because this code is checked against the
 * browser's globals only, and the schemas' codec names Node's `Buffer`;
 * `dashboard.unit.test.ts` checks that the schemas' types fit these.
 */

/** An error answer's body (`ApiError`). */
export interface ApiErrorBody {
  code: string;
  message: string;
}

/** A run as GET /api/v1/runs and /api/v1/runs/:id show it (`RunView`). */
export interface Run {
  runId: string;
  task: string;
  status: string;
  input: unknown;
  output: unknown;
  error: { name: string; message: string; stack?: string | undefined } | null;
  attempt: number;
  retries: number;
  workerId: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** GET /api/v1/runs (`ListRunsResponse`). */
export interface RunList {
  runs: Run[];
}

/** A worker as GET /api/v1/workers shows it (`WorkerView`). */
export interface Worker {
  workerId: string;
  name: string;
  tasks: string[];
  slots: number;
  status: string;
  lastHeartbeatAt: string;
}

/** GET /api/v1/workers (`ListWorkersResponse`). */
export interface WorkerList {
  workers: Worker[];
}

/** POST /api/v1/tasks/:name/runs (`TriggerRunResponse`). */
export interface TriggeredRun {
  runId: string;
}

/** POST /api/v1/runs/:id/stream-token (`StreamTokenResponse`). */
export interface StreamToken {
  token: string;
}

/** The data of the stream's SSE events `chunk`, `attempt` and `end` (`StreamChunkMessage` and its kin). */
export interface StreamChunk {
  data: string;
  encoding?: 'utf8' | 'base64' | undefined;
}
export interface StreamAttempt {
  attempt: number;
}
export interface StreamEnd {
  status: string;
}
