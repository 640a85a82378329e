// Two schedulers and a run that retries: the shared set-up of the scheduler
// takeover and zombie fault suites.
import assert from 'node:assert/strict';
import { waitFor, type Platform, type ServiceProcess } from '@chute/testing';
import type { Audit } from './audit';

/** The run-events partitions a scheduler was given at its latest assignment. */
export const latestPartitions = (scheduler: ServiceProcess): number[] =>
  (scheduler.lines.filter((l) => l.msg === 'partitions assigned').at(-1)?.['partitions'] as number[] | undefined) ?? [];

/** The platform's scheduler and a second one, once the two have split the six run-events partitions. */
export async function twoSchedulers(platform: Platform): Promise<ServiceProcess[]> {
  const schedulers = [platform.processes.find((p) => p.name === 'scheduler')!, await platform.startService('scheduler')];
  await waitFor(() => schedulers.every((s) => latestPartitions(s).length > 0) && schedulers.flatMap(latestPartitions).length === 6, {
    timeoutMs: 60_000,
    message: 'the two schedulers to split the partitions',
  });
  return schedulers;
}

/**
 * Triggers the worker's `flaky` task to fail its first `failures` attempts,
 * with as many retries: the back-off before the last attempt is
 * `retryDelayMs(failures)` (500 ms doubling).
 */
export async function triggerFlaky(gatewayUrl: string, failures: number): Promise<string> {
  const response = await fetch(`${gatewayUrl}/api/v1/tasks/flaky/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input: { failures }, retries: failures }),
  });
  assert.equal(response.status, 201);
  return ((await response.json()) as { runId: string }).runId;
}

/** The scheduler that owns the run's partition now, the other one, and the partition. */
export async function ownerOf(audit: Audit, schedulers: readonly ServiceProcess[], runId: string): Promise<{ owner: ServiceProcess; other: ServiceProcess; partition: number }> {
  const partition = await audit.log.partitionOf(audit.topics.runEvents.name, runId);
  const owner = schedulers.find((s) => latestPartitions(s).includes(partition))!;
  return { owner, other: schedulers.find((s) => s !== owner)!, partition };
}
