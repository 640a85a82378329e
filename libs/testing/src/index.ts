import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Reads a variable that integration tests cannot run without. A missing one
 * fails the test with a message saying how to provide it: these suites never skip.
 */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: integration tests need a real broker and database. Run them through \`npm test\`, which starts both (npm run infra:up), or export ${name}.`,
    );
  }
  return value;
}

/** The real broker the integration tests run against. */
export function testBrokers(): string[] {
  return requireEnv('CHUTE_KAFKA_BROKERS').split(',');
}

/** A name no other test run uses, for topics, groups and databases. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/**
 * Polls until `check` returns true. The timeout is a bound on waiting, not a
 * performance assertion: it only turns a hang into a clear failure.
 */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  options: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  const interval = options.intervalMs ?? 20;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${options.message ?? 'condition not met'}`);
    await sleep(interval);
  }
}
