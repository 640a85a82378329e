import { spawnSync } from 'node:child_process';

/** A failed setup action, with the line a person can act on. */
export class SetupError extends Error {
  override readonly name = 'SetupError';
}

/** True when `command` resolves on PATH (or is an existing path). */
export function commandExists(command: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', command], { stdio: 'ignore' }).status === 0;
}

/** True when Debian's package database says `name` is installed. */
export function debianPackageInstalled(name: string): boolean {
  const query = spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' });
  return query.status === 0 && query.stdout.includes('install ok installed');
}

// What infra:up itself checks (the java on PATH, Debian's newest PostgreSQL), from the library that runs them.
export { javaMajor, pgBinDir as postgresBinDir } from '@chute/infra';

/** Runs a command with its output shown; throws a SetupError naming it when it fails. */
export function run(file: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): void {
  const result = spawnSync(file, args, { stdio: 'inherit', cwd: options.cwd, env: { ...process.env, ...options.env } });
  if (result.error) throw new SetupError(`${file}: ${result.error.message}`);
  if (result.status !== 0) throw new SetupError(`${[file, ...args].join(' ')} exited with ${result.status ?? result.signal}`);
}


/** Runs `command` as root: as it is when we are root, through sudo otherwise. */
export function runAsRoot(command: readonly [string, ...string[]]): void {
  if (process.getuid?.() === 0) return run(command[0], command.slice(1));
  if (!commandExists('sudo')) throw new SetupError('installing Debian packages needs root: run as root, or install sudo');
  run('sudo', command);
}

/** True when the command runs and exits 0 (its output discarded). */
export function succeeds(file: string, args: readonly string[]): boolean {
  return spawnSync(file, args, { stdio: 'ignore' }).status === 0;
}
