import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { AuthKeys, verifyToken } from '@chute/auth';

// `npx chute tokens create`, as a user runs it: the bin from the checkout.
const bin = path.join(__dirname, '..', 'bin', 'chute.cjs');
const secret = `k1:${'q'.repeat(40)}`;
const chute = (args: string[], env: Record<string, string> = { CHUTE_AUTH_SECRET: secret }) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', ...env } });

test('tokens create prints a token the gateway verifies, with the tenant, scopes and lifetime asked for', async () => {
  const run = chute(['tokens', 'create', '--tenant', 'acme', '--scope', 'runs:write', '--scope', 'runs:read', '--ttl', '2h']);
  assert.equal(run.status, 0, run.stderr);
  const lines = run.stdout.trim().split('\n');
  assert.equal(lines.length, 1, 'only the token on stdout');
  const principal = await verifyToken(AuthKeys.parse(secret), lines[0]!);
  assert.equal(principal.tenant, 'acme');
  assert.deepEqual([...principal.scopes], ['runs:write', 'runs:read']);
  const hours = (principal.expiresAt - Date.now()) / 3_600_000;
  assert.ok(hours > 1.9 && hours <= 2, `valid for ${hours} h`);
});

test('a mistake is one line on stderr naming it, and exit code 1', () => {
  for (const [args, env, message] of [
    [['tokens', 'create', '--tenant', 'acme', '--scope', 'admin'], undefined, /--scope: unknown scope "admin"/],
    [['tokens', 'create', '--tenant', 'Acme Corp', '--scope', 'runs:read'], undefined, /--tenant: must be/],
    [['tokens', 'create', '--tenant', 'acme', '--scope', 'runs:read', '--ttl', 'forever'], undefined, /--ttl: a lifetime must be a number and a unit/],
    [['tokens', 'create', '--tenant', 'acme', '--scope', 'runs:read'], {}, /CHUTE_AUTH_SECRET is not set/],
  ] as const) {
    const run = chute([...args], env);
    assert.equal(run.status, 1, `${args.join(' ')}: ${run.stderr}`);
    assert.equal(run.stdout, '');
    assert.match(run.stderr.trim(), message);
    assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
  }
});
