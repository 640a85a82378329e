/**
 * Creates test/fuzz/.venv and installs schemathesis into it, pinned in
 * requirements.txt. Idempotent: does nothing while the install is newer than
 * requirements.txt (as libs/sdk-python/scripts/setup.sh does for its venv).
 * Run directly (`npx tsx test/fuzz/setup.ts`) or through `ensureSchemathesis()`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';


const venv = join(__dirname, '.venv');
const requirements = join(__dirname, 'requirements.txt');
const stamp = join(venv, '.setup-stamp');
/** schemathesis 4 runs on Python 3.9 or later. */
const MIN_PYTHON: readonly [number, number] = [3, 9];

/** The schemathesis executable, installed first if the venv is missing or older than requirements.txt. */
export function ensureSchemathesis(): string {
  const bin = join(venv, 'bin', 'schemathesis');
  if (existsSync(bin) && existsSync(stamp) && statSync(stamp).mtimeMs > statSync(requirements).mtimeMs) return bin;
  const python = process.env['PYTHON'] ?? 'python3';
  const version = execFileSync(python, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' }).trim();
  const [major, minor] = version.split('.').map(Number) as [number, number];
  if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])) {
    throw new Error(`fuzz: schemathesis needs Python ${MIN_PYTHON.join('.')} or later; ${python} is ${version}. Set PYTHON=python3.x.`);
  }
  if (!existsSync(join(venv, 'bin', 'python'))) execFileSync(python, ['-m', 'venv', venv], { stdio: 'inherit' });
  execFileSync(join(venv, 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', requirements], { stdio: 'inherit' });
  writeFileSync(stamp, '');
  console.log('fuzz: .venv ready');
  return bin;
}

if (require.main === module) {
  console.log(`fuzz: ${ensureSchemathesis()}`);
}
