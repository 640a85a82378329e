/** A duration as Hatchet's SDK takes it: '30s', '5m', '1h', '250ms', or milliseconds. */
export type Duration = string | number;

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function durationMs(value: Duration, what: string): number {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value > 0) return value;
    throw new RangeError(`${what} must be a positive whole number of milliseconds, got ${value}`);
  }
  const match = /^(\d+)(ms|s|m|h)$/.exec(value.trim());
  if (!match) throw new RangeError(`${what} must look like "250ms", "30s", "5m" or "1h", got "${value}"`);
  const ms = Number(match[1]) * UNITS[match[2]!]!;
  if (ms <= 0) throw new RangeError(`${what} must be positive, got "${value}"`);
  return ms;
}
