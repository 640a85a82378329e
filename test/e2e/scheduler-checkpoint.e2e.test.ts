import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunEvent, RunView } from '@chute/schemas';
import { Platform, waitFor, type ServiceProcess } from '@chute/testing';
import { openAudit, readAll, type Audit } from '../support/audit';
import { triggerRun } from '../support/gateway';

// A scheduler that takes partitions over starts from their checkpoints: it
// reads on from the checkpoint's offset, not from the first record, and keeps
// the live runs the checkpoint holds.

async function statusOf(gateway: string, runId: string): Promise<RunView> {
  return (await (await fetch(`${gateway}/api/v1/runs/${runId}`)).json()) as RunView;
}

/** The latest checkpoint each partition got from this scheduler, by partition. */
const checkpointed = (scheduler: ServiceProcess): Map<number, number> =>
  new Map(scheduler.lines.filter((l) => l.msg === 'checkpoint written').map((l) => [Number(l['partition']), Number(l['offset'])]));

describe('scheduler checkpoints', () => {
  let platform: Platform;
  let audit: Audit;

  before(async () => {
    platform = await Platform.start({ workers: 1, env: { CHUTE_SCHEDULER_CHECKPOINT_MAX_AGE_MS: '300' } });
    audit = await openAudit(platform.env);
  });

  after(async () => {
    await audit?.stop();
    await platform?.stop();
  });

  test('a new scheduler reads on from the checkpoints, keeps their live runs, and runs nothing twice', async () => {
    const finished = await Promise.all(Array.from({ length: 60 }, () => triggerRun(platform.gatewayUrl, 'echo')));
    await waitFor(async () => (await Promise.all(finished.map((id) => statusOf(platform.gatewayUrl, id)))).every((r) => r.status === 'COMPLETED'), {
      message: 'the first runs to complete',
    });
    // No worker now: these wait, live, in the checkpoint.
    await platform.processes.find((p) => p.name === 'worker')!.stop('SIGTERM');
    const waiting = await Promise.all(Array.from({ length: 3 }, () => triggerRun(platform.gatewayUrl, 'echo')));

    const scheduler = platform.processes.find((p) => p.name === 'scheduler')!;
    const ends = new Map((await audit.log.endOffsets(audit.topics.runEvents.name)).map((p) => [p.partition, p.offset]));
    await waitFor(() => [...ends].every(([partition, end]) => end === 0 || checkpointed(scheduler).get(partition) === end), {
      message: 'every partition checkpointed at its end',
    });

    // kill() resolves only once the process and its whole group are gone.
    await scheduler.kill();
    const successor = await platform.startService('scheduler');
    await waitFor(() => successor.hasLogged('caught up'), { message: 'the new scheduler to catch up' });
    const assigned = successor.lines.find((l) => l.msg === 'partitions assigned')!;
    const from = assigned['from'] as Record<string, number>;
    for (const [partition, end] of ends) assert.equal(from[partition], end, `partition ${partition} is read from its checkpoint, not from 0`);
    assert.equal(assigned['checkpointRuns'], waiting.length, 'the live runs come from the checkpoints');

    await platform.startWorker('after-takeover');
    await waitFor(async () => (await Promise.all(waiting.map((id) => statusOf(platform.gatewayUrl, id)))).every((r) => r.status === 'COMPLETED'), {
      message: 'the waiting runs to complete under the new scheduler',
    });
    const events = await readAll<RunEvent>(audit, audit.topics.runEvents);
    const dispatches = new Map<string, number>();
    for (const e of events) if (e.type === 'RunDispatched') dispatches.set(e.runId, (dispatches.get(e.runId) ?? 0) + 1);
    for (const id of [...finished, ...waiting]) assert.equal(dispatches.get(id), 1, `run ${id} was dispatched once`);
  });
});
