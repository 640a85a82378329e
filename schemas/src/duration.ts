/**
 * A duration as people write one, and as Hatchet's SDKs take it: a whole
 * number and a unit ('250ms', '30s', '5m', '12h', '30d'), or a whole number of
 * milliseconds.
 */
export type Duration = string | number;

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * The duration in milliseconds.
 * @param what names the value in the error (an option, a variable, a flag)
 * @throws RangeError naming `what` and the forms it takes
 */
export function durationMs(value: Duration, what: string): number {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value > 0) return value;
    throw new RangeError(`${what} must be a positive whole number of milliseconds, got ${value}`);
  }
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(value.trim());
  if (!match) throw new RangeError(`${what} must be a number and a unit (ms, s, m, h or d), such as "30s" or "30d", got "${value}"`);
  const ms = Number(match[1]) * UNITS[match[2]!]!;
  if (ms <= 0) throw new RangeError(`${what} must be positive, got "${value}"`);
  return ms;
}
