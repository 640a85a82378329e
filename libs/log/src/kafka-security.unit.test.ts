import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, LogEnv, parseEnv, silentLogger } from '@chute/runtime';
import { kafkaLogFromConfig } from './from-env';
import { kafkaSecurityConfig } from './kafka';
import { isKafkaAuthenticationError, KafkaAuthenticationError } from './kafka-errors';

// kafkajs's own error classes, as it throws them (its typings leave the SASL one out).
const errors = createRequire(__filename)('kafkajs/src/errors') as {
  KafkaJSSASLAuthenticationError: new (message: string) => Error;
  KafkaJSProtocolError: new (e: { message: string; type: string; code: number; retriable: boolean }) => Error;
  KafkaJSNumberOfRetriesExceeded: new (e: Error, options: { retryCount: number; retryTime: number }) => Error;
  KafkaJSConnectionError: new (message: string) => Error;
};

describe('kafkaSecurityConfig: TLS and SASL as kafkajs takes them', () => {
  test('nothing configured: neither ssl nor sasl', () => {
    assert.deepEqual(kafkaSecurityConfig({}), {});
  });

  test('TLS without files: ssl true (Node verifies against its bundled CAs)', () => {
    assert.deepEqual(kafkaSecurityConfig({ tls: true }), { ssl: true });
  });

  test('PEM contents and the server name go to ssl; only the fields given', () => {
    assert.deepEqual(kafkaSecurityConfig({ tls: { ca: 'CA', cert: 'CERT', key: 'KEY', servername: 'kafka.internal' } }), {
      ssl: { ca: 'CA', cert: 'CERT', key: 'KEY', servername: 'kafka.internal' },
    });
    assert.deepEqual(kafkaSecurityConfig({ tls: { ca: 'CA' } }), { ssl: { ca: 'CA' } });
  });

  test('SASL goes to sasl with the mechanism kafkajs names, and no extra fields', () => {
    assert.deepEqual(kafkaSecurityConfig({ sasl: { mechanism: 'scram-sha-256', username: 'u', password: 'p', settings: 'X' } }), {
      sasl: { mechanism: 'scram-sha-256', username: 'u', password: 'p' },
    });
  });

  test('kafkaLogFromConfig turns the environment into a log (a file it cannot read is a ConfigError)', () => {
    const ok = parseEnv(LogEnv, { CHUTE_KAFKA_SASL_MECHANISM: 'plain', CHUTE_KAFKA_SASL_USERNAME: 'u', CHUTE_KAFKA_SASL_PASSWORD: 'p' });
    assert.equal(kafkaLogFromConfig(ok, 'unit', silentLogger).kind, 'kafka');
    const missing = parseEnv(LogEnv, { CHUTE_KAFKA_TLS: 'true', CHUTE_KAFKA_TLS_CA_FILE: '/nonexistent/ca.pem' });
    assert.throws(() => kafkaLogFromConfig(missing, 'unit', silentLogger), ConfigError);
  });
});

describe('authentication errors', () => {
  test("kafkajs's SASL error, bare or wrapped in retries, is an authentication failure", () => {
    const sasl = new errors.KafkaJSSASLAuthenticationError('SASL SCRAM SHA256 authentication failed');
    assert.ok(isKafkaAuthenticationError(sasl));
    assert.ok(isKafkaAuthenticationError(new errors.KafkaJSNumberOfRetriesExceeded(sasl, { retryCount: 5, retryTime: 100 })));
    const protocol = new errors.KafkaJSProtocolError({ message: 'SASL Authentication failed', type: 'SASL_AUTHENTICATION_FAILED', code: 58, retriable: false });
    assert.ok(isKafkaAuthenticationError(protocol));
  });

  test('a connection refused is not one', () => {
    assert.ok(!isKafkaAuthenticationError(new errors.KafkaJSConnectionError('Connection error: connect ECONNREFUSED')));
  });

  test('the error is a ConfigError of one line naming the user, the mechanism and what to check, not the password', () => {
    const error = new KafkaAuthenticationError({ mechanism: 'scram-sha-256', username: 'chute' });
    assert.ok(error instanceof ConfigError);
    assert.equal(error.name, 'KafkaAuthenticationError');
    assert.equal(error.message, 'kafka: authentication failed for user chute (SASL SCRAM-SHA-256): check CHUTE_KAFKA_SASL_USERNAME / CHUTE_KAFKA_SASL_PASSWORD');
  });
});
