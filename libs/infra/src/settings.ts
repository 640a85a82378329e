import { connect } from 'node:net';
import { InvalidPortError } from './errors';

/** Defaults of the ports infra:up starts things on, in one place. */
export const DEFAULT_PORTS = { kafka: 9092, postgres: 5432, console: 8081 } as const;

/** The highest port ours may use: Kafka's controller takes the broker's port + 1. */
const MAX_PORT = 65534;

/**
 * What the environment says about the infrastructure, parsed once: the ports
 * ours start on (move them to run beside another checkout's, or a hand-started,
 * broker and database) and the addresses given instead.
 */
export interface InfraSettings {
  kafkaPort: number;
  pgPort: number;
  /** Redpanda Console, Docker only. */
  consolePort: number;
  /** CHUTE_KAFKA_BROKERS: a broker to use instead of starting ours. */
  brokers: string | undefined;
  /** CHUTE_DATABASE_URL: a server to use instead of starting ours. */
  databaseUrl: string | undefined;
  /** TMPDIR, for PostgreSQL's files. */
  tempDir: string;
}

/**
 * Reads {@link InfraSettings} from an environment.
 * @throws InvalidPortError when a CHUTE_INFRA_*_PORT is not a port
 */
export function settingsFromEnv(env: NodeJS.ProcessEnv): InfraSettings {
  return {
    kafkaPort: port(env['CHUTE_INFRA_KAFKA_PORT'], DEFAULT_PORTS.kafka),
    pgPort: port(env['CHUTE_INFRA_PG_PORT'], DEFAULT_PORTS.postgres),
    consolePort: port(env['CHUTE_INFRA_CONSOLE_PORT'], DEFAULT_PORTS.console),
    brokers: env['CHUTE_KAFKA_BROKERS'] || undefined,
    databaseUrl: env['CHUTE_DATABASE_URL'] || undefined,
    tempDir: env['TMPDIR'] || '/tmp',
  };
}

function port(value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const parsed = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(parsed >= 1 && parsed <= MAX_PORT)) throw new InvalidPortError(value);
  return parsed;
}

/** Whether something accepts TCP connections on 127.0.0.1:`port` (within 2 s). */
export function isPortOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(2_000);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(false));
  });
}

/**
 * The message for a port held by something infra:up did not start: how to use
 * what is there (`addressVariable`), or move ours (`portVariable`, with an
 * example 10000 higher when that is still a port).
 */
export function portTakenMessage(port: number, what: string, addressVariable: string, portVariable: string): string {
  const example = port + 10_000 > MAX_PORT ? '' : ` (e.g. ${portVariable}=${port + 10_000})`;
  return `port ${port} on 127.0.0.1 is taken by a process infra:up did not start. To use the ${what} that is already there, set ${addressVariable}; otherwise free the port or start ours elsewhere with ${portVariable}${example}.`;
}

/** The message for Kafka's controller port (the broker's + 1) held by something else. */
export function controllerPortTakenMessage(port: number): string {
  return `port ${port} on 127.0.0.1, which Kafka's controller would use (CHUTE_INFRA_KAFKA_PORT + 1), is taken by a process infra:up did not start. Free it, or move ours with CHUTE_INFRA_KAFKA_PORT (it uses that port and the next), or set CHUTE_KAFKA_BROKERS to use a broker that is already running.`;
}

/**
 * The first of `span` consecutive ports free on 127.0.0.1 now, below the
 * kernel's ephemeral range (32768 up on Linux): a cluster's nodes connect to
 * each other while they start, and an outgoing connection's ephemeral port
 * could otherwise take a port a node about to start was given. For tests
 * that start brokers beside others.
 */
export async function freePortRange(span: number, from = 20_000, to = 32_000): Promise<number> {
  const { createServer } = await import('node:net');
  const listen = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = from + Math.floor(Math.random() * (to - from - span));
    let free = true;
    for (let port = base; free && port < base + span; port++) free = (await listen(port)) && !(await isPortOpen(port));
    if (free) return base;
  }
  throw new Error(`no ${span} consecutive free ports between ${from} and ${to}`);
}
