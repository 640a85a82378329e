// Hatchet's figures for the workloads python-peer.bench.ts runs on Chute: the
// same workloads, through Hatchet's own Python SDK against the real Hatchet
// engine, measured on this machine type the same day. They are not measured by
// `npm run bench` (Hatchet is not installed here): they stand beside Chute's
// figures as a reference, with their date and source.

/** Hatchet's same-day figures, and the workloads' sizes they were measured at. */
export const HATCHET_REFERENCE = {
  date: '2026-12-07',
  source: 'reference/hatchet/bench.py: hatchet-sdk 1.43.1 (Python) against Hatchet engine v0.104.7 (Postgres MQ), on a 2-core machine of this type',
  /** One task puts 500 chunks 20 ms apart; subscribe_to_stream's receive - send, ms. */
  stream: { chunks: 500, gapMs: 20, p50: 8.7, p95: 28.6, p99: 30.3 },
  /** 2000 no-op `await task.aio_run()` by 100 concurrent clients: runs/s and the machine's CPU ms per run (/proc/stat, busy = total - idle - iowait). */
  runs: { runs: 2000, clients: 100, runsPerSecond: 97, machineCpuMsPerRun: 20.3 },
  /** Open loop at 20 runs/s for 20 s: trigger -> task start, ms. */
  start: { ratePerSecond: 20, seconds: 20, p50: 8.2, p99: 16.6 },
} as const;

/** Chute's figure ÷ Hatchet's, as the table writes ratios ("0.52×"). */
export const versusHatchet = (chute: number, hatchet: number): string => `${(chute / hatchet).toFixed(2)}×`;

/** How the titles of the table's rows name the reference. */
export const HATCHET_SAME_DAY = `Hatchet's same-day reference (${HATCHET_REFERENCE.date})`;
