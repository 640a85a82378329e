import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { requireDatabaseUrl } from './database.test-support';

describe('requireDatabaseUrl', () => {
  test('fails, rather than skips, when CHUTE_DATABASE_URL is missing', () => {
    assert.throws(() => requireDatabaseUrl({}), /CHUTE_DATABASE_URL is not set: .*npm test/);
  });

  test('fails on a malformed CHUTE_DATABASE_URL, saying what is expected', () => {
    assert.throws(() => requireDatabaseUrl({ CHUTE_DATABASE_URL: 'http://x' }), /CHUTE_DATABASE_URL must be a postgres:\/\/ URL/);
  });

  test('returns a well-formed URL as it is', () => {
    const url = 'postgresql://u:p@db.internal/chute?sslmode=require';
    assert.equal(requireDatabaseUrl({ CHUTE_DATABASE_URL: url }), url);
  });
});
