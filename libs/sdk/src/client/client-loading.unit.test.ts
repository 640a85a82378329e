import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';

// The client is for apps that only trigger and read runs (a web backend, the
// demo app): importing it, or creating a worker over the gateway, must not load
// kafkajs, and so cannot touch an app's own copy of it.

/** Runs `code` in a fresh Node process with the SDK imported, and tells whether kafkajs got loaded. */
function loadsKafkajs(code: string): boolean {
  const index = path.join(__dirname, '..', 'index.ts');
  const script = `
    const sdk = require(${JSON.stringify(index)});
    (async () => {
      ${code}
      const loaded = Object.keys(require.cache).some((file) => file.includes('/node_modules/kafkajs/'));
      process.stdout.write(JSON.stringify({ loaded }));
      process.exit(0);
    })();`;
  const { CHUTE_KAFKA_BROKERS: _brokers, CHUTE_WORKER_TRANSPORT: _transport, ...env } = process.env;
  const output = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8', env });
  return (JSON.parse(output) as { loaded: boolean }).loaded;
}

test('importing the client loads no kafkajs', () => {
  assert.equal(loadsKafkajs(''), false);
});

test('a worker over the gateway loads no kafkajs; a worker on the log does', () => {
  const define = `const chute = sdk.Chute.init({ gatewayUrl: 'http://127.0.0.1:9', brokers: '127.0.0.1:9' });
    const task = chute.task({ name: 't', fn: () => null });`;
  assert.equal(loadsKafkajs(`${define} await chute.worker('w', { workflows: [task], transport: 'gateway', handleKill: false });`), false);
  assert.equal(loadsKafkajs(`${define} await chute.worker('w', { workflows: [task], transport: 'kafka', handleKill: false });`), true, 'the check itself sees kafkajs when it is loaded');
});
