// Crashes under load: every kind of service killed (SIGKILL to its process
// group) and restarted, and the broker stopped and started on its data, while
// runs stream to live subscribers. Nothing accepted may be lost, stuck, or
// streamed with a hole, and the read model must equal a rebuild from the log.
//
// It stops and starts the broker `npm run test:faults` brought up; with a
// broker this checkout did not start it fails (BrokerControl refuses).
// CHUTE_FAULT_CYCLES sets the number of cycles (default 5).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { createDb } from '@chute/db';
import type { RunEvent, RunView, StreamRecord } from '@chute/schemas';
import { BrokerControl, createTestDatabase, Platform, ServiceProcess, uniqueName, waitFor, WaitTimeoutError } from '@chute/testing';
import { openAudit, readAll } from '../support/audit';

const CYCLES = Number(process.env['CHUTE_FAULT_CYCLES'] ?? 5);
const RUNS_PER_SECOND = 15;
const CHUNKS = 10;
const KINDS = ['projector', 'scheduler', 'worker', 'gateway'] as const;

interface Seen {
  /** Chunk positions per attempt, in arrival order. */
  readonly attempts: Map<number, number[]>;
  /** Attempts announced by an `attempt` message, in arrival order. */
  readonly announced: number[];
  /** A retry's chunks arrived with no announcement before them. */
  unannounced?: boolean;
  end?: string;
}

/**
 * A browser-like subscriber: WebSocket from the start of the stream, resuming
 * after the last chunk it got whenever the connection drops, until the end.
 */
async function subscribe(gatewayUrl: string, runId: string, seen: Seen, deadline: number): Promise<void> {
  let after: string | undefined;
  while (seen.end === undefined && Date.now() < deadline) {
    const url = new URL(`/api/v1/runs/${runId}/stream`, gatewayUrl);
    url.protocol = 'ws:';
    if (after) url.searchParams.set('after', after);
    else url.searchParams.set('from', 'start');
    await new Promise<void>((resolve) => {
      const ws = new WebSocket(url);
      ws.on('message', (data) => {
        const m = JSON.parse(String(data)) as { type: string; seq: number; attempt: number; status: string };
        if (m.type === 'end') seen.end = m.status;
        else if (m.type === 'attempt') seen.announced.push(m.attempt);
        else {
          // A retry's first chunk comes after its announcement (or, resumed mid-retry, after the ones before).
          if (!seen.attempts.has(m.attempt) && m.attempt > 1 && !seen.announced.includes(m.attempt)) seen.unannounced = true;
          const list = seen.attempts.get(m.attempt) ?? [];
          seen.attempts.set(m.attempt, list);
          list.push(m.seq);
          after = m.attempt === 1 ? String(m.seq) : `${m.attempt}:${m.seq}`;
        }
      });
      ws.on('close', () => resolve());
      ws.on('error', () => resolve());
    });
    if (seen.end === undefined) await sleep(250);
  }
}

describe(`crashes under load: ${CYCLES} cycles of kill -9 of every service, and a broker restart`, () => {
  const broker = BrokerControl.ofThisCheckout();
  let platform: Platform;
  let gatewayPort: string;

  before(async () => {
    await broker.ensureRunning();
    platform = await Platform.start({
      workers: 1,
      env: { CHUTE_HEARTBEAT_INTERVAL_MS: '500', CHUTE_HEARTBEAT_TIMEOUT_MS: '4000' },
      // One of each at a time, restarted under the same name (as a pod's container is): static members.
      serviceEnv: { scheduler: { CHUTE_INSTANCE_ID: 'scheduler-0' }, projector: { CHUTE_INSTANCE_ID: 'projector-0' } },
    });
    gatewayPort = new URL(platform.gatewayUrl).port;
  });

  after(async () => {
    await broker.ensureRunning();
    await platform?.stop();
  });

  /** Milliseconds from each kill to its replacement answering /readyz with 200, by kind. */
  const readyAfter = new Map<string, number[]>(KINDS.map((k) => [k, []]));

  /** Kills the live process of this kind, checks it died, starts a new one in its place and waits until it is ready. */
  async function crashAndRestart(kind: (typeof KINDS)[number]): Promise<void> {
    const victim = platform.processes.filter((p) => p.name === kind).at(-1)!;
    await victim.kill();
    const killedAt = Date.now();
    assert.throws(() => process.kill(victim.pid, 0), { code: 'ESRCH' }, `${kind} (pid ${victim.pid}) is dead`);
    platform.processes.splice(platform.processes.indexOf(victim), 1);
    const replacement =
      kind === 'worker'
        ? await platform.startWorker(uniqueName('worker'))
        : // The gateway comes back on the same port: that is where its clients reconnect.
          await platform.startService(kind, kind === 'gateway' ? { CHUTE_GATEWAY_PORT: gatewayPort } : {});
    const probes = kind === 'gateway' ? Platform.addressOf(replacement) : Platform.probesOf(replacement);
    await waitFor(async () => (await fetch(`${probes}/readyz`).catch(() => undefined))?.status === 200, {
      timeoutMs: 60_000,
      intervalMs: 100,
      message: `the new ${kind} to be ready`,
    });
    readyAfter.get(kind)!.push(Date.now() - killedAt);
  }

  test('nothing accepted is lost or stuck, no stream has a hole, and the read model equals a rebuild', async () => {
    const accepted: string[] = [];
    const seen = new Map<string, Seen>();
    const subscribers: Promise<void>[] = [];
    let refused = 0;
    let loading = true;
    const load = (async () => {
      while (loading) {
        const tick = sleep(1000 / RUNS_PER_SECOND);
        try {
          const response = await fetch(`${platform.gatewayUrl}/api/v1/tasks/stream-ticks/runs`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ input: { count: CHUNKS, intervalMs: 50 } }),
            signal: AbortSignal.timeout(15_000),
          });
          if (response.status === 201) {
            const { runId } = (await response.json()) as { runId: string };
            accepted.push(runId);
            const s: Seen = { attempts: new Map(), announced: [] };
            seen.set(runId, s);
            subscribers.push(subscribe(platform.gatewayUrl, runId, s, Date.now() + 180_000));
          } else refused++;
        } catch {
          refused++; // the gateway is down, or the broker did not take the run in time
        }
        await tick;
      }
    })();

    for (let cycle = 0; cycle < CYCLES; cycle++) {
      for (const kind of KINDS) {
        await sleep(1500);
        await crashAndRestart(kind);
      }
      await sleep(1500);
      await broker.stop();
      await sleep(3000);
      await broker.start();
    }
    await sleep(2000);
    loading = false;
    await load;

    // Every accepted run ends within 60 s of the load stopping.
    const results = new Map<string, RunView>();
    const settleBy = Date.now() + 60_000;
    await Promise.all(
      accepted.map(async (id) => {
        while (Date.now() < settleBy) {
          const response = await fetch(`${platform.gatewayUrl}/api/v1/runs/${id}/result?timeoutMs=5000`).catch(() => undefined);
          if (response?.status === 200) return void results.set(id, (await response.json()) as RunView);
          if (!response) await sleep(500);
          else await response.arrayBuffer();
        }
      }),
    );
    const stuck = accepted.filter((id) => !results.has(id));
    const completed = accepted.filter((id) => results.get(id)?.status === 'COMPLETED');
    await Promise.all(subscribers);

    // The log: every accepted run requested, every completed run's final attempt streamed whole.
    const audit = await openAudit(platform.env);
    let lost: string[];
    let holes: string[];
    try {
      const requested = new Set((await readAll<RunEvent>(audit, audit.topics.runEvents)).filter((e) => e.type === 'RunRequested').map((e) => e.runId));
      lost = accepted.filter((id) => !requested.has(id));
      const byRun = new Map<string, Map<number, number[]>>();
      for (const c of await readAll<StreamRecord>(audit, audit.topics.stream)) {
        if (c.type !== 'StreamChunk') continue;
        const attempts = byRun.get(c.runId) ?? new Map<number, number[]>();
        byRun.set(c.runId, attempts);
        attempts.set(c.attempt, [...(attempts.get(c.attempt) ?? []), c.seq]);
      }
      const whole = Array.from({ length: CHUNKS }, (_, i) => i).join();
      holes = completed.filter((id) => byRun.get(id)?.get(results.get(id)!.attempt)?.join() !== whole);
    } finally {
      await audit.stop();
    }

    // What subscribers saw: within each attempt, 0, 1, 2, ... with no gap and no repeat.
    const badSubscribers = [...seen].filter(([, s]) => [...s.attempts.values()].some((seqs) => seqs.some((seq, i) => seq !== i)));
    const unannouncedRetries = [...seen].filter(([, s]) => s.unannounced).length;

    // The read model, rebuilt from offset 0 by a fresh projector, equals the live one.
    const live = createDb({ url: platform.env['CHUTE_DATABASE_URL']! });
    const fresh = await createTestDatabase();
    const rebuilt = createDb({ url: fresh.url });
    let equal = false;
    let firstDifference: unknown;
    const projector = ServiceProcess.start('projector', {
      ...platform.env,
      CHUTE_DATABASE_URL: fresh.url,
      CHUTE_PROJECTOR_GROUP: `${platform.env['CHUTE_TOPIC_PREFIX']}.rebuild`,
    });
    try {
      // Started: its read model is migrated, so both can be queried.
      await projector.waitForLog('started');
      const rows = (db: typeof live) => db.selectFrom('runs').selectAll().orderBy('id').execute();
      await waitFor(
        async () => {
          const [a, b] = await Promise.all([rows(live), rows(rebuilt)]);
          equal = JSON.stringify(a) === JSON.stringify(b);
          if (!equal) {
            const i = a.findIndex((row, k) => JSON.stringify(row) !== JSON.stringify(b[k]));
            firstDifference = { liveRows: a.length, rebuiltRows: b.length, live: a[i], rebuilt: b[i] };
          }
          return equal;
        },
        { timeoutMs: 90_000, intervalMs: 1000, message: 'the rebuilt read model to equal the live one' },
      ).catch((error: unknown) => {
        // A timeout is reported below with the first difference; anything else is a failure of its own.
        if (!(error instanceof WaitTimeoutError)) throw error;
      });
    } finally {
      await projector.stop();
      await Promise.all([live.destroy(), rebuilt.destroy()]);
      await fresh.drop();
    }

    const report = {
      cycles: CYCLES,
      accepted: accepted.length,
      refused,
      completed: completed.length,
      stuckAfter60s: stuck.length,
      acceptedLost: lost.length,
      completedWithMissingChunk: holes.length,
      subscribersWithGapOrDuplicate: badSubscribers.length,
      retriesWithoutMarker: unannouncedRetries,
      retriedRuns: completed.filter((id) => results.get(id)!.attempt > 1).length,
      readModelEqualsRebuild: equal,
      // The scheduler and projector restart as static members (CHUTE_INSTANCE_ID): no wait for the session timeout.
      readyAfterKillMs: Object.fromEntries([...readyAfter].map(([k, ms]) => [k, { min: Math.min(...ms), max: Math.max(...ms) }])),
    };
    process.stdout.write(`# fault report: ${JSON.stringify(report)}\n`);
    assert.ok(accepted.length > CYCLES * 20, `load was applied (${accepted.length} runs accepted)`);
    assert.deepEqual(stuck, [], 'no run is stuck 60 s after the load');
    assert.deepEqual(lost, [], 'no accepted run is missing from the log');
    assert.deepEqual(holes, [], 'no completed run misses a chunk of its final attempt');
    assert.deepEqual(badSubscribers.map(([id, s]) => [id, Object.fromEntries(s.attempts)]), [], 'no subscriber saw a gap or a duplicate');
    assert.equal(unannouncedRetries, 0, 'every retry a subscriber saw was announced before its chunks');
    assert.equal(completed.length, accepted.length, 'every accepted run completed');
    assert.ok(equal, `the read model equals the rebuild; first difference: ${JSON.stringify(firstDifference)}`);
  });
});
