import { randomBytes } from 'node:crypto';
import { AuthKeys, mintToken } from '@chute/auth';
import { createPgliteDb, type PgliteDb } from '@chute/db';
import { DemoEnv, DemoServer } from '@chute/demo-app';
import { GatewayEnv, GatewayServer } from '@chute/gateway';
import { EmbeddedLog } from '@chute/log';
import { ProjectorEnv, ProjectorService } from '@chute/projector';
import { ConfigError, Lifecycle, parseEnv, type Component, type Logger } from '@chute/runtime';
import { SchedulerEnv, Scheduler } from '@chute/scheduler';
import { WorkerEnv, WorkerService } from '@chute/worker';

/** What the banner shows once everything answers. */
export interface DevPlatformReady {
  gatewayUrl: string;
  demoUrl: string;
  token: string;
}

/** A port another process holds: the one line says which, and which variable moves ours. */
function portTaken(error: unknown, port: number, variable: string): never {
  if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    throw new ConfigError(`port ${port} is in use: stop what holds it, or set ${variable} to another port`);
  }
  throw error;
}

/**
 * The whole platform in this process, with only Node: the embedded log and
 * PGlite (both in memory, so the log and the read model always agree: every
 * start is fresh), the scheduler, the projector, the gateway (auth on, with a
 * key made for this start and a dev token minted from it), the example worker
 * and the demo app. Each service is the deployable one, on its own client of
 * the shared log.
 */
export class DevPlatform implements Component {
  private readonly lifecycle = new Lifecycle();
  private readonly started: Component[] = [];
  private pglite: PgliteDb | undefined;

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly logger: Logger,
    private readonly onReady: (ready: DevPlatformReady) => void,
  ) {}

  start(): Promise<void> {
    return this.lifecycle.start(async () => {
      const log = new EmbeddedLog();
      const pglite = (this.pglite = await createPgliteDb());
      const { secret, token } = await devCredentials();
      const gatewayPort = Number(this.env['CHUTE_GATEWAY_PORT'] ?? 8080);
      const demoPort = Number(this.env['CHUTE_DEMO_PORT'] ?? 8000);
      const env: NodeJS.ProcessEnv = { ...this.env, CHUTE_PROBE_PORT: '0' };
      const service = (name: string): Logger => this.logger.child({ service: name });

      const projector = new ProjectorService(parseEnv(ProjectorEnv, env), service('projector'), { log: log.connect(), db: pglite.db });
      const scheduler = new Scheduler(parseEnv(SchedulerEnv, env), service('scheduler'), { log: log.connect() });
      const gateway = new GatewayServer(
        parseEnv(GatewayEnv, {
          ...env,
          CHUTE_AUTH_SECRET: secret,
          CHUTE_CORS_ORIGINS: env['CHUTE_CORS_ORIGINS'] ?? `http://127.0.0.1:${demoPort},http://localhost:${demoPort}`,
        }),
        service('gateway'),
        { log: log.connect(), db: pglite.db },
      );
      const worker = new WorkerService(parseEnv(WorkerEnv, env), service('worker'), { log: () => log.connect() });
      // The projector first: it migrates the read model the gateway reads.
      await this.run(projector);
      await this.run(scheduler);
      await this.run(gateway).catch((error: unknown) => portTaken(error, gatewayPort, 'CHUTE_GATEWAY_PORT'));
      await this.run(worker);
      const gatewayUrl = gateway.address();
      const demo = new DemoServer(parseEnv(DemoEnv, { ...env, CHUTE_GATEWAY_URL: gatewayUrl, CHUTE_TOKEN: token }), service('demo-app'));
      await this.run(demo).catch((error: unknown) => portTaken(error, demoPort, 'CHUTE_DEMO_PORT'));
      // The banner only once the gateway answers as ready: what it names works when it is printed.
      await untilAllAnswer([`${gatewayUrl}/readyz`], 30_000, 'the gateway did not become ready within 30 s');
      this.onReady({ gatewayUrl, demoUrl: demo.address(), token });
    });
  }

  stop(): Promise<void> {
    // The other way round: the demo and the worker first, the read model last.
    return this.lifecycle.stop(async () => {
      for (const component of this.started.reverse()) await component.stop();
      await this.pglite?.close();
    });
  }

  private async run(component: Component): Promise<void> {
    this.started.push(component);
    await component.start();
  }

}

/** A signing key made for this start, and a dev token with every scope signed by it. */
export async function devCredentials(): Promise<{ secret: string; token: string }> {
  const secret = `dev:${randomBytes(32).toString('base64url')}`;
  const token = await mintToken(AuthKeys.parse(secret), { tenant: 'default', scopes: ['runs:write', 'runs:read', 'stream:read', 'workers'], ttlMs: 30 * 86_400_000, subject: 'dev' });
  return { secret, token };
}

/** Resolves once every URL (a probe) answers 2xx, asking every 100 ms; throws `failure` once `withinMs` pass first. */
export async function untilAllAnswer(urls: readonly string[], withinMs: number, failure: string): Promise<void> {
  const deadline = Date.now() + withinMs;
  let waiting = [...urls];
  while (waiting.length > 0) {
    if (Date.now() > deadline) throw new Error(`${failure}: no answer from ${waiting.join(', ')}`);
    const answered = await Promise.all(waiting.map((url) => fetch(url, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false)));
    waiting = waiting.filter((_, i) => !answered[i]);
    if (waiting.length > 0) await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
