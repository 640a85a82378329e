import { MAX_CHUNK_BYTES, type StreamChunk, type StreamRecords } from '@chute/schemas';
import { ChunkTooLargeError, type AttemptRecords } from '@chute/domain';
import type { Topic } from '@chute/log';

/**
 * A chunk the log refused for good. The attempt then fails (and is retried if
 * its task allows): it must not report success with a hole in its stream.
 */
export class StreamIncompleteError extends Error {
  override readonly name = 'StreamIncompleteError';
  constructor(readonly seq: number, cause: unknown) {
    super(`chunk ${seq} of the stream could not be written to the log: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** A promise whose rejection is not "unhandled" when the caller ignores it, as the seed's un-awaited putStream does. */
function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/**
 * The ordered stream of one attempt. Every chunk gets the next sequence number
 * at call time, and the log sends appends in call order, so chunks arrive in
 * the order putStream was called even when nobody awaits it. The SDK's
 * `Context` writes to it as its chunk sink.
 */
export class StreamWriter {
  private seq = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private lost: StreamIncompleteError | undefined;

  constructor(
    private readonly topic: Topic<typeof StreamRecords.schema>,
    private readonly records: AttemptRecords,
  ) {}

  /** The seq of the last chunk written, -1 when none was. */
  get lastSeq(): number {
    return this.seq - 1;
  }

  put(chunk: string | Uint8Array): Promise<void> {
    let record: StreamChunk;
    if (typeof chunk === 'string') {
      const bytes = Buffer.byteLength(chunk, 'utf8');
      if (bytes > MAX_CHUNK_BYTES) return quiet(Promise.reject(new ChunkTooLargeError(bytes)));
      record = this.records.chunk(this.seq, chunk, 'utf8', Date.now());
    } else if (chunk instanceof Uint8Array) {
      if (chunk.byteLength > MAX_CHUNK_BYTES) return quiet(Promise.reject(new ChunkTooLargeError(chunk.byteLength)));
      const data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('base64');
      record = this.records.chunk(this.seq, data, 'base64', Date.now());
    } else {
      return quiet(Promise.reject(new TypeError('putStream takes a string or a Uint8Array')));
    }
    // After a lost chunk nothing more is written: subscribers see the attempt's
    // stream stop short, never a chunk past a hole. The attempt then fails.
    if (this.lost) return quiet(Promise.reject(this.lost));
    const seq = this.seq++;
    // The log retries an append until the broker takes it; what still fails is
    // refused for good (a record the broker will never accept).
    const sent = this.topic.append([record]);
    this.inFlight.add(sent);
    void sent.then(
      () => this.inFlight.delete(sent),
      (error: unknown) => {
        this.inFlight.delete(sent);
        this.lost ??= new StreamIncompleteError(seq, error);
      },
    );
    return quiet(sent);
  }

  /**
   * Resolves once every chunk put so far is on the log; rejects with a
   * {@link StreamIncompleteError} if any chunk was refused.
   */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
    if (this.lost) throw this.lost;
  }
}
