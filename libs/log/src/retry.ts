import { setTimeout as sleep } from 'node:timers/promises';
import type { BatchHandler, LogRecord, PartitionOffset, ReadOptions } from './types';

/**
 * Hands `records` to `handler` until it succeeds or `isStopped()` turns true,
 * backing off exponentially (100 ms to 5 s) between tries. Returns whether the
 * handler succeeded, so a caller commits only what was handled.
 */
export async function deliverWithRetry(
  handler: BatchHandler,
  records: readonly LogRecord[],
  next: PartitionOffset,
  options: ReadOptions,
  isStopped: () => boolean,
): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    try {
      await handler(records, next);
      return true;
    } catch (error) {
      options.onError?.(error, records);
      if (isStopped()) return false;
      await sleep(Math.min(5000, 100 * 2 ** attempt));
      if (isStopped()) return false;
    }
  }
}
