import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { sqlStateOf } from './index';

describe('sqlStateOf', () => {
  test("pg's DatabaseError gives its SQLSTATE", () => {
    const error = new pg.DatabaseError('terminating connection due to administrator command', 0, 'error');
    error.code = '57P01';
    assert.equal(sqlStateOf(error), '57P01');
  });

  test('an error carrying a server ErrorResponse (severity and code), as PGlite throws it, gives its SQLSTATE', () => {
    const error = Object.assign(new Error('value out of range'), { severity: 'ERROR', code: '22003' });
    assert.equal(sqlStateOf(error), '22003');
  });

  test('anything the server did not send has none, even with a code that looks like one', () => {
    assert.equal(sqlStateOf(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), undefined);
    assert.equal(sqlStateOf(Object.assign(new Error('looks like data'), { code: '22003' })), undefined, 'no severity: not from a server');
    assert.equal(sqlStateOf(new TypeError('x is undefined')), undefined);
    assert.equal(sqlStateOf({ code: '22003', severity: 'ERROR' }), undefined, 'not an Error');
    assert.equal(sqlStateOf(undefined), undefined);
  });
});
