/** The totals of node:test summaries in a run's output. */
export interface TestTotals {
  passed: number;
  failed: number;
  skipped: number;
}

/**
 * Adds up every node:test summary in `output` (one per project or file run):
 * its `ℹ pass N`, `ℹ fail N` and `ℹ cancelled N` (counted as failed) and
 * `ℹ skipped N` lines. Colour codes are stripped first: Node 24's reporter
 * colours them even into a pipe when Nx forces colour.
 */
export function sumTestTotals(output: string): TestTotals {
  const totals: TestTotals = { passed: 0, failed: 0, skipped: 0 };
  for (const raw of output.split('\n')) {
    const line = raw.replace(/\x1b\[[0-9;]*m/g, '');
    const match = /ℹ (pass|fail|cancelled|skipped) (\d+)$/.exec(line);
    if (!match) continue;
    const count = Number(match[2]);
    if (match[1] === 'pass') totals.passed += count;
    else if (match[1] === 'skipped') totals.skipped += count;
    else totals.failed += count;
  }
  return totals;
}

/** The closing line: "chute: 3 passed, 0 failed, 1 skipped". */
export function formatTotals(label: string, { passed, failed, skipped }: TestTotals): string {
  return `${label}: ${passed} passed, ${failed} failed, ${skipped} skipped`;
}
