import type { Log } from './types';

/** Raised by {@link checkConsuming}; its message names each subscription that is not consuming. */
export class NotConsumingError extends Error {
  override readonly name = 'NotConsumingError';
}

/**
 * For readiness: resolves when every subscription of the log is consuming,
 * throws naming those that are not (starting, or recovering from a broker
 * error, with the error).
 */
export function checkConsuming(log: Log): void {
  const idle = log.health().filter((h) => h.state !== 'consuming');
  if (idle.length === 0) return;
  const seconds = (since: number): string => `${Math.round((Date.now() - since) / 1000)} s`;
  throw new NotConsumingError(
    idle.map((h) => `consumer ${h.name} is ${h.state} for ${seconds(h.since)}${h.lastError ? ` (${h.lastError})` : ''}`).join('; '),
  );
}
