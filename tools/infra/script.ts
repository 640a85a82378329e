// What the infra entry points share: the checkout's root, how errors end a
// script, child processes, and the infrastructure for a test or bench script.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { describeStarted, InfraError, InfraSession, stderrReporter } from '@chute/infra';

/** The checkout's root: `.infra/` and `.cache/` live under it. */
export const root = path.resolve(__dirname, '..', '..');

/** The exit codes a shell gives a script ended by a signal. */
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

/**
 * Runs a script's `main` and exits with its status. An InfraError ends it with
 * "infra: error: <message>" and status 1; anything else is a bug, shown whole.
 */
export function runScript(main: () => Promise<number>): void {
  main().then(
    (status) => process.exit(status),
    (error: unknown) => {
      if (error instanceof InfraError) process.stderr.write(`infra: error: ${error.message}\n`);
      else console.error(error);
      process.exit(1);
    },
  );
}

/**
 * Runs a command in the foreground (a Ctrl-C in the terminal reaches it too)
 * and resolves with its exit status. With `teeTo`, its stdout and stderr both
 * go to our stdout and into that file (`2>&1 | tee file`).
 */
export function runCommand(command: string, args: readonly string[], options: { teeTo?: string; env?: NodeJS.ProcessEnv; quiet?: boolean } = {}): Promise<number> {
  return new Promise((resolve) => {
    const piped = options.teeTo !== undefined || options.quiet;
    const child = spawn(command, args, { cwd: root, env: options.env ?? process.env, stdio: ['inherit', piped ? 'pipe' : 'inherit', piped && !options.quiet ? 'pipe' : 'inherit'] });
    const file = options.teeTo === undefined ? undefined : createWriteStream(options.teeTo);
    const tee = (chunk: Buffer): void => {
      process.stdout.write(chunk);
      file?.write(chunk);
    };
    if (!options.quiet) {
      child.stdout?.on('data', tee);
      child.stderr?.on('data', tee);
    } else {
      child.stdout?.resume();
    }
    // A SIGTERM sent to this script alone is passed on (a Ctrl-C reaches the whole terminal group by itself).
    const forward = (): void => void child.kill('SIGTERM');
    process.on('SIGTERM', forward);
    child.once('error', (error) => process.stderr.write(`${command}: ${error.message}\n`));
    child.once('close', (code, signal) => {
      process.off('SIGTERM', forward);
      const done = (): void => resolve(code ?? (signal ? (SIGNAL_EXIT[signal as keyof typeof SIGNAL_EXIT] ?? 1) : 1));
      if (file) file.end(done);
      else done();
    });
  });
}

/** `tools/setup/main.ts --check <steps>`: what the script needs beyond npm ci, installed by `npm run setup`, never here. */
export function checkSetup(steps: readonly string[]): Promise<number> {
  return runCommand(process.execPath, ['--import', 'tsx', path.join(root, 'tools/setup/main.ts'), '--check', ...steps]);
}

/** The infrastructure a script runs on, and how it was found (for its first line). */
export interface ScriptInfra {
  brokers: string;
  databaseUrl: string;
  /** E.g. "started here: kafka (empty) postgres (empty) - stopped at exit". */
  source: string;
}

/**
 * The infrastructure for this script: brought up now (unless both addresses
 * are given), exported into the environment the script's commands get, and
 * what was started here stopped at exit - also on failure or Ctrl-C - with
 * the data of what it started empty wiped (a test run's topics and databases
 * are debris). Resolves with `body`'s exit status.
 */
export async function withInfra(body: (infra: ScriptInfra) => Promise<number>): Promise<number> {
  const session = new InfraSession({ root, env: process.env, reporter: stderrReporter, freshData: 'wipe' });
  const aborter = new AbortController();
  let interrupted: keyof typeof SIGNAL_EXIT | undefined;
  const onSignal = (signal: keyof typeof SIGNAL_EXIT) => () => {
    if (interrupted) return;
    interrupted = signal;
    // Aborts a start in flight (it stops what it started); a running command ends by the same Ctrl-C.
    aborter.abort();
  };
  const onInt = onSignal('SIGINT');
  const onTerm = onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    const addresses = await session.start(aborter.signal);
    process.env['CHUTE_KAFKA_BROKERS'] = addresses.brokers;
    process.env['CHUTE_DATABASE_URL'] = addresses.databaseUrl;
    const source = session.given
      ? 'given by the environment'
      : session.started.length > 0
        ? `started here: ${describeStarted(session.started)}- stopped at exit`
        : 'already running from npm run infra:up - left running';
    const status = await body({ brokers: addresses.brokers ?? '', databaseUrl: addresses.databaseUrl ?? '', source });
    return interrupted ? SIGNAL_EXIT[interrupted] : status;
  } catch (error) {
    if (interrupted) return SIGNAL_EXIT[interrupted];
    throw error;
  } finally {
    await session.stop();
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
