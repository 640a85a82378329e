// A zombie scheduler: the one that owns a run is frozen (SIGSTOP to its
// process group) during the run's retry back-off, for longer than its group
// session, so the other scheduler takes its partitions over and dispatches the
// retry. Then it is let run again just after the retry was due: its timers fire
// before it hears from the group, and it plans the same retry from what it
// knew. Its claim on the partition was fenced by the survivor's, so that
// append fails, and the retry is dispatched and run once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunEvent } from '@chute/schemas';
import { Platform, waitFor, type ServiceProcess } from '@chute/testing';
import { openAudit, type Audit } from '../support/audit';
import { latestPartitions, ownerOf, triggerFlaky, twoSchedulers } from '../support/schedulers';

/** kafkajs drops a silent member after the session timeout (libs/log's default). */
const SESSION_TIMEOUT_MS = 10_000;

/** What a scheduler logs when an append of its is refused because another claimed the partition. */
const FENCED = 'another scheduler claimed a partition of ours; claiming it back if we still own it';

describe('a scheduler frozen past its session wakes up fenced', () => {
  let platform: Platform;
  let schedulers: ServiceProcess[];
  let audit: Audit;
  const events: RunEvent[] = [];

  before(async () => {
    // Workers stay live in the frozen scheduler's view (their heartbeats are minutes
    // old when it wakes), so it does find the retry dispatchable.
    platform = await Platform.start({ workers: 1, serviceEnv: { scheduler: { CHUTE_HEARTBEAT_TIMEOUT_MS: '300000' } } });
    schedulers = await twoSchedulers(platform);
    audit = await openAudit(platform.env);
    await audit.topics.runEvents.tail((batch) => void events.push(...batch.map((d) => d.value)));
  });

  after(async () => {
    for (const s of schedulers ?? []) if (s.running) await s.thaw().catch(() => undefined);
    await audit?.stop();
    await platform?.stop();
  });

  test('what the zombie plans on waking is refused: the retry is dispatched once, by the new owner', async () => {
    // Attempts 1-6 fail; the back-off before attempt 7 is 16 s.
    const runId = await triggerFlaky(platform.gatewayUrl, 6);
    const { owner, other: survivor, partition } = await ownerOf(audit, schedulers, runId);
    const ofRun = () => events.filter((e) => e.runId === runId);

    let retryAt = 0;
    await waitFor(
      () => {
        const failed = ofRun().find((e) => e.type === 'RunFailed' && e.attempt === 6);
        if (failed?.type === 'RunFailed' && failed.retry.willRetry) retryAt = failed.retry.retryAt;
        return retryAt > 0;
      },
      { timeoutMs: 90_000, message: 'the sixth attempt to fail' },
    );
    // The owner has folded the failure (it appends nothing for it; give it a tick) and knows the retry is due at retryAt.
    await sleep(500);
    await owner.freeze();
    const frozenAt = Date.now();
    assert.ok(frozenAt + SESSION_TIMEOUT_MS < retryAt, `frozen early enough in the back-off for the takeover (${retryAt - frozenAt} ms before the retry)`);

    await waitFor(() => latestPartitions(survivor).includes(partition) && survivor.hasLogged('caught up'), {
      timeoutMs: retryAt - Date.now(),
      message: 'the survivor to take the partition over before the retry is due',
    });
    await waitFor(() => ofRun().some((e) => e.type === 'RunDispatched' && e.attempt === 7), { timeoutMs: 30_000, message: 'the survivor to dispatch the retry' });
    assert.ok(!owner.hasLogged(FENCED));

    await owner.thaw();
    await waitFor(() => ofRun().some((e) => e.type === 'RunCompleted'), { timeoutMs: 30_000, message: 'the run to complete' });
    // Room for the zombie's tick, and for anything it might get onto the log.
    await sleep(3000);

    const retries = ofRun().filter((e) => e.type === 'RunDispatched' && e.attempt === 7);
    assert.equal(retries.length, 1, `the retry is dispatched exactly once (${JSON.stringify(retries)})`);
    // Proof that the zombie did plan the retry and try to append it: the broker fenced it.
    assert.ok(owner.hasLogged(FENCED), 'the woken scheduler tried to append what it planned, and was fenced');
    assert.ok(!ofRun().some((e) => e.type === 'RunDispatched' && e.attempt > 7), 'no further attempt');
    assert.equal(ofRun().filter((e) => e.type === 'RunStarted' && e.attempt === 7).length, 1, 'the retry ran once');
    const completed = ofRun().find((e) => e.type === 'RunCompleted');
    assert.deepEqual(completed?.type === 'RunCompleted' && completed.output, { attempt: 7 });
    assert.ok(owner.running, 'the woken scheduler lives on');
    await waitFor(() => owner.hasLogged('partitions assigned') && latestPartitions(owner).length > 0 && schedulers.flatMap(latestPartitions).length === 6, {
      timeoutMs: 60_000,
      message: 'the woken scheduler to rejoin the group and get partitions again',
    });
    process.stdout.write(`# zombie: frozen ${retryAt - frozenAt} ms before the retry was due; the survivor dispatched it ${retries[0]!.at - retryAt} ms after\n`);
  });
});
