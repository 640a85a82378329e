export { ChunkTooLargeError } from '@chute/domain';

/** Where an attempt's chunks go, in call order: the log, or a gateway over the worker protocol. */
export interface ChunkSink {
  put(chunk: string | Uint8Array): Promise<void>;
}

/** What a task's `fn` gets besides its input. Names follow Hatchet's v1 SDK. */
export class Context {
  constructor(
    /** The run this attempt belongs to. */
    readonly runId: string,
    /** 1 for the first attempt, 2 for the first retry, and so on. */
    readonly attempt: number,
    /** The worker running this attempt. */
    readonly workerId: string,
    /** Fires when the run is cancelled or times out: stop work and return. */
    readonly abortSignal: AbortSignal,
    private readonly stream: ChunkSink,
  ) {}

  /**
   * Publishes a chunk to the run's stream. Need not be awaited: chunks keep call
   * order, and all are on the log before the run is reported finished. A chunk
   * over 1 MiB is refused (the promise rejects); the run goes on.
   */
  putStream(chunk: string | Uint8Array): Promise<void> {
    return this.stream.put(chunk);
  }
}
