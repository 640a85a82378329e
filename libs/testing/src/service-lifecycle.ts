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
    // Several instances of a service share the machine: probes on free ports.
    CHUTE_PROBE_PORT: '0',
    ...extra,
  };
}

export interface BadConfig {
  variable: string;
  value: string;
  /** What the one line on stderr must say after the variable's name. */
  message: RegExp;
}

/** The malformed settings every log-backed service must refuse. */
export const BAD_BROKERS: BadConfig = { variable: 'CHUTE_KAFKA_BROKERS', value: 'not a broker', message: /each broker must be host:port/ };
export const BAD_DATABASE: BadConfig = { variable: 'CHUTE_DATABASE_URL', value: 'mysql://nope', message: /must be a postgres:\/\/ URL/ };

/**
 * What every deployable must do: start against the real broker and database,
 * log each lifecycle step, stop cleanly on SIGTERM, and refuse bad
 * configuration with one clear line and exit code 1.
 */
export function serviceLifecycleSuite(
  name: string,
  options: { badConfig: readonly BadConfig[]; extraEnv?: () => Record<string, string> },
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

    for (const bad of options.badConfig) {
      test(`a malformed ${bad.variable} stops it at start with one clear line and exit code 1`, async () => {
        const service = ServiceProcess.start(name, serviceTestEnv({ ...extraEnv(), [bad.variable]: bad.value }));
        assert.equal(await service.waitForExit(), 1);
        const lines = service.stderr.trim().split('\n');
        assert.equal(lines.length, 1, service.stderr);
        assert.ok(lines[0]!.startsWith(`chute-${name}: invalid configuration: ${bad.variable}: `), lines[0]);
        assert.match(lines[0]!, bad.message);
      });
    }
  });
}
