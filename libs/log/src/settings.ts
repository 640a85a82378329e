import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError, FilePath, Flag } from '@chute/runtime';

// The log's settings: where the brokers are, how to reach them (TLS, SASL),
// how the platform's topics are named and sized. No kafkajs here: the client
// SDK parses the connection settings through `@chute/log/settings` and must not
// load it.

/** A comma-separated list of `host:port` pairs, e.g. `127.0.0.1:9092,10.0.0.2:9092`. */
export const BrokerList = z
  .string()
  .transform((s) => s.split(',').map((b) => b.trim()).filter((b) => b.length > 0))
  .pipe(
    z
      .array(
        z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):([1-9][0-9]{0,4})$/, {
          message: 'each broker must be host:port (e.g. 127.0.0.1:9092)',
        }),
      )
      .min(1, { message: 'at least one broker is required (e.g. 127.0.0.1:9092)' }),
  );

export const PartitionCount = z.coerce.number().int().min(1).max(1000);

/**
 * Partition counts the platform creates its topics with unless configured
 * otherwise. The dispatch topic has one partition per worker it keeps apart:
 * workers beyond it share partitions, and each skips the others' records.
 */
export const DEFAULT_PARTITIONS = { runEvents: 6, stream: 6, workerEvents: 1, dispatch: 32 } as const;

/** The SASL mechanisms the broker connection speaks, as kafkajs names them. */
export const SaslMechanism = z.enum(['plain', 'scram-sha-256', 'scram-sha-512']);
export type SaslMechanism = z.infer<typeof SaslMechanism>;

/**
 * How services and workers reach the broker: TLS and SASL. All unset is
 * plaintext without authentication (the local broker). Messages never echo a
 * value: some of these are secrets.
 */
export const BrokerConnectionEnv = z.object({
  /** TLS to every broker. Without a CA file the system's trusted CAs verify the broker (managed clusters). @default false */
  CHUTE_KAFKA_TLS: Flag.default(false),
  /** A PEM bundle of the CAs that signed the brokers' certificates (a private CA). */
  CHUTE_KAFKA_TLS_CA_FILE: FilePath.optional(),
  /** A PEM client certificate, for brokers that require one (mutual TLS); needs CHUTE_KAFKA_TLS_KEY_FILE. */
  CHUTE_KAFKA_TLS_CERT_FILE: FilePath.optional(),
  /** The PEM private key of CHUTE_KAFKA_TLS_CERT_FILE. */
  CHUTE_KAFKA_TLS_KEY_FILE: FilePath.optional(),
  /** The name the brokers' certificates are checked against, when not the host in CHUTE_KAFKA_BROKERS. @default each broker's host */
  CHUTE_KAFKA_TLS_SERVERNAME: z.string().min(1).optional(),
  /** plain, scram-sha-256 or scram-sha-512 (any case). Unset: no SASL. */
  CHUTE_KAFKA_SASL_MECHANISM: z
    .string()
    .transform((s) => s.toLowerCase())
    .pipe(z.enum(SaslMechanism.options, { message: 'must be plain, scram-sha-256 or scram-sha-512' }))
    .optional(),
  CHUTE_KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  CHUTE_KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  /** A file holding the password (a mounted secret); its trailing newline is dropped. Instead of CHUTE_KAFKA_SASL_PASSWORD. */
  CHUTE_KAFKA_SASL_PASSWORD_FILE: FilePath.optional(),
});
export type BrokerConnectionConfig = z.infer<typeof BrokerConnectionEnv>;

/**
 * Refuses half-configured connections: a setting that would be silently
 * ignored, or a combination the broker would only refuse later and less clearly.
 */
function refineBrokerConnection(c: BrokerConnectionConfig, ctx: z.RefinementCtx): void {
  const issue = (variable: keyof BrokerConnectionConfig, message: string): void => ctx.addIssue({ code: 'custom', path: [variable], message });
  if (!c.CHUTE_KAFKA_TLS) {
    for (const v of ['CHUTE_KAFKA_TLS_CA_FILE', 'CHUTE_KAFKA_TLS_CERT_FILE', 'CHUTE_KAFKA_TLS_KEY_FILE', 'CHUTE_KAFKA_TLS_SERVERNAME'] as const) {
      if (c[v] !== undefined) issue(v, 'is a TLS setting: set CHUTE_KAFKA_TLS=true too');
    }
  }
  if (c.CHUTE_KAFKA_TLS_CERT_FILE !== undefined && c.CHUTE_KAFKA_TLS_KEY_FILE === undefined) {
    issue('CHUTE_KAFKA_TLS_KEY_FILE', 'is required with CHUTE_KAFKA_TLS_CERT_FILE (the client certificate\'s private key)');
  }
  if (c.CHUTE_KAFKA_TLS_KEY_FILE !== undefined && c.CHUTE_KAFKA_TLS_CERT_FILE === undefined) {
    issue('CHUTE_KAFKA_TLS_CERT_FILE', 'is required with CHUTE_KAFKA_TLS_KEY_FILE (the client certificate of that key)');
  }
  if (c.CHUTE_KAFKA_SASL_MECHANISM === undefined) {
    for (const v of ['CHUTE_KAFKA_SASL_USERNAME', 'CHUTE_KAFKA_SASL_PASSWORD', 'CHUTE_KAFKA_SASL_PASSWORD_FILE'] as const) {
      if (c[v] !== undefined) issue(v, 'is a SASL setting: set CHUTE_KAFKA_SASL_MECHANISM too (plain, scram-sha-256 or scram-sha-512)');
    }
    return;
  }
  if (c.CHUTE_KAFKA_SASL_USERNAME === undefined) issue('CHUTE_KAFKA_SASL_USERNAME', `is required with CHUTE_KAFKA_SASL_MECHANISM`);
  if (c.CHUTE_KAFKA_SASL_PASSWORD !== undefined && c.CHUTE_KAFKA_SASL_PASSWORD_FILE !== undefined) {
    issue('CHUTE_KAFKA_SASL_PASSWORD_FILE', 'set it or CHUTE_KAFKA_SASL_PASSWORD, not both');
  } else if (c.CHUTE_KAFKA_SASL_PASSWORD === undefined && c.CHUTE_KAFKA_SASL_PASSWORD_FILE === undefined) {
    issue('CHUTE_KAFKA_SASL_PASSWORD', 'is required with CHUTE_KAFKA_SASL_MECHANISM (or CHUTE_KAFKA_SASL_PASSWORD_FILE)');
  }
}

/** {@link BrokerConnectionEnv} with its cross-checks: what a program that only talks to the broker parses. */
export const CheckedBrokerConnectionEnv = BrokerConnectionEnv.superRefine(refineBrokerConnection);

/** TLS to the brokers, with PEM contents (not paths). Unset fields fall back to Node's defaults. */
export interface BrokerTls {
  /** Trusted CAs. @default Node's bundled CAs */
  ca?: string;
  /** Client certificate, sent when the broker asks for one. */
  cert?: string;
  /** The client certificate's private key. */
  key?: string;
  /** Checked against the broker's certificate and sent as SNI. @default each broker's host */
  servername?: string;
}

export interface BrokerSasl {
  mechanism: SaslMechanism;
  username: string;
  password: string;
  /**
   * Where the credentials are set, named in the error of a refused login.
   * @default 'CHUTE_KAFKA_SASL_USERNAME / CHUTE_KAFKA_SASL_PASSWORD'
   */
  settings?: string;
}

/** How to reach the brokers beyond their addresses. */
export interface BrokerConnection {
  /** `true`: TLS verified against Node's bundled CAs. @default no TLS */
  tls?: BrokerTls | true;
  /** @default no SASL */
  sasl?: BrokerSasl;
}

/**
 * The connection the settings describe, with the files they name read now, so
 * a missing or unreadable file stops the start with a `ConfigError` naming its
 * variable rather than a TLS error on first contact.
 * @throws ConfigError
 */
export function brokerConnectionOf(config: BrokerConnectionConfig): BrokerConnection {
  const read = (variable: keyof BrokerConnectionConfig): string | undefined => {
    const file = config[variable];
    if (typeof file !== 'string') return undefined;
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      // The path is no secret, and the errno says what to fix (ENOENT, EACCES).
      const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new ConfigError(`invalid configuration: ${variable}: cannot read ${file} (${code})`);
    }
  };
  const connection: BrokerConnection = {};
  if (config.CHUTE_KAFKA_TLS) {
    const tls: BrokerTls = {};
    const ca = read('CHUTE_KAFKA_TLS_CA_FILE');
    const cert = read('CHUTE_KAFKA_TLS_CERT_FILE');
    const key = read('CHUTE_KAFKA_TLS_KEY_FILE');
    if (ca !== undefined) tls.ca = ca;
    if (cert !== undefined) tls.cert = cert;
    if (key !== undefined) tls.key = key;
    if (config.CHUTE_KAFKA_TLS_SERVERNAME !== undefined) tls.servername = config.CHUTE_KAFKA_TLS_SERVERNAME;
    connection.tls = Object.keys(tls).length > 0 ? tls : true;
  }
  const mechanism = config.CHUTE_KAFKA_SASL_MECHANISM;
  const username = config.CHUTE_KAFKA_SASL_USERNAME;
  if (mechanism !== undefined && username !== undefined) {
    const fromFile = config.CHUTE_KAFKA_SASL_PASSWORD_FILE !== undefined;
    // A secret file written with `echo` ends in a newline that is not part of the password.
    const password = fromFile ? read('CHUTE_KAFKA_SASL_PASSWORD_FILE')!.replace(/\r?\n$/, '') : config.CHUTE_KAFKA_SASL_PASSWORD;
    if (password === undefined || password === '') {
      throw new ConfigError(`invalid configuration: ${fromFile ? 'CHUTE_KAFKA_SASL_PASSWORD_FILE: the file is empty' : 'CHUTE_KAFKA_SASL_PASSWORD: is required'}`);
    }
    connection.sasl = {
      mechanism,
      username,
      password,
      settings: `CHUTE_KAFKA_SASL_USERNAME / CHUTE_KAFKA_SASL_PASSWORD${fromFile ? '_FILE' : ''}`,
    };
  }
  return connection;
}

/**
 * Settings every service shares: where the log is, how to connect to it, how
 * its topics are named and sized. It carries cross-checks (see
 * {@link BrokerConnectionEnv}): extend it with new variables only, as zod
 * refuses to overwrite keys of a refined object.
 */
export const LogEnv = z.object({
  CHUTE_KAFKA_BROKERS: BrokerList.default(['127.0.0.1:9092']),
  /** Prefix of every topic name, so several deployments can share a cluster. @default 'chute' */
  CHUTE_TOPIC_PREFIX: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, { message: 'must be letters, digits, ".", "_" or "-"' }).default('chute'),
  CHUTE_RUN_EVENTS_PARTITIONS: PartitionCount.default(DEFAULT_PARTITIONS.runEvents),
  CHUTE_STREAM_PARTITIONS: PartitionCount.default(DEFAULT_PARTITIONS.stream),
  CHUTE_WORKER_EVENTS_PARTITIONS: PartitionCount.default(DEFAULT_PARTITIONS.workerEvents),
  CHUTE_DISPATCH_PARTITIONS: PartitionCount.default(DEFAULT_PARTITIONS.dispatch),
  CHUTE_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  /**
   * This instance's name in its consumer groups (Kafka static membership): a
   * restarted process with the same name gets its partitions back at once
   * instead of after the 10 s session timeout. Unique per running instance
   * (a pod's name); unset, every start joins as a new member.
   */
  CHUTE_INSTANCE_ID: z.string().regex(/^[A-Za-z0-9._-]{1,200}$/, { message: 'must be letters, digits, ".", "_" or "-"' }).optional(),
  ...BrokerConnectionEnv.shape,
}).superRefine(refineBrokerConnection);

