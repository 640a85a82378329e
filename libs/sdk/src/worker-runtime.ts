// `@chute/sdk/worker`: the worker runtime on the log, for code that hosts
// workers itself (the gateway hosts those connected over the worker protocol).
// It loads kafkajs; the client (`@chute/sdk`) does not.
export { Worker, type WorkerRuntime } from './worker';
export { WorkerHost, type AttemptExecutor, type AttemptIO, type WorkerHostOptions } from './worker-host';
export { StreamWriter } from './context';
