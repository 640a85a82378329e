import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createTestDatabase, freePort, processAlive, ProgramProcess, repoRoot, requireEnv, uniqueName, waitFor, type TestDatabase } from '@chute/testing';

// `npx chute dev --kafka` (`npm start -- --kafka`): the platform as separate
// processes on the real broker and PostgreSQL that npm test runs (given through
// CHUTE_KAFKA_BROKERS / CHUTE_DATABASE_URL, so nothing is started or stopped
// here but the services), on topics and a database of its own.

const bin = path.join(__dirname, '..', 'bin', 'chute.cjs');
const SERVICES = ['projector', 'scheduler', 'gateway', 'worker', 'demo-app'];

/** Every process below `pid`, from /proc (Linux). */
function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      children.push(...readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
    }
  } catch {
    children = [];
  }
  return children.flatMap((child) => [child, ...descendants(child)]);
}

/** The service processes a `chute dev --kafka` started: name -> pid. */
function servicePids(dev: ProgramProcess): Map<string, number> {
  const found = new Map<string, number>();
  for (const pid of descendants(dev.pid)) {
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    const service = /dist\/services\/([a-z-]+)\/main\.js/.exec(cmdline)?.[1];
    if (service) found.set(service, pid);
  }
  return found;
}

/** Kills each of these process groups that is still there. */
function killGroups(pids: Iterable<number>): void {
  for (const pid of pids) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Whatever happened, no process of this test is left: chute's group, and each service's own group. */
async function stopAll(dev: ProgramProcess): Promise<void> {
  const pids = [...servicePids(dev).values()];
  await dev.stop('SIGKILL');
  killGroups(pids);
}

describe('chute dev --kafka: each service its own process on Kafka and PostgreSQL', () => {
  let database: TestDatabase;
  let env: Record<string, string>;

  before(async () => {
    requireEnv('CHUTE_KAFKA_BROKERS');
    database = await createTestDatabase();
    env = {
      CHUTE_DATABASE_URL: database.url,
      CHUTE_TOPIC_PREFIX: uniqueName('devkafka'),
      CHUTE_GATEWAY_PORT: String(await freePort()),
      CHUTE_DEMO_PORT: String(await freePort()),
      CHUTE_GATEWAY_URL: '',
      CHUTE_TOKEN: '',
      CHUTE_LOG_FORMAT: 'json',
    };
  });

  after(async () => {
    await database?.drop();
  });

  const start = async (): Promise<ProgramProcess> => {
    const dev = ProgramProcess.start(process.execPath, [bin, 'dev', '--kafka'], { cwd: repoRoot, env, label: 'chute dev --kafka' });
    await waitFor(
      () => {
        if (!dev.running) throw new Error(`chute dev --kafka exited: ${dev.stderr}\n${dev.stdout.slice(-3000)}`);
        return dev.stdout.includes('Ctrl-C stops it.');
      },
      { timeoutMs: 180_000, message: 'the banner' },
    );
    return dev;
  };

  test('starts every service with no warning, runs the seed task end to end, and Ctrl-C stops every process (exit 0)', async () => {
    const dev = await start();
    try {
      const pids = servicePids(dev);
      assert.deepEqual([...pids.keys()].sort(), [...SERVICES].sort(), 'one process per service');
      for (const service of SERVICES) assert.match(dev.stdout, new RegExp(`^\\[${service}\\] `, 'm'), `${service}'s lines carry its name`);
      const warnings = dev.stdout.split('\n').filter((line) => /"level":"(warn|error)"/.test(line));
      assert.deepEqual(warnings, [], 'a healthy start warns of nothing');
      assert.equal(dev.stderr, '');

      const run = ProgramProcess.start(process.execPath, [bin, 'run', 'stream-example', '--follow'], { cwd: repoRoot, env, label: 'chute run' });
      assert.equal(await run.exited, 0, run.stderr);
      assert.match(run.stdout, /^\nHappy families are all alike;/);
      assert.match(run.stderr, /COMPLETED/);

      assert.equal(await dev.stop('SIGINT', 60_000), 0, dev.stderr);
      for (const [service, pid] of pids) assert.equal(processAlive(pid), false, `${service} (pid ${pid}) is gone`);
    } finally {
      await stopAll(dev);
    }
  });

  test('if chute itself is killed (kill -9), its services stop by themselves rather than run on as orphans', async () => {
    const dev = await start();
    const pids = servicePids(dev);
    try {
      assert.equal(pids.size, SERVICES.length);
      await dev.stop('SIGKILL');
      assert.equal(processAlive(dev.pid), false, 'chute is dead');
      await waitFor(() => [...pids.values()].every((pid) => !processAlive(pid)), { timeoutMs: 30_000, message: 'every service to stop once chute is gone' });
    } finally {
      killGroups(pids.values());
    }
  });

  test('a service that dies ends the platform: one line names it, the others are stopped, exit code 1', async () => {
    const dev = await start();
    try {
      const pids = servicePids(dev);
      const worker = pids.get('worker')!;
      process.kill(-worker, 'SIGKILL');
      await waitFor(() => !processAlive(worker), { message: 'the killed worker to be gone' });
      assert.equal(await dev.exited, 1);
      assert.match(dev.stderr, /^chute: worker exited \(SIGKILL\); stopping the others$/m);
      for (const [service, pid] of pids) assert.equal(processAlive(pid), false, `${service} (pid ${pid}) is gone`);
    } finally {
      await stopAll(dev);
    }
  });
});
