import type { FinalStatus, RunStatus, TaskError } from '@chute/schemas';

/** The gateway answered with an error (`code` is one of the platform's error codes). */
export class ChuteApiError extends Error {
  override readonly name = 'ChuteApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

/** No answer from the gateway at all (refused, reset, unresolvable): nothing was done, and trying later may work. */
export class GatewayUnreachableError extends Error {
  override readonly name = 'GatewayUnreachableError';
  constructor(
    readonly gatewayUrl: string,
    cause: unknown,
  ) {
    super(`the Chute gateway at ${gatewayUrl} did not answer`, { cause });
  }
}

/** A run ended without completing; `error` is the task's failure as recorded. */
export class RunFailedError extends Error {
  override readonly name = 'RunFailedError';
  constructor(
    readonly runId: string,
    readonly status: FinalStatus | RunStatus,
    readonly error: TaskError | null,
  ) {
    super(`run ${runId} ended ${status}${error ? `: ${error.name}: ${error.message}` : ''}`);
  }
}

export { NonRetryableError } from '@chute/domain';
