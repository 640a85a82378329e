import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import type { RunEvent, RunView, StreamRecord } from '@chute/schemas';
import { Platform, waitFor, type ServiceProcess } from '@chute/testing';
import { openAudit, readAll, type Audit } from '../support/audit';
import { runResult } from '../support/gateway';

// Every service as several instances on one real broker and database: work is
// shared by partition, nothing runs twice, and any gateway answers for any run.

/** Once each scheduler has taken its share of the partitions after the last one joined. */
async function schedulersSettled(schedulers: readonly ServiceProcess[]): Promise<void> {
  await waitFor(
    () => {
      const latest = schedulers.map((s) => s.lines.filter((l) => l.msg === 'partitions assigned').at(-1)?.['partitions'] as number[] | undefined);
      if (latest.some((p) => !p || p.length === 0)) return false;
      const all = latest.flatMap((p) => p!);
      return all.length === 6 && new Set(all).size === 6;
    },
    { timeoutMs: 60_000, message: 'the schedulers to split the six partitions' },
  );
  await waitFor(
    async () => {
      for (const s of schedulers) if ((await fetch(`${Platform.probesOf(s)}/readyz`)).status !== 200) return false;
      return true;
    },
    { timeoutMs: 60_000, message: 'every scheduler to be ready' },
  );
}

const post = (gateway: string, task: string, input: unknown) =>
  fetch(`${gateway}/api/v1/tasks/${task}/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input }) });

describe('scale-out: two schedulers, two gateways, two projectors, three workers', () => {
  let platform: Platform;
  let gateways: string[];
  let audit: Audit;

  before(async () => {
    platform = await Platform.start({ workers: 3 });
    const schedulers = [platform.processes.find((p) => p.name === 'scheduler')!, await platform.startService('scheduler')];
    await platform.startService('projector');
    gateways = [platform.gatewayUrl, await platform.startGateway()];
    await schedulersSettled(schedulers);
    audit = await openAudit(platform.env);
  });

  after(async () => {
    await audit?.stop();
    await platform?.stop();
  });

  test('1,000 runs, triggered on both gateways: each ends once, COMPLETED, in one attempt, and every gateway gives the same answer', async () => {
    const runIds: string[] = [];
    const kinds = new Map<string, 'noop' | 'stream'>();
    // 50 clients at a time; every tenth run streams.
    let next = 0;
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        for (let i = next++; i < 1000; i = next++) {
          const stream = i % 10 === 0;
          const response = await post(gateways[i % 2]!, stream ? 'stream-ticks' : 'noop', stream ? { count: 5, intervalMs: 10 } : null);
          assert.equal(response.status, 201);
          const { runId } = (await response.json()) as { runId: string };
          runIds.push(runId);
          kinds.set(runId, stream ? 'stream' : 'noop');
        }
      }),
    );
    assert.equal(runIds.length, 1000);
    // Results from the other gateway than the one that took the trigger.
    const results = await Promise.all(runIds.map((id, i) => runResult(gateways[(i + 1) % 2]!, id)));
    assert.deepEqual(
      results.filter((r) => r.status !== 'COMPLETED' || r.attempt !== 1).map((r) => [r.runId, r.status, r.attempt]),
      [],
      'every run COMPLETED in its first attempt',
    );

    // The log itself: one dispatch kept and one end per run; streaming runs wrote every chunk once.
    const events = await readAll<RunEvent>(audit, audit.topics.runEvents);
    const perRun = new Map<string, { dispatched: number; rejected: number; ends: number; workers: Set<string> }>();
    for (const e of events) {
      const entry = perRun.get(e.runId) ?? { dispatched: 0, rejected: 0, ends: 0, workers: new Set<string>() };
      perRun.set(e.runId, entry);
      if (e.type === 'RunDispatched') entry.dispatched++;
      if (e.type === 'RunRejected') entry.rejected++;
      if (e.type === 'RunStarted') entry.workers.add(e.workerId);
      if (e.type === 'RunCompleted' || e.type === 'RunFailed' || e.type === 'RunCancelled' || e.type === 'RunTimedOut') entry.ends++;
    }
    const odd = runIds.filter((id) => {
      const e = perRun.get(id);
      return !e || e.dispatched - e.rejected !== 1 || e.ends !== 1 || e.workers.size !== 1;
    });
    assert.deepEqual(odd.map((id) => [id, perRun.get(id)]), [], 'one accepted dispatch, one start on one worker, and one end per run');
    const workersUsed = new Set([...perRun.values()].flatMap((e) => [...e.workers]));
    assert.equal(workersUsed.size, 3, 'all three workers took runs');

    const chunks = await readAll<StreamRecord>(audit, audit.topics.stream);
    for (const id of runIds.filter((r) => kinds.get(r) === 'stream')) {
      const seqs = chunks.filter((c) => c.runId === id && c.type === 'StreamChunk').map((c) => (c.type === 'StreamChunk' ? c.seq : -1));
      assert.deepEqual(seqs, [0, 1, 2, 3, 4], `the chunks of ${id}`);
    }

    // Both gateways answer alike for the same runs, from the read model both projectors wrote.
    const sample = runIds.slice(0, 50);
    await waitFor(
      async () => {
        const [a, b] = await Promise.all(
          gateways.map((g) => Promise.all(sample.map(async (id) => (await (await fetch(`${g}/api/v1/runs/${id}`)).json()) as RunView))),
        );
        return JSON.stringify(a) === JSON.stringify(b);
      },
      { timeoutMs: 30_000, message: 'GET /runs/:id to agree on both gateways' },
    );
    const lists = await Promise.all(gateways.map(async (g) => (await (await fetch(`${g}/api/v1/runs?limit=100`)).json()) as { runs: RunView[] }));
    assert.deepEqual(lists[0], lists[1], 'the list is the same from both gateways');
  });

  test('a run triggered on gateway A streams from gateway B, every chunk once, then its end', async () => {
    const response = await post(gateways[0]!, 'stream-ticks', { count: 20, intervalMs: 20, delayMs: 300 });
    const { runId } = (await response.json()) as { runId: string };
    const ws = new WebSocket(`${gateways[1]!.replace('http', 'ws')}/api/v1/runs/${runId}/stream?from=start`);
    const messages: Array<{ type: string; seq?: number; status?: string }> = [];
    await new Promise<void>((resolve, reject) => {
      ws.on('message', (data) => void messages.push(JSON.parse(String(data)) as { type: string }));
      ws.on('close', () => resolve());
      ws.on('error', reject);
    });
    assert.deepEqual(
      messages.filter((m) => m.type === 'chunk').map((m) => m.seq),
      Array.from({ length: 20 }, (_, i) => i),
    );
    assert.deepEqual(messages.at(-1), { type: 'end', status: 'COMPLETED' });
  });
});

describe('scale-out: a worker with two slots fed by two schedulers', () => {
  let platform: Platform;
  let worker: ServiceProcess;

  before(async () => {
    platform = await Platform.start({ workers: 0 });
    const schedulers = [platform.processes.find((p) => p.name === 'scheduler')!, await platform.startService('scheduler')];
    await schedulersSettled(schedulers);
    worker = await platform.startWorker('two-slots', { CHUTE_WORKER_SLOTS: '2' });
  });

  after(async () => {
    await platform?.stop();
  });

  test('never runs more than two tasks at once, and still runs them all', async () => {
    const ids = await Promise.all(
      Array.from({ length: 16 }, async () => ((await (await post(platform.gatewayUrl, 'sleep', { ms: 150 })).json()) as { runId: string }).runId),
    );
    const results = await Promise.all(ids.map((id) => runResult(platform.gatewayUrl, id)));
    assert.deepEqual(results.map((r) => r.status), ids.map(() => 'COMPLETED'));
    const metrics = await (await fetch(`${Platform.probesOf(worker)}/metrics`)).text();
    const figure = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1]);
    const peak = figure('chute_worker_active_runs_peak');
    const rejected = figure('chute_worker_rejected_dispatches_total');
    // The concurrency the worker itself saw, and how often it had to refuse.
    process.stdout.write(`# worker with 2 slots under 2 schedulers: peak ${peak} at once, ${rejected} dispatches refused\n`);
    assert.equal(peak, 2, 'both slots were used, never a third');
  });
});
