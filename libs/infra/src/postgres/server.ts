import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { StartState } from '../components';
import { InitdbError, NotAnsweringError, PostgresDirUnreachableError, PostgresMissingError, PostgresStartError, PostgresUserMissingError, RunsOnOtherPortError } from '../errors';
import { fileTail } from '../log-tail';
import { pidIs, stopProcess, waitUntil } from '../processes';
import type { InfraReporter } from '../reporter';
import { runTool } from '../run-tool';
import { stateFile, type InfraLayout } from '../state-dir';

/** How long a start may take, in seconds. */
export const PG_DEADLINE_SECONDS = 60;
/** Where Debian installs each PostgreSQL major version. */
const DEBIAN_PG_ROOT = '/usr/lib/postgresql';
const KEPT_DATA_HINT = '; it started on kept data, which npm run infra:down -- --wipe deletes';

const isRoot = (): boolean => process.getuid?.() === 0;

/** The newest installed PostgreSQL's bin dir (Debian layout), or undefined. */
export function pgBinDir(): string | undefined {
  let versions: string[];
  try {
    versions = readdirSync(DEBIAN_PG_ROOT).filter((v) => existsSync(path.join(DEBIAN_PG_ROOT, v, 'bin', 'postgres')));
  } catch {
    return undefined;
  }
  const newest = versions.sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).at(-1);
  return newest === undefined ? undefined : path.join(DEBIAN_PG_ROOT, newest, 'bin');
}

/**
 * This checkout's PostgreSQL from Debian's package: initdb when it has no
 * usable cluster, pg_ctl start and stop, and the `chute` database. Run as the
 * postgres user when we are root (PostgreSQL will not run as root), with its
 * files under the temp dir (see InfraLayout.pgBase).
 */
export class PostgresServer {
  readonly files: {
    pid: string;
    port: string;
    /** The base dir up used (TMPDIR may differ between up and down). */
    base: string;
    bin: string;
    log: string;
    initdbLog: string;
  };
  private stopping: Promise<boolean> | undefined;

  constructor(
    private readonly layout: InfraLayout,
    readonly port: number,
    private readonly reporter: InfraReporter,
  ) {
    this.files = {
      pid: layout.state('postgres.pid'),
      port: layout.state('postgres.port'),
      base: layout.state('postgres.base'),
      bin: layout.state('postgres.bin'),
      log: layout.state('postgres.log'),
      initdbLog: layout.state('initdb.log'),
    };
  }

  /** The URL of the `chute` database on `port`. */
  static url(port: number): string {
    return `postgres://postgres@127.0.0.1:${port}/chute`;
  }

  /** The data dir named on our server's command line: the recorded base's, else the current one. */
  private marker(): string {
    return path.join(stateFile.read(this.files.base) ?? this.layout.pgBase, 'data');
  }

  /** The pid of this checkout's running server, or undefined. */
  pid(): number | undefined {
    const pid = stateFile.readNumber(this.files.pid);
    return pidIs(pid, this.marker()) ? pid : undefined;
  }

  recordedPort(): number | undefined {
    return stateFile.readNumber(this.files.port);
  }

  /**
   * A server of this checkout still running from its data dir after `.infra/`
   * was deleted (git clean -fdx). Its own postmaster.pid records its pid and port (lines 1 and 4).
   */
  leftover(): { pid: number; port: number } | undefined {
    const lines = (stateFile.read(path.join(this.layout.pgBase, 'data', 'postmaster.pid')) ?? '').split('\n');
    const pid = Number(lines[0]);
    if (!pidIs(pid, path.join(this.layout.pgBase, 'data'))) return undefined;
    return { pid, port: Number(lines[3]) };
  }

  /**
   * The kept cluster's pairing: the cluster id of the broker whose log it was
   * projected from ("none" when that broker was not ours), recorded after
   * initdb succeeded. A cluster made by another major version than the
   * installed one cannot be started, so it counts as none (undefined).
   */
  dataId(): string | undefined {
    const bin = pgBinDir();
    if (bin === undefined) return undefined;
    if (stateFile.read(path.join(this.layout.pgBase, 'data', 'PG_VERSION')) !== path.basename(path.dirname(bin))) return undefined;
    return stateFile.read(path.join(this.layout.pgBase, 'kafka-cluster')) || undefined;
  }

  /** Whether a cluster is kept under the current base dir. */
  hasData(): boolean {
    return existsSync(path.join(this.layout.pgBase, 'data'));
  }

  /**
   * Reuses this checkout's running server: on the wanted port, answering, with its `chute` database.
   * @throws RunsOnOtherPortError, NotAnsweringError
   */
  async reuse(signal?: AbortSignal): Promise<void> {
    const port = this.recordedPort();
    if (port !== this.port) throw new RunsOnOtherPortError('PostgreSQL', port ?? 0, this.port, 'CHUTE_INFRA_PG_PORT');
    this.reporter.info(`reusing this checkout's PostgreSQL (pid ${this.pid()}) on 127.0.0.1:${this.port}`);
    const bin = stateFile.read(this.files.bin) ?? pgBinDir() ?? '';
    if (!(await this.ensureChuteDb(bin, signal))) {
      throw new NotAnsweringError(`this checkout's PostgreSQL on 127.0.0.1:${this.port} does not answer; npm run infra:down, then up again`);
    }
  }

  /**
   * Starts the server (which must not run): on its kept cluster when there is
   * a usable one, else on a new one paired with the broker data `logId`.
   * `onSpawning` is called just before pg_ctl runs, so a caller can stop what
   * a failed start leaves.
   */
  async start(logId: string | undefined, onSpawning: (state: StartState) => void, signal?: AbortSignal): Promise<StartState> {
    stateFile.remove(this.files.pid, this.files.port); // stale: that process is gone
    const bin = pgBinDir();
    if (bin === undefined) throw new PostgresMissingError();
    if (isRoot() && spawnSync('id', ['postgres'], { stdio: 'ignore' }).status !== 0) throw new PostgresUserMissingError();
    const base = this.layout.pgBase;
    const data = path.join(base, 'data');

    // Our own leftover server (its pid file in .infra/ was lost): stop it before wiping its dir.
    const leftover = this.leftover();
    if (leftover !== undefined) {
      this.reporter.info(`stopping a leftover PostgreSQL of this checkout (pid ${leftover.pid})`);
      await this.pgCtlStop(bin, base, leftover.pid);
    }
    // Like the broker, a stopped server restarts on its kept cluster.
    const state: StartState = this.dataId() === undefined ? 'fresh' : 'kept';
    if (state === 'fresh') {
      rmSync(base, { recursive: true, force: true });
      mkdirSync(base, { recursive: true });
      if (isRoot()) {
        spawnSync('chown', ['postgres', base]);
        spawnSync('chmod', ['0700', base]);
        if (spawnSync(...asPostgres('test', ['-w', base])).status !== 0) throw new PostgresDirUnreachableError(base);
      }
      const initdb = await runTool(...asPostgres(path.join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync']), {
        outputFile: this.files.initdbLog,
      });
      if (initdb.code !== 0) {
        this.reporter.output(stateFile.read(this.files.initdbLog) ?? '');
        throw new InitdbError();
      }
      // Written last: it also marks the cluster as complete (see dataId).
      writeFileSync(path.join(base, 'kafka-cluster'), `${logId ?? 'none'}\n`);
    }
    rmSync(this.files.log, { force: true });
    symlinkSync(path.join(base, 'postgres.log'), this.files.log);
    stateFile.write(this.files.bin, bin);
    stateFile.write(this.files.base, base);
    stateFile.write(this.files.port, this.port);

    this.reporter.info(`starting PostgreSQL ${path.basename(path.dirname(bin))} on 127.0.0.1:${this.port}${state === 'fresh' ? ', empty' : ' on its kept data'}`);
    onSpawning(state); // from here on, a failure leaves something for infra:down to stop
    // fsync, synchronous_commit and full_page_writes off: this server holds
    // throwaway dev and test data only, and durability costs seconds per test run.
    // The socket goes to our own dir, not /var/run/postgresql, which may not exist.
    // detached (setsid): a Ctrl-C in the terminal must not reach the server; infra:down stops it.
    const options = `-p ${this.port} -k ${base} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300`;
    const started = await runTool(
      ...asPostgres(path.join(bin, 'pg_ctl'), ['-D', data, '-l', path.join(base, 'postgres.log'), '-w', '-t', String(PG_DEADLINE_SECONDS), '-o', options, 'start']),
      { detached: true },
    );
    const pid = stateFile.read(path.join(data, 'postmaster.pid'))?.split('\n')[0];
    if (pid) stateFile.write(this.files.pid, pid);
    if (started.code !== 0 || !(await this.ensureChuteDb(bin, signal))) {
      this.reporter.output(fileTail(path.join(base, 'postgres.log')));
      throw new PostgresStartError(
        `PostgreSQL did not start on 127.0.0.1:${this.port} (end of ${this.layout.shown(this.files.log)} above)${state === 'fresh' ? '' : KEPT_DATA_HINT}`,
      );
    }
    return state;
  }

  /**
   * Stops this checkout's server (pg_ctl's fast shutdown: clients, such as a
   * test that leaked a pool, are disconnected, not waited for), or a leftover
   * one, and forgets its pid. Keeps its cluster. Idempotent, like KafkaBroker.stop.
   * @returns whether something was stopped
   */
  stop(): Promise<boolean> {
    this.stopping ??= this.stopNow().finally(() => (this.stopping = undefined));
    return this.stopping;
  }

  private async stopNow(): Promise<boolean> {
    let stopped = false;
    const pid = this.pid();
    const leftover = pid === undefined ? this.leftover() : undefined;
    if (pid !== undefined) {
      this.reporter.info(`stopping PostgreSQL (pid ${pid})`);
      const base = stateFile.read(this.files.base) ?? this.layout.pgBase;
      await this.pgCtlStop(stateFile.read(this.files.bin) ?? pgBinDir() ?? '', base, pid);
      stopped = true;
    } else if (leftover !== undefined) {
      // .infra/ was deleted under a running server; its data dir still names it.
      this.reporter.info(`stopping a leftover PostgreSQL of this checkout (pid ${leftover.pid})`);
      await this.pgCtlStop(pgBinDir() ?? '', this.layout.pgBase, leftover.pid);
      stopped = true;
    } else if (existsSync(this.files.pid)) {
      this.reporter.info(`PostgreSQL (pid ${stateFile.read(this.files.pid)}) is no longer running; cleaning up its files`);
    }
    stateFile.remove(this.files.pid, this.files.port);
    return stopped;
  }

  /**
   * Deletes the cluster: the recorded base dir and the current one, only ever
   * one this checkout created (its name carries our hash). The server's log is
   * kept in `.infra/`, in place of the link to it.
   */
  wipe(): void {
    const recorded = stateFile.read(this.files.base);
    for (const dir of new Set([recorded, this.layout.pgBase])) {
      if (dir === undefined || !this.layout.isOurPgBase(dir) || !existsSync(dir)) continue;
      this.reporter.info(`deleting PostgreSQL's data (${dir})`);
      rmSync(this.files.log, { force: true });
      try {
        copyFileSync(path.join(dir, 'postgres.log'), this.files.log);
      } catch {
        // no log to keep
      }
      rmSync(dir, { recursive: true, force: true });
    }
    stateFile.remove(this.files.base, this.files.bin);
  }

  /** pg_ctl stop, then signals if the server outlives it. */
  private async pgCtlStop(bin: string, base: string, pid: number): Promise<void> {
    await runTool(...asPostgres(path.join(bin, 'pg_ctl'), ['-D', path.join(base, 'data'), '-m', 'fast', '-w', '-t', '30', 'stop']));
    if (pidIs(pid, path.join(base, 'data'))) await stopProcess('PostgreSQL', pid, 10, (m) => this.reporter.info(m));
  }

  /** Waits for the server to answer, then creates the `chute` database unless it exists. */
  private async ensureChuteDb(bin: string, signal?: AbortSignal): Promise<boolean> {
    const connection = ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', '-d', 'postgres'];
    const ready = async (): Promise<boolean> => (await runTool(path.join(bin, 'pg_isready'), ['-q', ...connection, '-t', '2'])).code === 0;
    if (!(await waitUntil(ready, PG_DEADLINE_SECONDS, signal))) return false;
    const psql = (sql: string) => runTool(path.join(bin, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', ...connection, '-At', '-c', sql]);
    const exists = await psql("select 1 from pg_database where datname = 'chute'");
    if (exists.code === 0 && exists.stdout.trim() === '1') return true;
    return (await psql('create database chute')).code === 0;
  }
}

/** A command run as the postgres user when we are root (PostgreSQL will not run as root); as it is otherwise. */
function asPostgres(command: string, args: string[]): [string, string[]] {
  return isRoot() ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
}
