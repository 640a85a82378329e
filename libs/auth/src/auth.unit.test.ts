import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { AuthError, AuthKeys, AuthKeysError, mintToken, requireScope, TokenVerifier, verifyToken } from './index';

const secretA = 'a'.repeat(32);
const secretB = 'b'.repeat(40);
const keys = AuthKeys.parse(`k2:${secretB},k1:${secretA}`);

const rejectsWith = (promise: Promise<unknown>, code: string) =>
  assert.rejects(promise, (error: unknown) => error instanceof AuthError && error.code === code);

describe('auth keys', () => {
  test('kid:secret entries, the first signs; a lone secret is key "default"', () => {
    assert.equal(keys.signing.kid, 'k2');
    assert.ok(keys.find('k1'));
    assert.equal(AuthKeys.parse(secretA).signing.kid, 'default');
  });

  test('a short secret, a duplicate key id or nothing at all is refused, naming the problem', () => {
    assert.throws(() => AuthKeys.parse('k1:short'), (e: unknown) => e instanceof AuthKeysError && /at least 32/.test(e.message));
    assert.throws(() => AuthKeys.parse(`k1:${secretA},k1:${secretB}`), /k1 is given twice/);
    assert.throws(() => AuthKeys.parse(' , '), /no key given/);
  });
});

describe('tokens', () => {
  test('a minted token verifies: tenant, scopes, subject, expiry', async () => {
    const now = Date.now();
    const token = await mintToken(keys, { tenant: 'acme', scopes: ['runs:write', 'runs:read'], ttlMs: 60_000, subject: 'ci', now });
    const principal = await verifyToken(keys, token);
    assert.equal(principal.tenant, 'acme');
    assert.equal(principal.subject, 'ci');
    assert.deepEqual([...principal.scopes], ['runs:write', 'runs:read']);
    assert.equal(principal.expiresAt, Math.floor((now + 60_000) / 1000) * 1000);
    assert.equal(principal.run, undefined);
  });

  test('a token signed by an older key still verifies while that key is configured (rotation)', async () => {
    const old = await mintToken(AuthKeys.parse(`k1:${secretA}`), { tenant: 'acme', scopes: ['runs:read'], ttlMs: 60_000 });
    assert.equal((await verifyToken(keys, old)).tenant, 'acme');
    await rejectsWith(verifyToken(AuthKeys.parse(`k2:${secretB}`), old), 'UNAUTHENTICATED');
  });

  test('expired is TOKEN_EXPIRED; tampered, garbage, unknown key or foreign claims are UNAUTHENTICATED', async () => {
    const token = await mintToken(keys, { tenant: 'acme', scopes: ['runs:read'], ttlMs: 1000, now: Date.now() - 10_000 });
    await rejectsWith(verifyToken(keys, token), 'TOKEN_EXPIRED');
    const good = await mintToken(keys, { tenant: 'acme', scopes: ['runs:read'], ttlMs: 60_000 });
    const [header, payload, signature] = good.split('.');
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), tenant: 'evil' })).toString('base64url');
    await rejectsWith(verifyToken(keys, `${header}.${forged}.${signature}`), 'UNAUTHENTICATED');
    await rejectsWith(verifyToken(keys, 'not-a-token'), 'UNAUTHENTICATED');
    const otherKey = await mintToken(AuthKeys.parse(`k9:${'z'.repeat(32)}`), { tenant: 'acme', scopes: ['runs:read'], ttlMs: 60_000 });
    await rejectsWith(verifyToken(keys, otherKey), 'UNAUTHENTICATED');
    // Signed with a configured key, but not a Chute token: no tenant, an unknown scope.
    const foreign = await new SignJWT({ scope: 'admin' })
      .setProtectedHeader({ alg: 'HS256', kid: 'k2' })
      .setIssuer('chute')
      .setAudience('chute-gateway')
      .setSubject('x')
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(new TextEncoder().encode(secretB));
    await assert.rejects(verifyToken(keys, foreign), (e: unknown) => e instanceof AuthError && e.code === 'UNAUTHENTICATED' && /claims/.test(e.message));
  });

  test('a run-scoped token carries its run; a missing scope is FORBIDDEN', async () => {
    const run = '6f1c3c1e-9d8a-4a55-9a57-3f4c2b1a0d01';
    const principal = await verifyToken(keys, await mintToken(keys, { tenant: 'acme', scopes: ['stream:read'], ttlMs: 60_000, run }));
    assert.equal(principal.run, run);
    requireScope(principal, 'stream:read');
    assert.throws(() => requireScope(principal, 'runs:write'), (e: unknown) => e instanceof AuthError && e.code === 'FORBIDDEN' && /runs:write/.test(e.message));
  });

});

describe('token verifier', () => {
  const keys = AuthKeys.parse(`k1:${'v'.repeat(32)}`);
  const code = (error: unknown) => (error instanceof AuthError ? error.code : String(error));

  test('a token that verified is answered from memory with the same principal, until it expires', async () => {
    const verifier = new TokenVerifier(keys);
    const now = Date.now();
    const token = await mintToken(keys, { tenant: 'acme', scopes: ['runs:read'], ttlMs: 5000, now });
    const first = await verifier.verify(token, now);
    assert.equal(await verifier.verify(token, now + 1000), first, 'the principal remembered, not verified again');
    await assert.rejects(verifier.verify(token, now + 6000), (e) => code(e) === 'TOKEN_EXPIRED');
    await assert.rejects(verifier.verify(token, now + 6000), (e) => code(e) === 'TOKEN_EXPIRED', 'and again: it is verified afresh');
  });

  test('a token altered after its genuine one verified is refused', async () => {
    const verifier = new TokenVerifier(keys);
    const token = await mintToken(keys, { tenant: 'acme', scopes: ['runs:read'], ttlMs: 60_000 });
    await verifier.verify(token);
    const [header, payload] = token.split('.');
    const forged = `${header}.${payload}.${'A'.repeat(43)}`;
    await assert.rejects(verifier.verify(forged), (e) => code(e) === 'UNAUTHENTICATED');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
    const widened = Buffer.from(JSON.stringify({ ...claims, scope: ['runs:read', 'runs:write'] })).toString('base64url');
    await assert.rejects(verifier.verify(`${header}.${widened}.${token.split('.')[2]}`), (e) => code(e) === 'UNAUTHENTICATED');
  });

  test('past its bound it forgets the least recently used token, which then verifies afresh', async () => {
    const verifier = new TokenVerifier(keys, 2);
    const tokens = await Promise.all([1, 2, 3].map((i) => mintToken(keys, { tenant: `t${i}`, scopes: ['runs:read'], ttlMs: 60_000 })));
    const first = await verifier.verify(tokens[0]!);
    await verifier.verify(tokens[1]!);
    await verifier.verify(tokens[2]!);
    const again = await verifier.verify(tokens[0]!);
    assert.notEqual(again, first, 'verified afresh: a new principal');
    assert.deepEqual(again, first, 'for the same claims');
  });
});
