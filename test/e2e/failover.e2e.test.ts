import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createDb } from '@chute/db';
import { Chute } from '@chute/sdk';
import { createTestDatabase, Platform, ServiceProcess, waitFor } from '@chute/testing';

// Crashes and rebuilds: a worker killed mid-run, and the read model rebuilt from
// offset 0, across the services as separate processes.
describe('failover and rebuild', () => {
  let platform: Platform;
  let chute: Chute;

  before(async () => {
    platform = await Platform.start({
      workers: 1,
      env: { CHUTE_HEARTBEAT_INTERVAL_MS: '300', CHUTE_HEARTBEAT_TIMEOUT_MS: '3000' },
    });
    chute = Chute.init({ gatewayUrl: platform.gatewayUrl });
  });
  after(async () => {
    await platform?.stop();
  });

  test('kill -9 of a worker mid-run: the run completes on a second worker', async () => {
    const first = platform.processes.find((p) => p.name === 'worker')!;
    const sleeper = chute.task({ name: 'sleep', executionTimeout: '1h', fn: () => undefined });
    const ref = await sleeper.runNoWait({ ms: 3000 });
    await waitFor(async () => (await chute.runs.get(ref.runId).catch(() => undefined))?.status === 'RUNNING', {
      message: 'the run to start on the first worker',
    });
    assert.equal((await chute.runs.get(ref.runId)).workerId, Platform.workerIdOf(first));

    const second = await platform.startWorker('second-worker');
    assert.equal(await first.stop('SIGKILL'), null, 'killed, not exited');
    assert.deepEqual(await ref.output, { slept: 3000 });
    const run = await chute.runs.get(ref.runId);
    assert.equal(run.workerId, Platform.workerIdOf(second));
    assert.equal(run.attempt, 2);
    assert.equal(run.status, 'COMPLETED');
  });

  test('the read model rebuilt from offset 0 into an empty database equals the live one', async () => {
    const echo = chute.task({ name: 'echo', fn: (x: unknown) => x });
    const fail = chute.task({ name: 'fail', retries: 1, fn: () => undefined });
    await Promise.all([echo.run('a'), echo.run({ b: [1] }), fail.run(null).catch(() => undefined)]);

    const live = createDb({ url: platform.env['CHUTE_DATABASE_URL']! });
    const fresh = await createTestDatabase();
    const rebuilt = createDb({ url: fresh.url });
    const projector = ServiceProcess.start('projector', {
      ...platform.env,
      CHUTE_DATABASE_URL: fresh.url,
      CHUTE_PROJECTOR_GROUP: `${platform.env['CHUTE_TOPIC_PREFIX']}.rebuild`,
    });
    try {
      await projector.waitForLog('started');
      const checkpoints = (db: typeof live) =>
        db.selectFrom('projector_checkpoints').select(['topic', 'partition', 'offset']).where('projection', '=', 'runs').orderBy('partition').execute();
      await waitFor(async () => JSON.stringify(await checkpoints(rebuilt)) === JSON.stringify(await checkpoints(live)), {
        timeoutMs: 60_000,
        message: 'the rebuild to reach the live checkpoints',
      });
      const rows = (db: typeof live) => db.selectFrom('runs').selectAll().orderBy('id').execute();
      const [liveRows, rebuiltRows] = await Promise.all([rows(live), rows(rebuilt)]);
      assert.ok(liveRows.length >= 4);
      assert.deepEqual(rebuiltRows, liveRows);
    } finally {
      await projector.stop();
      await Promise.all([live.destroy(), rebuilt.destroy()]);
      await fresh.drop();
    }
  });
});
