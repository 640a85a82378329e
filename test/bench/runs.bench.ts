// Benchmark: no-op runs through the whole platform (gateway -> scheduler ->
// worker -> projector -> gateway), the services as separate processes on the
// real broker and PostgreSQL. Figures, not assertions: these machines are noisy.
import { setTimeout as sleep } from 'node:timers/promises';
import { createDb } from '@chute/db';
import { Platform } from '@chute/testing';
import { ms, report, summary } from './stats';

interface Timing {
  triggeredAt: number;
  completedAt?: number;
}

async function trigger(gatewayUrl: string): Promise<string> {
  const response = await fetch(new URL('/api/v1/tasks/noop/runs', gatewayUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  if (response.status !== 201) throw new Error(`trigger answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { runId: string }).runId;
}

async function awaitResult(gatewayUrl: string, runId: string): Promise<void> {
  for (;;) {
    const response = await fetch(new URL(`/api/v1/runs/${runId}/result?timeoutMs=30000`, gatewayUrl));
    const body = (await response.json()) as { status: string };
    if (response.status === 200) {
      if (body.status !== 'COMPLETED') throw new Error(`run ${runId} ended ${body.status}`);
      return;
    }
    if (response.status !== 202) throw new Error(`result answered ${response.status}`);
  }
}

/** trigger -> task start, from the read model's started_at (the worker's RunStarted time; same machine clock). */
async function startLatencies(databaseUrl: string, timings: Map<string, Timing>): Promise<number[]> {
  const db = createDb({ url: databaseUrl });
  try {
    const ids = [...timings.keys()];
    const out: number[] = [];
    for (let i = 0; i < ids.length; i += 1000) {
      const rows = await db.selectFrom('runs').select(['id', 'started_at']).where('id', 'in', ids.slice(i, i + 1000)).execute();
      for (const row of rows) if (row.started_at) out.push(row.started_at.getTime() - timings.get(row.id)!.triggeredAt);
    }
    return out;
  } finally {
    await db.destroy();
  }
}

/** Closed loop: `clients` concurrent clients each trigger a run and wait for its result, until `total` runs. */
async function throughput(platform: Platform, clients: number, total: number): Promise<void> {
  const timings = new Map<string, Timing>();
  let issued = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (issued < total) {
        issued++;
        const triggeredAt = Date.now();
        const t0 = performance.now();
        const runId = await trigger(platform.gatewayUrl);
        timings.set(runId, { triggeredAt });
        await awaitResult(platform.gatewayUrl, runId);
        timings.get(runId)!.completedAt = triggeredAt + (performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const completed = [...timings.values()].map((t) => t.completedAt! - t.triggeredAt);
  const toStart = await startLatencies(platform.env['CHUTE_DATABASE_URL']!, timings);
  const c = summary(completed);
  const s = summary(toStart);
  report(`runs/s (${clients} concurrent HTTP clients, ${total} no-op runs)`, (total / seconds).toFixed(0));
  report(`trigger->completed (closed loop, ${clients} clients)`, `p50 ${ms(c.p50)}, p99 ${ms(c.p99)}`);
  report(`trigger->task start (closed loop, ${clients} clients)`, `p50 ${ms(s.p50)}, p99 ${ms(s.p99)}`);
}

/** Open loop at a fixed rate: trigger->task start at `rate` runs/s for `seconds`. */
async function startLatencyAtRate(platform: Platform, rate: number, seconds: number): Promise<void> {
  const timings = new Map<string, Timing>();
  const pending: Promise<void>[] = [];
  const interval = 1000 / rate;
  const begin = performance.now();
  for (let i = 0; i < rate * seconds; i++) {
    const due = begin + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const triggeredAt = Date.now();
    pending.push(
      trigger(platform.gatewayUrl).then(async (runId) => {
        timings.set(runId, { triggeredAt });
        await awaitResult(platform.gatewayUrl, runId);
      }),
    );
  }
  await Promise.all(pending);
  const s = summary(await startLatencies(platform.env['CHUTE_DATABASE_URL']!, timings));
  report(`trigger->task start at ${rate} runs/s (open loop, ${s.n} runs)`, `p50 ${ms(s.p50)}, p95 ${ms(s.p95)}, p99 ${ms(s.p99)}`);
}

export async function runsBench(): Promise<void> {
  const platform = await Platform.start({ workers: 1, env: { CHUTE_WORKER_SLOTS: '2000' } });
  try {
    // Warm up connections and JIT before measuring.
    await throughput(platform, 10, 200);
    await startLatencyAtRate(platform, 100, 10);
    await throughput(platform, 100, 3000);
  } finally {
    await platform.stop();
  }
}
