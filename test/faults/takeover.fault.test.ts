// Scheduler takeover: the scheduler that owns a run is killed (SIGKILL to its
// process group) in the middle of the run's retry back-off. The other one
// takes its partitions over, and the retry still happens: not before it is
// due, once, and within the takeover bound.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunEvent } from '@chute/schemas';
import { Platform, waitFor, type ServiceProcess } from '@chute/testing';
import { openAudit, type Audit } from '../support/audit';
import { latestPartitions, ownerOf, triggerFlaky, twoSchedulers } from '../support/schedulers';

/** kafkajs drops a killed member after the session timeout (libs/log's default). */
const SESSION_TIMEOUT_MS = 10_000;
/** Room for the rebalance, reading the partitions again and one tick, on a busy 2-core machine. */
const TAKEOVER_SLACK_MS = 15_000;

describe('scheduler takeover in the middle of a retry back-off', () => {
  let platform: Platform;
  let schedulers: ServiceProcess[];
  let audit: Audit;
  const events: RunEvent[] = [];

  before(async () => {
    platform = await Platform.start({ workers: 1 });
    schedulers = await twoSchedulers(platform);
    audit = await openAudit(platform.env);
    await audit.topics.runEvents.tail((batch) => void events.push(...batch.map((d) => d.value)));
  });

  after(async () => {
    await audit?.stop();
    await platform?.stop();
  });

  test('the retry is dispatched once, not before it is due, within the session timeout plus catch-up', async () => {
    // Attempts 1-4 fail; the back-off before attempt 5 is 4 s (500 ms doubling).
    const runId = await triggerFlaky(platform.gatewayUrl, 4);
    const { owner, other: survivor, partition } = await ownerOf(audit, schedulers, runId);

    const ofRun = () => events.filter((e) => e.runId === runId);
    let failure: Extract<RunEvent, { type: 'RunFailed' }> | undefined;
    await waitFor(
      () => {
        const found = ofRun().find((e) => e.type === 'RunFailed' && e.attempt === 4);
        failure = found?.type === 'RunFailed' ? found : undefined;
        return failure !== undefined;
      },
      { timeoutMs: 60_000, message: 'the fourth attempt to fail' },
    );
    assert.ok(failure!.retry.willRetry);
    const retryAt = failure!.retry.retryAt;
    await owner.kill();
    const killedAt = Date.now();
    assert.ok(killedAt < retryAt, `the owner was killed during the back-off (${retryAt - killedAt} ms before the retry was due)`);

    await waitFor(() => ofRun().some((e) => e.type === 'RunCompleted'), {
      timeoutMs: SESSION_TIMEOUT_MS + TAKEOVER_SLACK_MS + 30_000,
      message: 'the run to complete after the takeover',
    });
    const retries = ofRun().filter((e) => e.type === 'RunDispatched' && e.attempt === 5);
    assert.equal(retries.length, 1, 'the retry is dispatched exactly once');
    const dispatchedAt = retries[0]!.at;
    assert.ok(dispatchedAt >= retryAt, `not before it was due (${dispatchedAt - retryAt} ms after)`);
    assert.ok(
      dispatchedAt <= killedAt + SESSION_TIMEOUT_MS + TAKEOVER_SLACK_MS,
      `within the takeover bound (${dispatchedAt - killedAt} ms after the kill)`,
    );
    assert.ok(latestPartitions(survivor).includes(partition), 'the survivor owns the run\'s partition now');
    assert.ok(!ofRun().some((e) => e.type === 'RunDispatched' && e.attempt > 5), 'no further attempt');
    const completed = ofRun().find((e) => e.type === 'RunCompleted');
    assert.deepEqual(completed?.type === 'RunCompleted' && completed.output, { attempt: 5 });
    process.stdout.write(`# takeover: retry dispatched ${dispatchedAt - killedAt} ms after the owner was killed (${dispatchedAt - retryAt} ms after it was due)\n`);
  });
});
