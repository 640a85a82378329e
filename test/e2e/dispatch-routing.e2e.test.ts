import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DispatchRecord, RunView } from '@chute/schemas';
import { Platform, waitFor, type ServiceProcess } from '@chute/testing';
import { openAudit, readAll, type Audit } from '../support/audit';

// Workers read their own work only: each reads one partition of the dispatch
// topic, and workers that start one after another get partitions of their own.

const WORKERS = 8;
const RUNS = 800;

/** A worker's dispatch bytes read, own and another's, from its /metrics. */
async function dispatchBytes(worker: ServiceProcess): Promise<{ own: number; other: number }> {
  const metrics = await (await fetch(`${Platform.probesOf(worker)}/metrics`)).text();
  const figure = (record: string) => Number(new RegExp(`^chute_worker_dispatch_bytes_total\\{record="${record}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0);
  return { own: figure('own'), other: figure('other') };
}

describe(`dispatch routing: ${WORKERS} workers`, () => {
  let platform: Platform;
  let audit: Audit;

  before(async () => {
    platform = await Platform.start({ workers: WORKERS });
    audit = await openAudit(platform.env);
  });

  after(async () => {
    await audit?.stop();
    await platform?.stop();
  });

  test(`over ${RUNS} runs each worker reads only the dispatch records addressed to it, and they share the work`, async () => {
    const ids = await Promise.all(
      Array.from({ length: RUNS }, async (_, i) => {
        const response = await fetch(`${platform.gatewayUrl}/api/v1/tasks/echo/runs`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ input: { i } }),
        });
        assert.equal(response.status, 201);
        return ((await response.json()) as { runId: string }).runId;
      }),
    );
    for (const id of ids) {
      for (;;) {
        const response = await fetch(`${platform.gatewayUrl}/api/v1/runs/${id}/result?timeoutMs=30000`);
        if (response.status === 200) {
          assert.equal(((await response.json()) as RunView).status, 'COMPLETED');
          break;
        }
      }
    }

    const dispatches = await readAll<DispatchRecord>(audit, audit.topics.dispatch);
    const workers = platform.processes.filter((p) => p.name === 'worker');
    assert.equal(workers.length, WORKERS);
    const bytesFor = new Map<string, number>();
    for (const d of dispatches) bytesFor.set(d.workerId, (bytesFor.get(d.workerId) ?? 0) + Buffer.byteLength(JSON.stringify(d)));
    const total = [...bytesFor.values()].reduce((a, b) => a + b, 0);
    // The worker's own count is taken once it has read everything addressed to it.
    const read = new Map<ServiceProcess, { own: number; other: number }>();
    await waitFor(async () => {
      for (const w of workers) read.set(w, await dispatchBytes(w));
      return workers.every((w) => read.get(w)!.own === (bytesFor.get(Platform.workerIdOf(w)) ?? 0));
    }, { message: 'each worker to have read every byte addressed to it' });

    const shares = workers.map((w) => read.get(w)!.own / total);
    process.stdout.write(
      `# dispatch bytes read by each of ${WORKERS} workers, as a share of all ${total} bytes: ${shares.map((s) => `${(s * 100).toFixed(1)}%`).join(' ')}` +
        `; bytes of other workers' records read: ${workers.map((w) => read.get(w)!.other).join(' ')}\n`,
    );
    for (const w of workers) assert.equal(read.get(w)!.other, 0, `${Platform.workerIdOf(w)} read none of another worker's dispatches`);
    assert.ok(shares.every((s) => s > 0), 'every worker got work');
  });
});
