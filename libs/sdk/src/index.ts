export { Chute, Runs, Task, WorkflowRunRef, type ChuteOptions, type ListRunsOptions } from './client';
export { Context, ChunkTooLargeError } from './context';
export { ChuteApiError, GatewayUnreachableError, NonRetryableError, RunFailedError } from './errors';
export type { TaskWorker, WorkerOptions, WorkerTransport } from './worker-types';
export type { Worker } from './worker';
export { GatewayWorker, WorkerRefusedError } from './gateway-worker';
export type { Duration } from '@chute/schemas';
export type { TaskFn, TaskOptions } from './task';
export type { SubscribeOptions } from './stream';
