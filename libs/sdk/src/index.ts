export { Chute, Runs, Task, WorkflowRunRef, type ChuteOptions, type ListRunsOptions } from './client';
export { Context, ChunkTooLargeError } from './context';
export { ChuteApiError, NonRetryableError, RunFailedError } from './errors';
export { Worker, type WorkerOptions } from './worker';
export { WorkerHost, type AttemptExecutor, type AttemptIO, type WorkerHostOptions } from './worker-host';
export { StreamWriter } from './context';
export type { Duration } from './duration';
export type { TaskFn, TaskOptions } from './task';
export type { SubscribeOptions } from './stream';
