import { parseUpArgs, type Started } from './components';
import type { InfraAddresses } from './env-file';
import { InfraDown } from './down';
import type { InfraReporter } from './reporter';
import { settingsFromEnv } from './settings';
import { InfraLayout } from './state-dir';
import { InfraUp } from './up';

/** Options of an {@link InfraSession}. */
export interface InfraSessionOptions {
  /** The checkout's root: `.infra/` and `.cache/` live under it. */
  root: string;
  /** The environment: the addresses given, the ports, TMPDIR. @default process.env */
  env?: NodeJS.ProcessEnv;
  reporter: InfraReporter;
  /**
   * What stop() does with the data of what the session started empty: `wipe`
   * it (a test run's topics and databases are debris), or `keep` it (`chute
   * dev --kafka`: the next start resumes the same runs). Data the session
   * restarted on was there before it, and always stays.
   * @default 'wipe'
   */
  freshData?: 'wipe' | 'keep';
  /** How many Kafka brokers to start when none is given (3: a replicated cluster). @default 1 */
  brokers?: number;
}

type SessionState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

/**
 * The infrastructure for one session (`npm test`, the fault and fuzz suites,
 * the bench, `chute dev --kafka`): brought up unless both addresses are given,
 * and at stop, what this session started is stopped again (also after a start
 * that failed half way); what was already running is reused and left alone.
 */
export class InfraSession {
  private state: SessionState = 'idle';
  private starting: Promise<InfraAddresses> | undefined;
  private stopping: Promise<void> | undefined;
  private readonly env: NodeJS.ProcessEnv;
  /** What this session started itself. */
  readonly started: Started[] = [];
  /** Whether both addresses were given, so nothing was brought up. */
  given = false;

  constructor(private readonly options: InfraSessionOptions) {
    this.env = options.env ?? process.env;
  }

  /** Brings the infrastructure up; resolves with both addresses. Called again, returns the first call's promise. */
  start(signal?: AbortSignal): Promise<InfraAddresses> {
    if (this.state !== 'idle') return this.starting ?? Promise.reject(new Error(`InfraSession cannot start: ${this.state}`));
    this.state = 'starting';
    this.starting = this.startNow(signal).then(
      (addresses) => {
        if (this.state === 'starting') this.state = 'running';
        return addresses;
      },
      (error: unknown) => {
        this.state = 'stopped';
        throw error;
      },
    );
    return this.starting;
  }

  /** Stops what the session started. Idempotent: every call returns the first call's promise. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.state = 'stopping';
      // Let a start in flight settle first, so stop also stops what it started.
      await this.starting?.catch(() => undefined);
      try {
        await this.stopStarted();
      } finally {
        this.state = 'stopped';
      }
    })();
    return this.stopping;
  }

  private async startNow(signal?: AbortSignal): Promise<InfraAddresses> {
    const brokers = this.env['CHUTE_KAFKA_BROKERS'];
    const databaseUrl = this.env['CHUTE_DATABASE_URL'];
    if (brokers && databaseUrl) {
      this.given = true;
      return { brokers, databaseUrl };
    }
    const settings = settingsFromEnv(this.env);
    const up = new InfraUp(new InfraLayout(this.options.root, settings.tempDir), settings, this.options.reporter);
    const { addresses } = await up.run({ components: parseUpArgs([]), brokers: this.options.brokers ?? 1, onStarted: (s) => this.started.push(s), ...(signal ? { signal } : {}) });
    return addresses;
  }

  private async stopStarted(): Promise<void> {
    if (this.started.length === 0) return;
    const settings = settingsFromEnv(this.env);
    const down = new InfraDown(new InfraLayout(this.options.root, settings.tempDir), settings, this.options.reporter);
    const wipeFresh = (this.options.freshData ?? 'wipe') === 'wipe';
    const unique = (list: Started[]) => [...new Set(list.map((s) => s.component))];
    const fresh = unique(this.started.filter((s) => wipeFresh && s.state === 'fresh'));
    const kept = unique(this.started.filter((s) => !(wipeFresh && s.state === 'fresh')));
    // Reported, not thrown: stopping the rest and ending the session matter more.
    const report = (error: unknown) => this.options.reporter.info(`error: ${(error as Error).message}`);
    if (fresh.length > 0) await down.run({ components: fresh, wipe: true }).catch(report);
    if (kept.length > 0) await down.run({ components: kept }).catch(report);
  }
}
