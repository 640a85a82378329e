import { randomUUID } from 'node:crypto';

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
