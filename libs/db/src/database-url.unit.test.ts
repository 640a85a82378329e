import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DatabaseUrl, requireDatabaseUrl } from './index';

describe('DatabaseUrl', () => {
  test('accepts postgres:// and postgresql:// URLs', () => {
    for (const url of ['postgres://postgres@127.0.0.1:5432/chute', 'postgresql://u:p@db.internal/chute?sslmode=require']) {
      assert.equal(DatabaseUrl.parse(url), url);
    }
  });

  test('refuses other schemes, non-URLs and URLs without a host, saying what is expected', () => {
    for (const bad of ['mysql://root@localhost/chute', 'localhost:5432/chute', 'postgres://', '', 42]) {
      const result = DatabaseUrl.safeParse(bad);
      assert.equal(result.success, false, `${String(bad)} should be refused`);
      assert.match(result.error?.issues[0]?.message ?? '', /must be a PostgreSQL URL: postgres:\/\//);
    }
  });
});

describe('requireDatabaseUrl', () => {
  test('fails, rather than skips, when CHUTE_DATABASE_URL is missing', () => {
    assert.throws(() => requireDatabaseUrl({}), /CHUTE_DATABASE_URL is not set: .*npm test/);
  });

  test('fails on a malformed CHUTE_DATABASE_URL', () => {
    assert.throws(() => requireDatabaseUrl({ CHUTE_DATABASE_URL: 'http://x' }), /CHUTE_DATABASE_URL must be a PostgreSQL URL/);
  });
});
