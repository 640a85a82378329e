import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { silentLogger } from '@chute/runtime';
import { processAlive, ProgramProcess, repoRoot, testBrokers, uniqueName, waitFor } from '@chute/testing';
import { KafkaLog } from '../kafka-log';

const fixture = path.join(__dirname, '..', 'fixtures', 'static-member.ts');
/** Long, so that a member that had to wait for its predecessor's session to expire could not pass. */
const SESSION_TIMEOUT_MS = 45_000;

describe('static membership (CHUTE_INSTANCE_ID): a killed member restarted under its id gets its partitions back at once', () => {
  test('after kill -9, the restarted process takes its predecessor partitions, with no rebalance of the others and no wait for the session timeout', async () => {
    const topic = uniqueName('static');
    const group = uniqueName('static-group');
    const other = new KafkaLog({ brokers: testBrokers(), clientId: uniqueName('dynamic'), logger: silentLogger, sessionTimeoutMs: SESSION_TIMEOUT_MS });
    await other.start();
    const member = (label: string) =>
      ProgramProcess.start(process.execPath, ['--import', 'tsx', fixture, testBrokers().join(','), topic, group, 'scheduler-0', String(SESSION_TIMEOUT_MS)], { cwd: repoRoot, label });
    let first: ProgramProcess | undefined;
    let second: ProgramProcess | undefined;
    try {
      await other.ensureTopics([{ name: topic, partitions: 4 }]);
      const othersAssignments: number[][] = [];
      await other.consume({ group, topics: [topic], handler: () => undefined, onAssigned: (a) => void othersAssignments.push(a.flatMap((t) => [...t.partitions]).sort()) });
      await waitFor(() => othersAssignments.length === 1, { timeoutMs: 30_000, message: 'the dynamic member to own the group' });

      first = member('static member');
      const lines = (p: ProgramProcess) => p.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as number[]);
      await waitFor(() => lines(first!).length > 0 && othersAssignments.length === 2, { timeoutMs: 30_000, message: 'the group to split between the two' });
      const held = lines(first).at(-1)!;
      assert.equal(held.length, 2, `the static member holds half: ${JSON.stringify(held)}`);
      assert.deepEqual([...held, ...othersAssignments[1]!].sort(), [0, 1, 2, 3]);

      // kill -9 its whole process group, and check that it died.
      process.kill(-first.pid, 'SIGKILL');
      await waitFor(() => !processAlive(first!.pid), { message: 'the killed member to be gone' });
      await first.exited;

      second = member('restarted static member');
      // Well within the 45 s session: a new (dynamic) member would have waited for the dead one to expire.
      await waitFor(() => lines(second!).length > 0, { timeoutMs: 20_000, message: "the restarted member to get its predecessor's partitions" });
      assert.deepEqual(lines(second)[0], held, "the same partitions as its predecessor's");
      assert.equal(othersAssignments.length, 2, 'the other member was not rebalanced');
    } finally {
      await first?.stop('SIGKILL');
      await second?.stop('SIGTERM', 15_000);
      await other.stop();
    }
  });
});
