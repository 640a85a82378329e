import type { StoppableComponent } from './components';
import { DockerCompose } from './docker';
import { KafkaCluster } from './kafka/cluster';
import { PostgresServer } from './postgres/server';
import type { InfraReporter } from './reporter';
import type { InfraSettings } from './settings';
import { stateFile, type InfraLayout } from './state-dir';

/** What `infra:down` is asked to do. */
export interface DownRequest {
  /** In this order. */
  components: readonly StoppableComponent[];
  /** Delete the data as well (Docker's volumes always go). @default false */
  wipe?: boolean;
}

/**
 * `infra:down`: stops exactly what infra:up started in this checkout, found
 * through what it recorded in `.infra/` (pids checked against their command
 * lines, or this checkout's Compose project), and nothing else: a broker or
 * database started by hand or by another checkout is never touched. The data
 * is kept for the next up to restart on unless `wipe`.
 */
export class InfraDown {
  private readonly docker: DockerCompose;
  /** Every broker whose folder this checkout has: one, or a cluster's. */
  private readonly kafka: KafkaCluster;
  private readonly postgres: PostgresServer;

  constructor(
    private readonly layout: InfraLayout,
    settings: InfraSettings,
    private readonly reporter: InfraReporter,
  ) {
    this.docker = new DockerCompose(layout, settings, reporter);
    this.kafka = KafkaCluster.ofFolders(layout, settings.kafkaPort, reporter);
    this.postgres = new PostgresServer(layout, settings.pgPort, reporter);
  }

  async run({ components, wipe = false }: DownRequest): Promise<void> {
    let stopped = false;
    const kept: string[] = []; // the data left for the next up, named in the last message
    for (const component of components) {
      switch (component) {
        case 'docker':
          stopped = (await this.docker.down()) || stopped;
          break;
        case 'kafka':
          stopped = (await this.kafka.stop()) || stopped;
          if (!this.kafka.hasData()) break;
          if (wipe) this.kafka.wipe();
          else kept.push("Kafka's log");
          break;
        case 'postgres':
          stopped = (await this.postgres.stop()) || stopped;
          // Kept: the cluster, and postgres.base saying where it is (for a later --wipe).
          if (wipe) this.postgres.wipe();
          else if (this.postgres.hasData()) kept.push("PostgreSQL's cluster");
          break;
        default: {
          const exhaustive: never = component;
          throw new Error(`unknown component ${String(exhaustive)}`);
        }
      }
    }
    // The addresses are stale once nothing of ours runs any more.
    if (!this.docker.started() && this.kafka.running().length === 0 && this.postgres.pid() === undefined) {
      stateFile.remove(this.layout.state('env'));
    }
    if (!stopped) this.reporter.info("nothing of this checkout's was running");
    if (kept.length > 0) {
      this.reporter.info(`kept ${kept.join(' and ')} for the next up to restart on (npm run infra:down -- --wipe deletes it)`);
    }
  }
}
