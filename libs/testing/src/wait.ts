import { setTimeout as sleep } from 'node:timers/promises';

/** What {@link waitFor} throws when its condition is still unmet at the timeout. */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
}

/**
 * Polls until `check` returns true. The timeout is a bound on waiting, not a
 * performance assertion: it only turns a hang into a clear failure.
 */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  options: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  const interval = options.intervalMs ?? 20;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new WaitTimeoutError(`timed out waiting: ${options.message ?? 'condition not met'}`);
    await sleep(interval);
  }
}
