import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ComposeError } from './errors';
import type { InfraReporter } from './reporter';
import { runTool } from './run-tool';
import type { InfraSettings } from './settings';
import { stateFile, type InfraLayout } from './state-dir';

/** An image pull on a slow network must not hang npm test forever. */
const COMPOSE_TIMEOUT_MS = 600_000;
/** A client pointed at a dead socket or a remote host can hang: ask for an answer within 5 s. */
const PROBE_TIMEOUT_MS = 5_000;

/** The Compose services of each component (Redpanda with its Console, PostgreSQL 16). */
export const COMPOSE_SERVICES = { kafka: ['redpanda', 'console'], postgres: ['postgres'] } as const;

/**
 * This checkout's Docker Compose project (`chute-<hash>`), used when a Docker
 * engine answers. `.infra/docker` records that it was started, before it is,
 * so infra:down also cleans up a start that failed half way.
 */
export class DockerCompose {
  private readonly marker: string;

  constructor(
    private readonly layout: InfraLayout,
    private readonly settings: InfraSettings,
    private readonly reporter: InfraReporter,
    /** The compose file. @default `<root>/infra/docker-compose.yml` */
    private readonly composeFile: string = path.join(layout.root, 'infra', 'docker-compose.yml'),
  ) {
    this.marker = layout.state('docker');
  }

  /** A Docker engine that answers quickly, and the Compose plugin to drive it. */
  static available(): boolean {
    const answers = (args: string[]) => spawnSync('docker', args, { stdio: 'ignore', timeout: PROBE_TIMEOUT_MS }).status === 0;
    return answers(['info']) && answers(['compose', 'version']);
  }

  /** Whether this checkout's project was started (and not yet brought down). */
  started(): boolean {
    return existsSync(this.marker);
  }

  /** Records the project as started: called before `up`, see the class comment. */
  record(): void {
    stateFile.write(this.marker, this.layout.composeProject);
  }

  /**
   * Brings `services` up and waits for their health checks (rpk cluster health; pg_isready on the chute db).
   * @throws ComposeError with the services' logs shown
   */
  async up(services: readonly string[]): Promise<void> {
    this.reporter.info(`a Docker engine answers: starting ${services.join(' ')} with infra/docker-compose.yml (project ${this.layout.composeProject})`);
    if ((await this.compose(['up', '-d', '--wait', ...services])) !== 0) {
      await this.compose(['logs', '--tail', '30', ...services]);
      throw new ComposeError(`docker compose did not bring up ${services.join(' ')} (logs above)`);
    }
  }

  /**
   * Brings the project down and deletes its volumes: restarting Redpanda and
   * PostgreSQL on their volumes is not done (nor tested without a Docker engine here).
   * @returns whether there was a project to bring down
   * @throws ComposeError, keeping `.infra/docker` so a retry finds the project
   */
  async down(): Promise<boolean> {
    if (!this.started()) return false;
    this.reporter.info(`stopping the Docker Compose project ${stateFile.read(this.marker)} and deleting its volumes`);
    if ((await this.compose(['down', '-v', '--remove-orphans'])) !== 0) {
      throw new ComposeError('docker compose down failed; .infra/docker is kept so you can retry');
    }
    stateFile.remove(this.marker);
    return true;
  }

  /** docker compose on this checkout's project; the ports are interpolated into the compose file. */
  private async compose(args: string[]): Promise<number | null> {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      CHUTE_INFRA_KAFKA_PORT: String(this.settings.kafkaPort),
      CHUTE_INFRA_PG_PORT: String(this.settings.pgPort),
      CHUTE_INFRA_CONSOLE_PORT: String(this.settings.consolePort),
    };
    const result = await runTool('docker', ['compose', '-p', this.layout.composeProject, '-f', this.composeFile, ...args], {
      env,
      timeoutMs: COMPOSE_TIMEOUT_MS,
      onOutput: (text) => this.reporter.output(text),
    });
    return result.code;
  }
}
