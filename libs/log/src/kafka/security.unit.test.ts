import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseEnv, silentLogger } from '@chute/runtime';
import { LogEnv } from '../settings';
import { kafkaLogFromConfig } from '../platform/from-env';
import { kafkaSecurityConfig } from './connection';
import { isKafkaAuthenticationError, kafkaAuthorizationFailure, KafkaAuthenticationError, KafkaAuthorizationError } from './errors';

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

describe('authorization errors', () => {
  test("the broker's ACL refusals, bare or wrapped in retries, are found by type; other errors are not", () => {
    const topic = new errors.KafkaJSProtocolError({ message: 'Not authorized to access topics', type: 'TOPIC_AUTHORIZATION_FAILED', code: 29, retriable: false });
    assert.equal(kafkaAuthorizationFailure(topic), 'TOPIC_AUTHORIZATION_FAILED');
    const cluster = new errors.KafkaJSProtocolError({ message: 'Cluster authorization failed', type: 'CLUSTER_AUTHORIZATION_FAILED', code: 31, retriable: false });
    assert.equal(kafkaAuthorizationFailure(new errors.KafkaJSNumberOfRetriesExceeded(cluster, { retryCount: 1, retryTime: 1 })), 'CLUSTER_AUTHORIZATION_FAILED');
    assert.equal(kafkaAuthorizationFailure(new errors.KafkaJSConnectionError('Connection error')), undefined);
  });

  test('the error is a ConfigError of one line naming the user, what was refused and where the grants are', () => {
    const error = new KafkaAuthorizationError('foreign', 'produce', 'CLUSTER_AUTHORIZATION_FAILED');
    assert.ok(error instanceof ConfigError);
    assert.equal(error.message, "kafka: user foreign may not produce (CLUSTER_AUTHORIZATION_FAILED): grant the service's ACLs (npx chute acls print)");
  });
});
