import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { installKafkajsPatches, PATCHED_KAFKAJS_VERSION, UnpatchedKafkajsError } from '.';
import { RequestQueue, scheduleRequestTimeoutCheck } from './request-queue';

describe('the kafkajs patches', () => {
  test('are written for the kafkajs installed here, and install', () => {
    assert.equal((require('kafkajs/package.json') as { version: string }).version, PATCHED_KAFKAJS_VERSION);
    installKafkajsPatches();
    installKafkajsPatches();
    assert.equal((RequestQueue.prototype as { scheduleRequestTimeoutCheck?: unknown }).scheduleRequestTimeoutCheck, scheduleRequestTimeoutCheck);
  });

  test('another kafkajs is refused with a message that says what to review', () => {
    const error = new UnpatchedKafkajsError('2.3.0');
    assert.match(error.message, /kafkajs 2\.3\.0 is installed; libs\/log\/src\/kafka\/kafkajs\/ patches 2\.2\.4/);
  });
});
