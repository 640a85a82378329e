import path from 'node:path';
import { InfraError, InfraSession as Session, stderrReporter } from '@chute/infra';
import { ConfigError, Lifecycle, type Component } from '@chute/runtime';

/** The checkout whose `.infra/` holds the broker and PostgreSQL this command starts. */
const ROOT = path.join(__dirname, '..', '..', '..');

/** The broker and database addresses the services are given. */
export interface InfraAddresses {
  readonly brokers: string;
  readonly databaseUrl: string;
}

/**
 * The broker and PostgreSQL for `chute dev --kafka`: the ones the environment
 * names, or this checkout's, brought up by @chute/infra (Docker Compose, or
 * Kafka and PostgreSQL on this machine). What it started is stopped at the end
 * with its data kept, so the next start resumes the same runs (`npm run
 * infra:down -- --wipe` deletes them); what was already running is left alone.
 */
export class InfraSession implements Component {
  private readonly lifecycle = new Lifecycle();
  private readonly session: Session;
  private found: InfraAddresses | undefined;
  /** How the addresses were found, for the banner. */
  source = '';

  /** `brokers`: how many Kafka brokers to start when none is given (3: a replicated cluster). */
  constructor(env: NodeJS.ProcessEnv, brokers = 1) {
    // Progress goes to stderr, shown: a first start may take a while.
    this.session = new Session({ root: ROOT, env, reporter: stderrReporter, freshData: 'keep', brokers });
  }

  get addresses(): InfraAddresses {
    if (!this.found) throw new Error('the infrastructure is not up yet');
    return this.found;
  }

  start(): Promise<void> {
    return this.lifecycle.start(async () => {
      let addresses;
      try {
        addresses = await this.session.start();
      } catch (error) {
        if (error instanceof InfraError) throw new ConfigError(`the broker and PostgreSQL could not be brought up: ${error.message}`);
        throw error;
      }
      if (!addresses.brokers || !addresses.databaseUrl) throw new ConfigError(`the infrastructure gave no ${addresses.brokers ? 'CHUTE_DATABASE_URL' : 'CHUTE_KAFKA_BROKERS'}`);
      this.found = { brokers: addresses.brokers, databaseUrl: addresses.databaseUrl };
      const started = this.session.started;
      this.source = this.session.given
        ? 'given by the environment'
        : started.length === 0
          ? 'already running (npm run infra:up): left running'
          : `started here (${started.map(({ component, state }) => `${component}, ${state === 'fresh' ? 'empty' : 'on its kept data'}`).join('; ')}): stopped at exit, data kept`;
    });
  }

  stop(): Promise<void> {
    return this.lifecycle.stop(() => this.session.stop());
  }
}
