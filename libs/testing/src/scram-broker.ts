import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { hasKafkaJars, kafkaJarsDir as infraKafkaJarsDir, LOG4J2_YAML } from '@chute/infra';
import { Kafka, logLevel } from 'kafkajs';
import { groupAlive, repoRoot } from './service-process';
import { waitFor } from './wait';

const run = promisify(execFile);

/** A SCRAM user created when the broker's storage is formatted. */
export interface ScramUser {
  name: string;
  /** Letters, digits, `-` and `_` only: `kafka-storage format --add-scram` takes it unquoted. */
  password: string;
}

export interface ScramBrokerOptions {
  /**
   * The SASL_PLAINTEXT listener's port; the controller takes the next one and
   * the SASL_SSL listener (with `tls`) the one after. Apart from `npm run
   * infra:up`'s 9092/9093 so both brokers run side by side.
   * @default 19094
   */
  port?: number;
  /** The users clients log in as. @default [{ name: 'chute', password: 'chute-secret' }] */
  users?: readonly ScramUser[];
  /**
   * Also listen with SASL over TLS (mutual: the broker asks for a client
   * certificate), with a throwaway CA, server and client certificate made with
   * `openssl`. @default false
   */
  tls?: boolean;
  /**
   * Authorize every request with KRaft's StandardAuthorizer and deny what no
   * ACL allows (`allow.everyone.if.no.acl.found=false`). `superUsers` (names
   * from `users`) may do anything, ACLs included; everyone else only what the
   * ACLs they are given allow. The controller listener then also takes a login
   * (SASL/PLAIN, the broker's own user), so no anonymous principal needs to be
   * a super user. @default undefined: no authorizer, every login may do anything
   */
  authorizer?: { superUsers: readonly string[] };
  /** How long the JVM may take to format, start and answer an authenticated request. @default 120_000 */
  startTimeoutMs?: number;
}

/** PEM files of the throwaway CA, and the client certificate it signed. */
export interface ScramBrokerTlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/** The broker's own login, for its inter-broker listener and the readiness check. */
const ADMIN: ScramUser = { name: 'chute-test-admin', password: randomBytes(12).toString('hex') };

/**
 * The directory Kafka's jars are kept in (@chute/infra's kafkaJarsDir, the
 * one `npm run setup` fetches them into and infra:up runs from).
 */
export function kafkaJarsDir(): string {
  const dir = infraKafkaJarsDir(repoRoot);
  if (!hasKafkaJars(dir)) {
    throw new Error(`Kafka's jars are not in ${path.relative(repoRoot, dir)}: run \`npm run setup\` (it fetches them with Maven)`);
  }
  return dir;
}

function portTaken(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(1_000);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(false));
  });
}

/** Writes the throwaway CA and the broker's and a client's certificates into `dir`. */
async function makeCertificates(dir: string): Promise<{ server: string } & ScramBrokerTlsFiles> {
  const at = (name: string): string => path.join(dir, name);
  const openssl = (...args: string[]): Promise<unknown> => run('openssl', args, { cwd: dir });
  await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=chute-test-ca');
  const sign = async (name: string, subject: string, extensions: string): Promise<void> => {
    // -newkey writes PKCS#8 ("BEGIN PRIVATE KEY"): the only unencrypted form Kafka's PEM key store reads.
    await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
    writeFileSync(at(`${name}.ext`), extensions);
    await openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
  };
  await sign('server', '/CN=localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  await sign('client', '/CN=chute', 'extendedKeyUsage=clientAuth\n');
  // Kafka's PEM key store is one file: the private key, then the certificate chain.
  writeFileSync(at('server-keystore.pem'), readFileSync(at('server.key'), 'utf8') + readFileSync(at('server.pem'), 'utf8'));
  return { server: at('server-keystore.pem'), ca: at('ca.pem'), cert: at('client.pem'), key: at('client.key') };
}

/**
 * A second, separate single-node Kafka (KRaft) whose clients must log in with
 * SASL/SCRAM-SHA-256: for tests of the broker connection's authentication. It
 * runs from the same jars as `npm run infra:up`'s broker, on its own ports and
 * in its own temporary directory, with users created by
 * `kafka-storage format --add-scram`. The test that starts it stops it: `stop()`
 * ends the JVM's whole process group and deletes the directory.
 *
 * `start()` throws, with the end of the broker's log, when the broker cannot
 * start: a test over it fails then, it never skips.
 */
export class ScramBroker {
  private stopping: Promise<void> | undefined;
  private readonly onExit = (): void => {
    // The runner exiting without stop() (a crash) must not leave a JVM behind.
    if (groupAlive(this.child.pid!)) process.kill(-this.child.pid!, 'SIGKILL');
  };

  private constructor(
    private readonly child: ChildProcess,
    /** Holds its config, data, certificates and `kafka.log`; deleted by `stop()`. */
    readonly dir: string,
    readonly port: number,
    readonly users: readonly ScramUser[],
    /** With `tls`: the files a client needs. */
    readonly tlsFiles: ScramBrokerTlsFiles | undefined,
  ) {
    process.once('exit', this.onExit);
  }

  /** The SASL_PLAINTEXT listener, as `CHUTE_KAFKA_BROKERS` takes it. */
  get brokers(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** The SASL_SSL listener (with `tls`). */
  get tlsBrokers(): string {
    if (!this.tlsFiles) throw new Error('this ScramBroker was started without tls');
    return `127.0.0.1:${this.port + 2}`;
  }

  /** The JVM's pid, which leads its process group. */
  get pid(): number {
    return this.child.pid!;
  }

  /** The broker's log so far (for a failing test's message). */
  logTail(lines = 25): string {
    try {
      return readFileSync(path.join(this.dir, 'kafka.log'), 'utf8').split('\n').filter((l) => !/^\s+at /.test(l)).slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  static async start(options: ScramBrokerOptions = {}): Promise<ScramBroker> {
    const port = options.port ?? 19094;
    const users = options.users ?? [{ name: 'chute', password: 'chute-secret' }];
    const timeoutMs = options.startTimeoutMs ?? 120_000;
    for (const user of [...users, ADMIN]) {
      if (!/^[A-Za-z0-9_-]+$/.test(user.name) || !/^[A-Za-z0-9_-]+$/.test(user.password)) {
        throw new Error(`ScramBroker: user ${user.name}: names and passwords are letters, digits, "-" and "_" only`);
      }
    }
    for (const name of options.authorizer?.superUsers ?? []) {
      if (!users.some((u) => u.name === name)) throw new Error(`ScramBroker: super user ${name} is not one of the users`);
    }
    const jars = kafkaJarsDir();
    const ports = options.tls ? [port, port + 1, port + 2] : [port, port + 1];
    for (const p of ports) {
      if (await portTaken(p)) throw new Error(`ScramBroker: port ${p} on 127.0.0.1 is taken; free it or pass another port`);
    }

    const dir = mkdtempSync(path.join(os.tmpdir(), 'chute-scram-broker-'));
    try {
      const tls = options.tls ? await makeCertificates(dir) : undefined;
      const jaas = `org.apache.kafka.common.security.scram.ScramLoginModule required username="${ADMIN.name}" password="${ADMIN.password}";`;
      const listeners = [`SASL_PLAINTEXT://127.0.0.1:${port}`, ...(tls ? [`SASL_SSL://127.0.0.1:${port + 2}`] : [])];
      const properties = [
        'process.roles=broker,controller',
        'node.id=1',
        `controller.quorum.bootstrap.servers=127.0.0.1:${port + 1}`,
        `listeners=${[...listeners, `CONTROLLER://127.0.0.1:${port + 1}`].join(',')}`,
        `advertised.listeners=${listeners.join(',')}`,
        'controller.listener.names=CONTROLLER',
        `listener.security.protocol.map=CONTROLLER:${options.authorizer ? 'SASL_PLAINTEXT' : 'PLAINTEXT'},SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL`,
        // A single node still names a listener for brokers to talk over; it must be one it has.
        'inter.broker.listener.name=SASL_PLAINTEXT',
        'sasl.enabled.mechanisms=SCRAM-SHA-256',
        'sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256',
        `listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=${jaas}`,
        ...(tls
          ? [
              `listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=${jaas}`,
              'listener.name.sasl_ssl.ssl.keystore.type=PEM',
              `listener.name.sasl_ssl.ssl.keystore.location=${tls.server}`,
              'listener.name.sasl_ssl.ssl.truststore.type=PEM',
              `listener.name.sasl_ssl.ssl.truststore.location=${tls.ca}`,
              'listener.name.sasl_ssl.ssl.client.auth=required',
            ]
          : []),
        ...(options.authorizer
          ? [
              'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
              'allow.everyone.if.no.acl.found=false',
              // The broker's own user: it talks to itself over the controller and broker listeners.
              `super.users=${[ADMIN.name, ...options.authorizer.superUsers].map((n) => `User:${n}`).join(';')}`,
              // SCRAM credentials live in the metadata the controller serves, so the
              // controller listener cannot use SCRAM itself: PLAIN, with the broker's
              // user, keeps an anonymous (and, as the controller's peer, all-powerful)
              // principal off it.
              'sasl.mechanism.controller.protocol=PLAIN',
              'listener.name.controller.sasl.enabled.mechanisms=PLAIN',
              `listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="${ADMIN.name}" password="${ADMIN.password}" user_${ADMIN.name}="${ADMIN.password}";`,
            ]
          : []),
        `log.dirs=${path.join(dir, 'data')}`,
        'num.partitions=1',
        'offsets.topic.replication.factor=1',
        'offsets.topic.num.partitions=3',
        'transaction.state.log.replication.factor=1',
        'transaction.state.log.min.isr=1',
        'group.initial.rebalance.delay.ms=0',
        'auto.create.topics.enable=false',
        // As infra:up's broker (@chute/infra's serverProperties): few threads on a 2-core machine.
        'num.network.threads=1',
        'num.io.threads=2',
        'background.threads=2',
      ];
      const config = path.join(dir, 'server.properties');
      writeFileSync(config, properties.join('\n') + '\n');

      // A cluster id is 16 random bytes in URL-safe base64: made here, one JVM start fewer than StorageTool random-uuid.
      const clusterId = randomBytes(16).toString('base64url');
      const scram = [...users, ADMIN].flatMap((u) => ['--add-scram', `SCRAM-SHA-256=[name=${u.name},password=${u.password}]`]);
      try {
        await run('java', ['-cp', `${jars}/*`, 'kafka.tools.StorageTool', 'format', '--standalone', '-t', clusterId, '-c', config, ...scram], {
          timeout: timeoutMs,
        });
      } catch (error) {
        const e = error as { stderr?: string; stdout?: string; message: string };
        throw new Error(`ScramBroker: could not format the broker's storage: ${(e.stderr || e.stdout || e.message).trim()}`);
      }

      // The same logging as infra:up's broker (@chute/infra's LOG4J2_YAML), written beside its config.
      const log4j = path.join(dir, 'log4j2.yaml');
      writeFileSync(log4j, LOG4J2_YAML);
      const log = openSync(path.join(dir, 'kafka.log'), 'a');
      // Its own process group (detached), so stop() reaches the JVM and anything it forks.
      const child = spawn(
        'java',
        [
          '-Xms128m',
          '-Xmx384m',
          '-XX:+UseSerialGC',
          `-Dlog4j2.configurationFile=${log4j}`,
          '-cp',
          `${jars}/*`,
          'kafka.Kafka',
          config,
        ],
        { detached: true, stdio: ['ignore', log, log] },
      );
      closeSync(log);
      const broker = new ScramBroker(child, dir, port, users, tls ? { ca: tls.ca, cert: tls.cert, key: tls.key } : undefined);
      try {
        await broker.untilAnswering(timeoutMs);
      } catch (error) {
        const tail = broker.logTail();
        await broker.stop();
        throw new Error(`ScramBroker: the broker on 127.0.0.1:${port} did not start: ${(error as Error).message}\n${tail}`);
      }
      return broker;
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Until the broker takes a SCRAM login and answers a metadata request: an open port is not a ready broker yet. */
  private async untilAnswering(timeoutMs: number): Promise<void> {
    let exited: string | undefined;
    this.child.once('exit', (code, signal) => (exited = `the JVM exited (${signal ?? code})`));
    const kafka = new Kafka({
      clientId: 'scram-broker-ready',
      brokers: [this.brokers],
      sasl: { mechanism: 'scram-sha-256', username: ADMIN.name, password: ADMIN.password },
      logLevel: logLevel.NOTHING,
      connectionTimeout: 2_000,
      retry: { retries: 0 },
    });
    await waitFor(
      async () => {
        if (exited) throw new Error(exited);
        if (!(await portTaken(this.port))) return false;
        const admin = kafka.admin();
        try {
          await admin.connect();
          await admin.describeCluster();
          return true;
        } catch {
          return false;
        } finally {
          await admin.disconnect().catch(() => undefined);
        }
      },
      { timeoutMs, intervalMs: 500, message: `the SCRAM broker on 127.0.0.1:${this.port} to answer` },
    );
  }

  /**
   * Stops the broker: SIGTERM to its process group, SIGKILL after `graceMs`,
   * resolves once no process of the group is left and its directory is gone.
   * Idempotent.
   */
  stop(graceMs = 15_000): Promise<void> {
    return (this.stopping ??= (async () => {
      const pgid = this.child.pid!;
      if (groupAlive(pgid)) process.kill(-pgid, 'SIGTERM');
      try {
        await waitFor(() => !groupAlive(pgid), { timeoutMs: graceMs, intervalMs: 200, message: 'the SCRAM broker to stop' });
      } catch {
        if (groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
        await waitFor(() => !groupAlive(pgid), { timeoutMs: 10_000, intervalMs: 100, message: `process group ${pgid} of the SCRAM broker to be gone` });
      }
      process.removeListener('exit', this.onExit);
      rmSync(this.dir, { recursive: true, force: true });
    })());
  }
}
