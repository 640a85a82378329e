import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceProcess } from './service-process';
import { requireEnv, uniqueName } from './env';

/** The environment a service under test gets: the real broker and database, its own topics. */
export function serviceTestEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    CHUTE_KAFKA_BROKERS: requireEnv('CHUTE_KAFKA_BROKERS'),
    CHUTE_DATABASE_URL: requireEnv('CHUTE_DATABASE_URL'),
    CHUTE_TOPIC_PREFIX: uniqueName('e2e'),
    ...extra,
  };
}

/**
 * What every deployable must do: start against the real broker and database,
 * log each lifecycle step, stop cleanly on SIGTERM, and refuse bad
 * configuration with one clear line and exit code 1.
 */
export function serviceLifecycleSuite(
  name: string,
  options: { usesDatabase: boolean; extraEnv?: () => Record<string, string> },
): void {
  const extraEnv = options.extraEnv ?? (() => ({}));
  describe(`${name} service process`, () => {
    test('starts, then stops on SIGTERM with exit code 0, logging each step', async () => {
      const service = ServiceProcess.start(name, serviceTestEnv(extraEnv()));
      try {
        await service.waitForLog('started');
      } catch (error) {
        await service.stop('SIGKILL');
        throw error;
      }
      const code = await service.stop('SIGTERM');
      assert.equal(code, 0, service.stderr);
      const steps = service.lines.map((l) => l.msg);
      for (const step of ['starting', 'started', 'stopping', 'stopped']) assert.ok(steps.includes(step), `logged "${step}"`);
      assert.ok(service.lines.every((l) => l['service'] === name), 'every line names the service');
    });

    test('a malformed broker list stops it at start with one clear line and exit code 1', async () => {
      const service = ServiceProcess.start(name, serviceTestEnv({ ...extraEnv(), CHUTE_KAFKA_BROKERS: 'not a broker' }));
      assert.equal(await service.waitForExit(), 1);
      const lines = service.stderr.trim().split('\n');
      assert.equal(lines.length, 1, service.stderr);
      assert.match(lines[0]!, new RegExp(`^chute-${name}: invalid configuration: CHUTE_KAFKA_BROKERS: `));
    });

    if (!options.usesDatabase) return;

    test('a malformed database URL stops it at start with one clear line and exit code 1', async () => {
      const service = ServiceProcess.start(name, serviceTestEnv({ ...extraEnv(), CHUTE_DATABASE_URL: 'mysql://nope' }));
      assert.equal(await service.waitForExit(), 1);
      const lines = service.stderr.trim().split('\n');
      assert.equal(lines.length, 1, service.stderr);
      assert.match(lines[0]!, /invalid configuration: CHUTE_DATABASE_URL: must be a postgres:\/\/ URL/);
    });
  });
}
