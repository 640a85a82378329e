import type {
  EpochMs,
  FinalStatus,
  Json,
  RetryDecision,
  RunCompleted,
  RunDispatched,
  RunFailed,
  RunRejected,
  RunRequested,
  RunStarted,
  StreamChunk,
  StreamEnd,
  TaskError,
} from '@chute/schemas';

/** What a trigger asks for: the run's task, input and limits, and who asks. */
export interface RunRequest {
  readonly runId: string;
  readonly tenant: string;
  readonly task: string;
  readonly input: Json;
  readonly retries: number;
  readonly executionTimeoutMs: number;
}

/** The event that creates a run. */
export function runRequested(request: RunRequest, at: EpochMs): RunRequested {
  const { runId, tenant, task, input, retries, executionTimeoutMs } = request;
  return { v: 1, type: 'RunRequested', runId, at, tenant, task, input, retries, executionTimeoutMs };
}

/**
 * The records one attempt's worker appends, each stamped with the run, tenant
 * and attempt it belongs to: the one place that shapes them, whoever hosts the
 * attempt (a worker on the log, or the gateway for a worker-protocol worker).
 */
export class AttemptRecords {
  private readonly base;

  constructor(
    dispatch: Pick<RunDispatched, 'runId' | 'tenant' | 'attempt'>,
    private readonly workerId: string,
  ) {
    this.base = { v: 1 as const, runId: dispatch.runId, tenant: dispatch.tenant, attempt: dispatch.attempt };
  }

  /** The worker refuses the attempt (no free slot, or stopping); the scheduler dispatches it again. */
  rejected(reason: string, at: EpochMs): RunRejected {
    return { ...this.base, type: 'RunRejected', at, workerId: this.workerId, reason };
  }

  started(at: EpochMs): RunStarted {
    return { ...this.base, type: 'RunStarted', at, workerId: this.workerId };
  }

  completed(output: Json, at: EpochMs): RunCompleted {
    return { ...this.base, type: 'RunCompleted', at, output };
  }

  /** The attempt failed; `retry` is the worker's decision ({@link decideRetry}). */
  failed(error: TaskError, retry: RetryDecision, at: EpochMs): RunFailed {
    return { ...this.base, type: 'RunFailed', at, error, retry };
  }

  /** Chunk `seq` of the attempt's stream: text, or bytes as base64. */
  chunk(seq: number, data: string, encoding: StreamChunk['encoding'], at: EpochMs): StreamChunk {
    return { ...this.base, type: 'StreamChunk', at, seq, encoding, data };
  }

  /** The attempt's stream ends with the run's final status, after chunk `lastSeq` (-1: none). */
  streamEnd(status: FinalStatus, lastSeq: number, at: EpochMs): StreamEnd {
    return { ...this.base, type: 'StreamEnd', at, status, lastSeq };
  }
}
