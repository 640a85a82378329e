import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, DatabaseEnv, parseEnv } from '@chute/runtime';
import { brokerConnectionOf, CheckedBrokerConnectionEnv, LogEnv } from './settings';

describe('parseEnv', () => {
  test('applies defaults when variables are unset or empty', () => {
    const config = parseEnv(LogEnv.extend(DatabaseEnv.shape), { CHUTE_TOPIC_PREFIX: '' });
    assert.deepEqual(config.CHUTE_KAFKA_BROKERS, ['127.0.0.1:9092']);
    assert.equal(config.CHUTE_TOPIC_PREFIX, 'chute');
    assert.equal(config.CHUTE_DATABASE_URL, 'postgres://postgres@127.0.0.1:5432/chute');
  });

  test('splits and trims a broker list', () => {
    const config = parseEnv(LogEnv, { CHUTE_KAFKA_BROKERS: ' a.example:9092, 10.0.0.2:19092 ' });
    assert.deepEqual(config.CHUTE_KAFKA_BROKERS, ['a.example:9092', '10.0.0.2:19092']);
  });

  test('a malformed broker names the variable and the expected shape', () => {
    assert.throws(
      () => parseEnv(LogEnv, { CHUTE_KAFKA_BROKERS: 'localhost' }),
      (e: unknown) => e instanceof ConfigError && /^invalid configuration: CHUTE_KAFKA_BROKERS: each broker must be host:port/.test(e.message),
    );
  });

  test('several bad variables are all named in one line', () => {
    try {
      parseEnv(LogEnv, { CHUTE_KAFKA_BROKERS: 'x', CHUTE_STREAM_PARTITIONS: '0' });
      assert.fail('expected a ConfigError');
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /CHUTE_KAFKA_BROKERS/);
      assert.match(e.message, /CHUTE_STREAM_PARTITIONS/);
      assert.doesNotMatch(e.message, /\n/);
    }
  });
});

describe('broker connection settings (TLS, SASL)', () => {
  const refused = (env: Record<string, string>, message: RegExp): void => {
    assert.throws(() => parseEnv(LogEnv, env), (e: unknown) => e instanceof ConfigError && message.test(e.message) && !e.message.includes('\n'));
  };

  test('none set: plaintext, no login', () => {
    assert.deepEqual(brokerConnectionOf(parseEnv(LogEnv, {})), {});
  });

  test('SASL: the mechanism in any case, with a username and a password', () => {
    const config = parseEnv(LogEnv, { CHUTE_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512', CHUTE_KAFKA_SASL_USERNAME: 'chute', CHUTE_KAFKA_SASL_PASSWORD: 's3cret' });
    assert.deepEqual(brokerConnectionOf(config).sasl, {
      mechanism: 'scram-sha-512',
      username: 'chute',
      password: 's3cret',
      settings: 'CHUTE_KAFKA_SASL_USERNAME / CHUTE_KAFKA_SASL_PASSWORD',
    });
  });

  test('half-configured SASL is refused, naming the variable to set', () => {
    refused({ CHUTE_KAFKA_SASL_USERNAME: 'chute', CHUTE_KAFKA_SASL_PASSWORD: 'x' }, /CHUTE_KAFKA_SASL_USERNAME: is a SASL setting: set CHUTE_KAFKA_SASL_MECHANISM too/);
    refused({ CHUTE_KAFKA_SASL_MECHANISM: 'plain', CHUTE_KAFKA_SASL_PASSWORD: 'x' }, /CHUTE_KAFKA_SASL_USERNAME: is required with CHUTE_KAFKA_SASL_MECHANISM/);
    refused({ CHUTE_KAFKA_SASL_MECHANISM: 'plain', CHUTE_KAFKA_SASL_USERNAME: 'chute' }, /CHUTE_KAFKA_SASL_PASSWORD: is required/);
    refused(
      { CHUTE_KAFKA_SASL_MECHANISM: 'plain', CHUTE_KAFKA_SASL_USERNAME: 'u', CHUTE_KAFKA_SASL_PASSWORD: 'x', CHUTE_KAFKA_SASL_PASSWORD_FILE: '/run/secrets/p' },
      /CHUTE_KAFKA_SASL_PASSWORD_FILE: set it or CHUTE_KAFKA_SASL_PASSWORD, not both/,
    );
    refused({ CHUTE_KAFKA_SASL_MECHANISM: 'gssapi' }, /CHUTE_KAFKA_SASL_MECHANISM: must be plain, scram-sha-256 or scram-sha-512/);
  });

  test('half-configured TLS is refused, naming the variable to set', () => {
    refused({ CHUTE_KAFKA_TLS_CA_FILE: '/etc/ca.pem' }, /CHUTE_KAFKA_TLS_CA_FILE: is a TLS setting: set CHUTE_KAFKA_TLS=true too/);
    refused({ CHUTE_KAFKA_TLS: 'true', CHUTE_KAFKA_TLS_CERT_FILE: '/c.pem' }, /CHUTE_KAFKA_TLS_KEY_FILE: is required with CHUTE_KAFKA_TLS_CERT_FILE/);
    refused({ CHUTE_KAFKA_TLS: 'true', CHUTE_KAFKA_TLS_KEY_FILE: '/k.pem' }, /CHUTE_KAFKA_TLS_CERT_FILE: is required with CHUTE_KAFKA_TLS_KEY_FILE/);
    refused({ CHUTE_KAFKA_TLS: 'yes' }, /CHUTE_KAFKA_TLS: must be true or false/);
  });

  test('a refused setting never echoes a secret', () => {
    try {
      parseEnv(LogEnv, { CHUTE_KAFKA_SASL_MECHANISM: 'kerberos', CHUTE_KAFKA_SASL_USERNAME: 'u', CHUTE_KAFKA_SASL_PASSWORD: 'hunter2-secret' });
      assert.fail('expected a ConfigError');
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      assert.doesNotMatch(e.message, /hunter2-secret|kerberos/);
    }
  });

  test('TLS alone trusts the system CAs; with files, their contents are read', () => {
    assert.deepEqual(brokerConnectionOf(parseEnv(LogEnv, { CHUTE_KAFKA_TLS: 'true' })), { tls: true });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'chute-tls-test-'));
    try {
      for (const name of ['ca', 'cert', 'key']) writeFileSync(path.join(dir, `${name}.pem`), `-- ${name} --\n`);
      writeFileSync(path.join(dir, 'password'), 'from-a-file\n');
      const connection = brokerConnectionOf(
        parseEnv(CheckedBrokerConnectionEnv, {
          CHUTE_KAFKA_TLS: 'true',
          CHUTE_KAFKA_TLS_CA_FILE: path.join(dir, 'ca.pem'),
          CHUTE_KAFKA_TLS_CERT_FILE: path.join(dir, 'cert.pem'),
          CHUTE_KAFKA_TLS_KEY_FILE: path.join(dir, 'key.pem'),
          CHUTE_KAFKA_TLS_SERVERNAME: 'kafka.internal',
          CHUTE_KAFKA_SASL_MECHANISM: 'scram-sha-256',
          CHUTE_KAFKA_SASL_USERNAME: 'chute',
          CHUTE_KAFKA_SASL_PASSWORD_FILE: path.join(dir, 'password'),
        }),
      );
      assert.deepEqual(connection.tls, { ca: '-- ca --\n', cert: '-- cert --\n', key: '-- key --\n', servername: 'kafka.internal' });
      // The trailing newline of a secret file is not part of the password.
      assert.equal(connection.sasl?.password, 'from-a-file');
      assert.equal(connection.sasl?.settings, 'CHUTE_KAFKA_SASL_USERNAME / CHUTE_KAFKA_SASL_PASSWORD_FILE');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a file that cannot be read is a ConfigError naming its variable', () => {
    const config = parseEnv(LogEnv, { CHUTE_KAFKA_TLS: 'true', CHUTE_KAFKA_TLS_CA_FILE: '/nonexistent/ca.pem' });
    assert.throws(() => brokerConnectionOf(config), (e: unknown) => e instanceof ConfigError && /CHUTE_KAFKA_TLS_CA_FILE: cannot read \/nonexistent\/ca.pem \(ENOENT\)/.test(e.message));
  });

  test('services extend LogEnv with their own variables and keep its checks', () => {
    const ServiceEnv = LogEnv.extend(DatabaseEnv.shape);
    assert.throws(() => parseEnv(ServiceEnv, { CHUTE_KAFKA_SASL_USERNAME: 'chute' }), /CHUTE_KAFKA_SASL_MECHANISM too/);
  });
});
