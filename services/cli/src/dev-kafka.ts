import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DemoEnv } from '@chute/demo-app';
import { GatewayEnv } from '@chute/gateway';
import { ProjectorEnv } from '@chute/projector';
import { ConfigError, Lifecycle, logFormatFor, parseEnv, type Component } from '@chute/runtime';
import { LogEnv } from '@chute/log';
import { SchedulerEnv } from '@chute/scheduler';
import { WorkerEnv } from '@chute/worker';
import { devCredentials, untilAllAnswer, type DevPlatformReady } from './dev-platform';
import { untilBrokerServes } from './broker-readiness';
import { InfraSession } from './dev-infra';
import { ServiceProcesses, type ServiceSpec } from './service-processes';

const REPO = path.join(__dirname, '..', '..', '..');
/** The projector first: it migrates the read model's schema on start. */
const SERVICES = ['projector', 'scheduler', 'gateway', 'worker', 'demo-app'] as const;
/** A first start on a cold JVM broker may still be electing partition leaders: give it time. */
const READY_WITHIN_MS = 120_000;

export interface KafkaDevReady extends DevPlatformReady {
  /** Where the broker and database came from, for the banner. */
  infra: string;
  brokers: string;
  databaseUrl: string;
}

/**
 * `chute dev --kafka`: the platform as it is deployed, each service its own
 * process on a real broker and PostgreSQL (InfraSession), built first, with the
 * same dev key and token as the one-process quick start. Ready once every
 * service answers its readiness probe; a service that exits on its own ends it
 * (`onServiceExit`).
 */
export class KafkaDevPlatform implements Component {
  private readonly lifecycle = new Lifecycle();
  private readonly infra: InfraSession;
  private processes: ServiceProcesses | undefined;

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly write: (line: string) => void,
    private readonly onReady: (ready: KafkaDevReady) => void,
    private readonly onServiceExit: (name: string, code: number | null, signal: NodeJS.Signals | null) => void,
    /** How many Kafka brokers to start when none is given (`--brokers 3`: a replicated cluster). @default 1 */
    brokers = 1,
  ) {
    this.infra = new InfraSession(env, brokers);
  }

  start(): Promise<void> {
    return this.lifecycle.start(async () => {
      await this.infra.start();
      this.build();
      const { brokers, databaseUrl } = this.infra.addresses;
      const { secret, token } = await devCredentials();
      const demoPort = Number(this.env['CHUTE_DEMO_PORT'] ?? 8000);
      const shared: NodeJS.ProcessEnv = {
        ...this.env,
        CHUTE_KAFKA_BROKERS: brokers,
        CHUTE_DATABASE_URL: databaseUrl,
        CHUTE_AUTH_SECRET: secret,
        // The demo page reads its run's stream from the gateway itself: let the demo's origin call it.
        CHUTE_CORS_ORIGINS: this.env['CHUTE_CORS_ORIGINS'] ?? `http://127.0.0.1:${demoPort},http://localhost:${demoPort}`,
        // The services write to our pipe, not to the terminal: they log as the terminal would have them.
        CHUTE_LOG_FORMAT: logFormatFor(this.env, process.stdout),
      };
      await untilBrokerServes(parseEnv(LogEnv, shared));
      const gateway = parseEnv(GatewayEnv, shared);
      const gatewayUrl = `http://${gateway.CHUTE_GATEWAY_HOST}:${gateway.CHUTE_GATEWAY_PORT}`;
      const demoEnv = { ...shared, CHUTE_GATEWAY_URL: this.env['CHUTE_GATEWAY_URL'] || gatewayUrl, CHUTE_TOKEN: token };
      const demo = parseEnv(DemoEnv, demoEnv);
      const demoUrl = `http://127.0.0.1:${demo.CHUTE_DEMO_PORT}`;
      const probe = (port: number) => `http://127.0.0.1:${port}/readyz`;
      const readiness = [
        `${gatewayUrl}/readyz`,
        `${demoUrl}/healthz`,
        probe(parseEnv(ProjectorEnv, shared).CHUTE_PROBE_PORT),
        probe(parseEnv(SchedulerEnv, shared).CHUTE_PROBE_PORT),
        probe(parseEnv(WorkerEnv, shared).CHUTE_PROBE_PORT),
      ];
      const specs: ServiceSpec[] = SERVICES.map((name) => ({
        name,
        main: path.join(REPO, 'dist', 'services', name, 'main.js'),
        env: name === 'demo-app' ? demoEnv : shared,
      }));
      this.processes = new ServiceProcesses(specs, this.write, this.onServiceExit, process.stdout.isTTY === true);
      await this.processes.start();
      await untilAllAnswer(readiness, READY_WITHIN_MS, `the services did not all answer ready within ${READY_WITHIN_MS / 1000} s (their logs are above)`);
      this.onReady({ gatewayUrl, demoUrl, token, infra: this.infra.source, brokers, databaseUrl });
    });
  }

  stop(): Promise<void> {
    // The services first, while the broker they drain to still runs.
    return this.lifecycle.stop(async () => {
      await this.processes?.stop();
      await this.infra.stop();
    });
  }

  /** Each service's bundle, built by Nx (cached: quick when nothing changed); its output shown only if it fails. */
  private build(): void {
    const nx = path.join(REPO, 'node_modules', '.bin', 'nx');
    const built = spawnSync(nx, ['run-many', '-t', 'build', `--projects=${SERVICES.join(',')}`, '--outputStyle=static'], { cwd: REPO, encoding: 'utf8', env: this.env });
    if (built.status !== 0) {
      this.write(`${built.stdout}${built.stderr}`);
      throw new ConfigError('the services did not build (nx output above)');
    }
    const missing = SERVICES.filter((name) => !existsSync(path.join(REPO, 'dist', 'services', name, 'main.js')));
    if (missing.length > 0) throw new ConfigError(`the build left no dist/services/{${missing.join(',')}}/main.js`);
  }
}

/**
 * Runs the platform until Ctrl-C or SIGTERM (exit code 0) or until a service
 * exits on its own (exit code 1: the platform is not meant to end by itself),
 * stopping everything it started either way. Resolves with the exit code.
 */
export function runKafkaDev(env: NodeJS.ProcessEnv, onReady: (ready: KafkaDevReady) => void, brokers = 1): Promise<number> {
  return new Promise((resolve) => {
    let stopping: Promise<void> | undefined;
    const stopWith = (code: number) => {
      stopping ??= platform.stop().then(
        () => resolve(code),
        (error: unknown) => {
          process.stderr.write(`chute: stopping failed: ${error instanceof Error ? error.message : String(error)}\n`);
          resolve(1);
        },
      );
    };
    const platform = new KafkaDevPlatform(
      env,
      (line) => process.stdout.write(`${line}\n`),
      onReady,
      (name, code, signal) => {
        process.stderr.write(`chute: ${name} exited (${signal ?? `code ${code}`}); stopping the others\n`);
        stopWith(1);
      },
      brokers,
    );
    process.once('SIGINT', () => stopWith(0));
    process.once('SIGTERM', () => stopWith(0));
    platform.start().catch((error: unknown) => {
      process.stderr.write(`chute: ${error instanceof Error ? error.message : String(error)}\n`);
      stopWith(1);
    });
  });
}
