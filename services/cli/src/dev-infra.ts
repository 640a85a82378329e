import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, Lifecycle, type Component } from '@chute/runtime';

const SCRIPTS = path.join(__dirname, '..', '..', '..', 'infra', 'scripts');

/** The broker and database addresses the services are given. */
export interface InfraAddresses {
  readonly brokers: string;
  readonly databaseUrl: string;
}

/**
 * The broker and PostgreSQL for `chute dev --kafka`: the ones the environment
 * names, or this checkout's, brought up by `infra/scripts/up.sh` (Docker
 * Compose, or Kafka and PostgreSQL on this machine). What up.sh started is
 * stopped at the end with its data kept, so the next start resumes the same
 * runs (`npm run infra:down -- --wipe` deletes them); what was already running
 * is left alone.
 */
export class InfraSession implements Component {
  private readonly lifecycle = new Lifecycle();
  private startedFile: string | undefined;
  private found: InfraAddresses | undefined;
  /** How the addresses were found, for the banner. */
  source = '';

  constructor(private readonly env: NodeJS.ProcessEnv) {}

  get addresses(): InfraAddresses {
    if (!this.found) throw new Error('the infrastructure is not up yet');
    return this.found;
  }

  start(): Promise<void> {
    return this.lifecycle.start(async () => {
      const brokers = this.env['CHUTE_KAFKA_BROKERS'];
      const databaseUrl = this.env['CHUTE_DATABASE_URL'];
      if (brokers && databaseUrl) {
        this.found = { brokers, databaseUrl };
        this.source = 'given by the environment';
        return;
      }
      const dir = mkdtempSync(path.join(tmpdir(), 'chute-dev-'));
      this.startedFile = path.join(dir, 'started');
      // up.sh reports on stderr (shown: it may take a while on a first start) and prints the addresses on stdout.
      const up = spawnSync('bash', [path.join(SCRIPTS, 'up.sh')], {
        env: { ...this.env, CHUTE_INFRA_STARTED_FILE: this.startedFile },
        stdio: ['ignore', 'pipe', 'inherit'],
        encoding: 'utf8',
      });
      if (up.status !== 0) throw new ConfigError('the broker and PostgreSQL could not be brought up (infra/scripts/up.sh, above)');
      const exported = parseExports(up.stdout);
      this.found = {
        brokers: brokers || required(exported, 'CHUTE_KAFKA_BROKERS'),
        databaseUrl: databaseUrl || required(exported, 'CHUTE_DATABASE_URL'),
      };
      const started = this.started();
      this.source = started.length === 0 ? 'already running (npm run infra:up): left running' : `started here (${started.map(([c, state]) => `${c}, ${state === 'fresh' ? 'empty' : 'on its kept data'}`).join('; ')}): stopped at exit, data kept`;
    });
  }

  stop(): Promise<void> {
    return this.lifecycle.stop(async () => {
      if (!this.startedFile) return;
      const components = [...new Set(this.started().map(([component]) => component))];
      if (components.length > 0) spawnSync('bash', [path.join(SCRIPTS, 'down.sh'), ...components], { stdio: ['ignore', 'ignore', 'inherit'] });
      rmSync(path.dirname(this.startedFile), { recursive: true, force: true });
    });
  }

  /** What up.sh started itself: "component fresh|kept" lines. */
  private started(): Array<[string, string]> {
    let text = '';
    try {
      text = readFileSync(this.startedFile!, 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(' ') as [string, string]);
  }
}

/** up.sh's stdout: `export NAME='value'` lines, single-quoted for a shell. */
export function parseExports(text: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^export (\w+)='(.*)'$/.exec(line.trim());
    if (match) found.set(match[1]!, match[2]!.replaceAll(`'\\''`, `'`));
  }
  return found;
}

function required(exported: Map<string, string>, name: string): string {
  const value = exported.get(name);
  if (!value) throw new ConfigError(`infra/scripts/up.sh gave no ${name}`);
  return value;
}
