/** Percentile by nearest rank over a sorted copy; `p` in 0..100. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function summary(values: readonly number[]): { n: number; p50: number; p95: number; p99: number; max: number } {
  return {
    n: values.length,
    p50: percentile(values, 50),
    p95: percentile(values, 95),
    p99: percentile(values, 99),
    max: percentile(values, 100),
  };
}

export const ms = (n: number): string => `${n.toFixed(1)} ms`;

/** Prints one figure as a line `bench: <name>: <value>`, easy to grep out of the run's output. */
export function report(name: string, value: string): void {
  console.log(`bench: ${name}: ${value}`);
}
