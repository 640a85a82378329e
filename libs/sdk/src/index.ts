export { Chute, Runs, Task, WorkflowRunRef, type ChuteOptions, type ListRunsOptions } from './client/client';
export { Context, ChunkTooLargeError } from './worker/context';
export { ChuteApiError, GatewayUnreachableError, NonRetryableError, RunFailedError } from './errors';
export type { TaskWorker, WorkerOptions, WorkerTransport } from './worker/types';
export type { Worker } from './worker/log-worker';
export { GatewayWorker, WorkerRefusedError } from './worker/gateway-worker';
export type { Duration } from '@chute/schemas';
export type { TaskFn, TaskOptions } from './task';
export type { SubscribeOptions } from './client/stream';
