// Benchmark: how long a scheduler takes to own run-events partitions whose
// history holds a million finished runs, without a checkpoint (it reads every
// record from offset 0) and from a checkpoint (it loads the live runs and
// reads on from the checkpoint's offset). The history is written straight to
// the real broker, four events a run, plus some runs still waiting.
import { randomUUID } from 'node:crypto';
import { KafkaLog, openPlatformTopics } from '@chute/log';
import { Metrics, silentLogger } from '@chute/runtime';
import type { RunEvent } from '@chute/schemas';
import { requireEnv, ServiceProcess, uniqueName, waitFor } from '@chute/testing';
import type { BenchParams } from './params';
import type { Results } from './results';
import { report } from './stats';

const LIVE = 1000;
const BATCH_RUNS = 2500;

/** Four events of one run that completed, as the services write them. */
function finishedRun(at: number): RunEvent[] {
  const runId = randomUUID();
  const base = { v: 1 as const, runId, tenant: 'default' };
  return [
    { ...base, type: 'RunRequested', at, task: 'noop', input: null, retries: 0, executionTimeoutMs: 300_000 },
    { ...base, type: 'RunDispatched', at, task: 'noop', input: null, attempt: 1, workerId: 'bench-worker-00000000', deadlineAt: at + 300_000, retriesLeft: 0, retryDelayMs: 1000 },
    { ...base, type: 'RunStarted', at, attempt: 1, workerId: 'bench-worker-00000000' },
    { ...base, type: 'RunCompleted', at, attempt: 1, output: null },
  ];
}

/** Spawns a scheduler and resolves with the seconds until it has caught up with what it owns. */
async function timeToCatchUp(env: Record<string, string>): Promise<{ seconds: number; scheduler: ServiceProcess }> {
  const started = performance.now();
  const scheduler = ServiceProcess.start('scheduler', env);
  await waitFor(() => scheduler.hasLogged('caught up'), { timeoutMs: 30 * 60_000, intervalMs: 50, message: 'the scheduler to catch up' });
  return { seconds: (performance.now() - started) / 1000, scheduler };
}

export async function takeoverBench(results: Results, params: BenchParams): Promise<void> {
  const FINISHED = params.takeoverRuns;
  const env: Record<string, string> = {
    CHUTE_KAFKA_BROKERS: requireEnv('CHUTE_KAFKA_BROKERS'),
    CHUTE_TOPIC_PREFIX: uniqueName('bench-takeover'),
    CHUTE_PROBE_PORT: '0',
    CHUTE_LOG_LEVEL: 'info',
    // A checkpoint after every 5,000 records (the default), or sooner on a small history, so a small run does not wait a minute for one.
    CHUTE_SCHEDULER_CHECKPOINT_RECORDS: String(Math.max(1, Math.min(5000, Math.floor((FINISHED * 4) / 6 / 2)))),
  };
  const log = new KafkaLog({ brokers: env['CHUTE_KAFKA_BROKERS']!.split(','), clientId: 'bench-takeover', logger: silentLogger });
  await log.start();
  try {
    const topics = await openPlatformTopics(
      log,
      { prefix: env['CHUTE_TOPIC_PREFIX']!, runEventsPartitions: 6, streamPartitions: 6, workerEventsPartitions: 1 },
      { logger: silentLogger, metrics: new Metrics() },
    );
    const writing = performance.now();
    const at = Date.now();
    for (let done = 0; done < FINISHED; done += BATCH_RUNS) {
      const events = Array.from({ length: Math.min(BATCH_RUNS, FINISHED - done) }, () => finishedRun(at)).flat();
      // Serialized by hand: the services' records, without validating a million of them again.
      await log.append(topics.runEvents.name, events.map((e) => ({ key: e.runId, value: JSON.stringify(e) })));
    }
    await topics.runEvents.append(
      Array.from({ length: LIVE }, (): RunEvent => ({ v: 1, tenant: 'default', type: 'RunRequested', runId: randomUUID(), at, task: 'nobody-serves-this', input: null, retries: 0, executionTimeoutMs: 300_000 })),
    );
    const records = (await log.endOffsets(topics.runEvents.name)).reduce((n, p) => n + p.offset, 0);
    report('takeover: history written', `${FINISHED.toLocaleString('en')} finished runs + ${LIVE} waiting, ${records.toLocaleString('en')} records in ${((performance.now() - writing) / 1000).toFixed(1)} s`);

    const cold = await timeToCatchUp(env);
    results.value('chute.takeover.cold', 'chute', `scheduler takeover of ${FINISHED.toLocaleString('en')} finished runs with no checkpoint (reads from offset 0)`, cold.seconds, 's');
    report('takeover: start with no checkpoint (reads from offset 0)', `${cold.seconds.toFixed(2)} s to catch up`);
    await waitFor(() => new Set(cold.scheduler.lines.filter((l) => l.msg === 'checkpoint written').map((l) => l['partition'])).size === 6, {
      timeoutMs: 120_000,
      message: 'a checkpoint of every partition',
    });
    await cold.scheduler.stop('SIGTERM');

    const warm = await timeToCatchUp(env);
    const assigned = warm.scheduler.lines.find((l) => l.msg === 'partitions assigned');
    results.value('chute.takeover.warm', 'chute', `scheduler takeover of the same history from its checkpoints`, warm.seconds, 's');
    report(
      'takeover: start from the checkpoints',
      `${warm.seconds.toFixed(2)} s to catch up, ${String(assigned?.['checkpointRuns'])} live runs loaded from checkpoints (history: ${records.toLocaleString('en')} records)`,
    );
    await warm.scheduler.stop('SIGTERM');
  } finally {
    await log.stop();
  }
}
