import { randomBytes } from 'node:crypto';
import { AuthKeys, mintToken } from '@chute/auth';
import type { Scope } from '@chute/schemas';
import { createTestDatabase } from './database';
import { requireEnv, uniqueName } from './env';
import { ServiceProcess } from './service-process';

export interface PlatformOptions {
  /** How many worker processes to start. @default 1 */
  workers?: number;
  /** Extra environment for every service. */
  env?: Record<string, string>;
  /**
   * Extra environment for one kind of service, over `env`: for instance each
   * service's own broker login. `worker` applies to `startWorker` too.
   */
  serviceEnv?: Partial<Record<'projector' | 'scheduler' | 'gateway' | 'worker', Record<string, string>>>;
  /**
   * Run the gateway with auth on (a fresh key; `platform.token(...)` mints
   * tokens); off, every request is the default tenant's. @default false
   */
  auth?: boolean;
  /** Arguments to node for every service, before its main.js (`--cpu-prof` cannot go in NODE_OPTIONS). */
  nodeArgs?: readonly string[];
}

/**
 * The whole platform as separate processes on the real broker and a throwaway
 * database: projector, scheduler, gateway and workers, each its built main.js.
 * Topics get a prefix of their own, so test files never see each other's runs.
 */
export class Platform {
  readonly processes: ServiceProcess[] = [];
  private constructor(
    readonly env: Record<string, string>,
    readonly gatewayUrl: string,
    private readonly dropDatabase: () => Promise<void>,
    private readonly serviceEnv: NonNullable<PlatformOptions['serviceEnv']> = {},
    private readonly nodeArgs: readonly string[] = [],
  ) {}

  static async start(options: PlatformOptions = {}): Promise<Platform> {
    const database = await createTestDatabase();
    const env: Record<string, string> = {
      CHUTE_KAFKA_BROKERS: options.env?.['CHUTE_KAFKA_BROKERS'] ?? requireEnv('CHUTE_KAFKA_BROKERS'),
      CHUTE_DATABASE_URL: database.url,
      CHUTE_TOPIC_PREFIX: uniqueName('e2e'),
      CHUTE_GATEWAY_PORT: '0',
      // Several instances of a service share the machine: probes on free ports.
      CHUTE_PROBE_PORT: '0',
      CHUTE_LOG_LEVEL: 'info',
      ...(options.auth ? { CHUTE_AUTH_SECRET: `test:${randomBytes(32).toString('base64url')}` } : { CHUTE_AUTH_DISABLED: 'true' }),
      ...options.env,
    };
    const serviceEnv = options.serviceEnv ?? {};
    const nodeArgs = options.nodeArgs ?? [];
    const started: ServiceProcess[] = [];
    try {
      // The projector first: it creates the topics and migrates the read model.
      const projector = ServiceProcess.start('projector', { ...env, ...serviceEnv.projector }, nodeArgs);
      started.push(projector);
      await projector.waitForLog('started');
      const rest = (['scheduler', 'gateway'] as const).map((name) => ServiceProcess.start(name, { ...env, ...serviceEnv[name] }, nodeArgs));
      started.push(...rest);
      await Promise.all(rest.map((p) => p.waitForLog('started')));
      const listening = rest[1]!.lines.find((l) => l.msg === 'listening');
      const platform = new Platform(env, String(listening?.['address']), database.drop, serviceEnv, nodeArgs);
      platform.processes.push(...started);
      for (let i = 0; i < (options.workers ?? 1); i++) await platform.startWorker(`worker-${i}`);
      return platform;
    } catch (error) {
      await Promise.all(started.map((p) => p.stop('SIGKILL')));
      await database.drop();
      throw error;
    }
  }

  /** A token of this platform's gateway (started with `auth: true`), valid for an hour unless told otherwise. */
  token(tenant: string, scopes: readonly Scope[], ttlMs = 3_600_000): Promise<string> {
    const secret = this.env['CHUTE_AUTH_SECRET'];
    if (!secret) throw new Error('this platform runs without auth: start it with { auth: true } to mint tokens');
    return mintToken(AuthKeys.parse(secret), { tenant, scopes, ttlMs });
  }

  /** Starts one more worker process and waits until it serves. */
  async startWorker(name: string, env: Record<string, string> = {}): Promise<ServiceProcess> {
    const worker = ServiceProcess.start('worker', { ...this.env, ...this.serviceEnv.worker, CHUTE_WORKER_NAME: name, ...env }, this.nodeArgs);
    this.processes.push(worker);
    await worker.waitForLog('serving');
    return worker;
  }

  /** Starts one more gateway process (on a free port) and returns its URL. */
  async startGateway(): Promise<string> {
    return Platform.addressOf(await this.startService('gateway'));
  }

  /** Starts another built service with the platform's environment (plus its `serviceEnv` and `env`), once it has started. */
  async startService(name: string, env: Record<string, string> = {}): Promise<ServiceProcess> {
    const own = this.serviceEnv[name as keyof Platform['serviceEnv']];
    const service = ServiceProcess.start(name, { ...this.env, ...own, ...env }, this.nodeArgs);
    this.processes.push(service);
    await service.waitForLog('started');
    return service;
  }

  /** The address a server process logged it listens on. */
  static addressOf(service: ServiceProcess): string {
    return String(service.lines.find((l) => l.msg === 'listening')?.['address']);
  }

  /** Where a scheduler, projector or worker process answers its probes (/healthz, /readyz, /metrics). */
  static probesOf(service: ServiceProcess): string {
    return String(service.lines.find((l) => l.msg === 'probes listening')?.['address']);
  }

  /** The id a worker process logged when it started serving. */
  static workerIdOf(worker: ServiceProcess): string {
    return String(worker.lines.find((l) => l.msg === 'serving')?.['workerId']);
  }

  /** Stops every process (SIGTERM, then SIGKILL past the deadline) and drops the database. */
  async stop(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop('SIGTERM')));
    await this.dropDatabase();
  }
}
