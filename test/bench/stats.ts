/** Percentile by nearest rank over values sorted ascending; `p` in 0..100. */
function rankOf(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Percentile by nearest rank over a sorted copy; `p` in 0..100. */
export function percentile(values: readonly number[], p: number): number {
  return rankOf([...values].sort((a, b) => a - b), p);
}

/** The percentiles the chart draws a latency distribution through. */
export const CURVE_PERCENTILES = [50, 75, 90, 95, 99, 99.5, 99.9, 100] as const;

export interface Latency {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
  /** [percentile, ms] at each of CURVE_PERCENTILES: the distribution the chart draws. */
  curve: [number, number][];
}

/** A latency distribution over samples in ms. */
export function summary(values: readonly number[]): Latency {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: rankOf(sorted, 50),
    p95: rankOf(sorted, 95),
    p99: rankOf(sorted, 99),
    p999: rankOf(sorted, 99.9),
    max: rankOf(sorted, 100),
    curve: CURVE_PERCENTILES.map((p) => [p, rankOf(sorted, p)]),
  };
}

export const ms = (n: number): string => `${n.toFixed(1)} ms`;

/** p50, p99 and p99.9 of a distribution, for a `bench:` line. */
export const percentiles = (l: Latency): string => `p50 ${ms(l.p50)}, p99 ${ms(l.p99)}, p99.9 ${ms(l.p999)} (n ${l.n})`;

/** Prints one figure as a line `bench: <name>: <value>`, easy to grep out of the run's output. */
export function report(name: string, value: string): void {
  console.log(`bench: ${name}: ${value}`);
}

/** Wall-clock ms with sub-ms precision, comparable across processes on this machine. */
export const now = (): number => performance.timeOrigin + performance.now();
