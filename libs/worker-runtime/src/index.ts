// The worker runtime on the log: a dispatch, its attempt, its chunks and its
// end, in one place. The gateway hosts the workers connected over the worker
// protocol with it; the SDK's worker on the log runs its task functions with it.
export { WorkerHost, type AttemptExecutor, type AttemptIO, type WorkerHostOptions } from './worker-host';
export { StreamWriter, StreamIncompleteError } from './stream-writer';
export { DispatchRouter, pickWorkerId, type DispatchSource } from './dispatch';
