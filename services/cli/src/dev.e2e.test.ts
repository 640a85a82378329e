import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { ProgramProcess, Screen, repoRoot, waitFor } from '@chute/testing';

// `npx chute dev` (what `npm start` runs): the whole platform in one process
// with only Node, as a newcomer meets it. No broker, no PostgreSQL, no Java.

const bin = path.join(__dirname, '..', 'bin', 'chute.cjs');
const NODE_ONLY_PATH = mkdtempSync(path.join(tmpdir(), 'chute-node-only-'));
symlinkSync(process.execPath, path.join(NODE_ONLY_PATH, 'node'));
after(() => rmSync(NODE_ONLY_PATH, { recursive: true, force: true }));
/** The seed's text, as the example worker's stream-example streams it. */
const SEED_TEXT = `
Happy families are all alike; every unhappy family is unhappy in its own way.

Everything was in confusion in the Oblonskys' house. The wife had discovered that the husband was carrying on an intrigue with a French girl, who had been a governess in their family, and she had announced to her husband that she could not go on living in the same house with him.
`;
/** Nothing of a real deployment (npm test exports its broker's address): the quick start must not need any of it. */
const quickStartEnv = (extra: Record<string, string> = {}) => ({
  CHUTE_KAFKA_BROKERS: '',
  CHUTE_DATABASE_URL: '',
  CHUTE_GATEWAY_URL: '',
  CHUTE_TOKEN: '',
  // A PATH with node and nothing else: no Java, no PostgreSQL, no Docker within reach.
  PATH: NODE_ONLY_PATH,
  ...extra,
});

/** util-linux `script`, which runs a command on a pseudo-terminal of its own, and `stty` to size it; found on the test's PATH, not the quick start's. */
const onPath = (name: string) => {
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
};
const SCRIPT = onPath('script');
const STTY = onPath('stty');

/** Runs a chute command to its end, as a user at the checkout with nothing set. */
const chute = (args: string[]) => ProgramProcess.start(process.execPath, [bin, ...args], { cwd: repoRoot, env: quickStartEnv(), label: `chute ${args.join(' ')}` });

describe('chute dev: the one-process quick start', () => {
  let dev: ProgramProcess;
  let banner: { gateway: string; demo: string; token: string };

  before(async () => {
    dev = ProgramProcess.start(process.execPath, [bin, 'dev'], { cwd: repoRoot, env: quickStartEnv({ CHUTE_GATEWAY_PORT: '0', CHUTE_DEMO_PORT: '0' }), label: 'chute dev' });
    await waitFor(() => {
      if (!dev.running) throw new Error(`chute dev exited: ${dev.stderr}`);
      return dev.stdout.includes('Ctrl-C stops it.');
    }, { timeoutMs: 90_000, message: 'the banner' });
    banner = {
      gateway: /gateway\s+(http:\/\/\S+)/.exec(dev.stdout)![1]!,
      demo: /demo page\s+(http:\/\/\S+?)\/\s/.exec(dev.stdout)![1]!,
      token: /CHUTE_TOKEN=(\S+)/.exec(dev.stdout)![1]!,
    };
  });

  after(async () => {
    await dev?.stop('SIGKILL');
  });

  test('prints one short banner, and nothing else, once everything answers', async () => {
    assert.equal(dev.stdout.trim().split('\n').length, 6, dev.stdout);
    assert.match(dev.stdout, /in memory: every start is fresh/);
    assert.equal((await fetch(`${banner.gateway}/readyz`)).status, 200);
    assert.equal(dev.stderr, '', 'a healthy start warns of nothing');
  });

  test('curl -N on the demo streams the seed text; the dev token reads the run, no token is refused', async () => {
    const text = execFileSync('curl', ['-sSN', '--max-time', '60', `${banner.demo}/stream`], { encoding: 'utf8' });
    assert.equal(text, SEED_TEXT);
    assert.equal((await fetch(`${banner.gateway}/api/v1/runs`)).status, 401);
    const list = await fetch(`${banner.gateway}/api/v1/runs`, { headers: { authorization: `Bearer ${banner.token}` } });
    assert.equal(list.status, 200);
    assert.equal(((await list.json()) as { runs: Array<{ task: string }> }).runs[0]?.task, 'stream-example');
  });

  test('with no flags and no environment, the CLI finds the quick start: run --follow prints the seed text, runs list / get / cancel work', async () => {
    const run = chute(['run', 'stream-example', '--follow']);
    assert.equal(await run.exited, 0, run.stderr);
    assert.equal(run.stdout, SEED_TEXT);
    const runId = /run (\S+) of stream-example/.exec(run.stderr)![1]!;
    assert.match(run.stderr, /COMPLETED/);

    const list = chute(['runs', 'list', '--task', 'stream-example', '--json']);
    assert.equal(await list.exited, 0, list.stderr);
    assert.ok((JSON.parse(list.stdout) as Array<{ runId: string }>).some((r) => r.runId === runId));
    const table = chute(['runs', 'list']);
    assert.equal(await table.exited, 0, table.stderr);
    assert.match(table.stdout.split('\n')[0]!, /^RUN\s+TASK\s+STATUS\s+ATTEMPT\s+WORKER\s+CREATED$/);

    const get = chute(['runs', 'get', runId, '--json']);
    assert.equal(await get.exited, 0, get.stderr);
    assert.equal((JSON.parse(get.stdout) as { status: string }).status, 'COMPLETED');

    const sleeper = chute(['run', 'sleep', '--input', '{"ms":60000}']);
    await waitFor(() => /run (\S+) of sleep/.test(sleeper.stderr), { message: 'the sleep run to be triggered' });
    const sleepId = /run (\S+) of sleep/.exec(sleeper.stderr)![1]!;
    const cancel = chute(['runs', 'cancel', sleepId]);
    assert.equal(await cancel.exited, 0, cancel.stderr);
    assert.equal(await sleeper.exited, 1, 'a run that did not complete exits 1');
    assert.match(sleeper.stderr, /CANCELLED/);
  });

  test('on a terminal, run --follow shows a live status line (spinner, chunk count) and leaves on screen exactly the seed text and ✔ COMPLETED', async () => {
    // Stdout and stderr on one pseudo-terminal, as in a user's shell; sized, as a real one is, and wide enough that no row wraps.
    // util-linux's script gives the command a real pseudo-terminal (npm run setup installs it).
    assert.ok(SCRIPT && STTY, 'this test needs script and stty (Debian: bsdutils, coreutils): run npm run setup');
    const command = `${STTY} cols 400 rows 40; exec node ${bin} run stream-example --follow`;
    const run = ProgramProcess.start(SCRIPT!, ['-qfec', command, '/dev/null'], { cwd: repoRoot, env: quickStartEnv(), label: 'chute run --follow on a pty' });
    assert.equal(await run.exited, 0, run.stdout + run.stderr);
    assert.match(stripVTControlCharacters(run.stdout), /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] stream-example · (QUEUED|RUNNING) · \d+\.\d s · \d+ chunks?/, 'a spinner frame with the chunk count');
    const screen = new Screen(400);
    screen.write(run.stdout);
    const runId = /run (\S+) of stream-example/.exec(run.stdout)![1]!;
    const seen = screen.text();
    const end = seen.findIndex((row) => row.startsWith('✔'));
    assert.deepEqual(seen.slice(0, end), [`run ${runId} of stream-example`, ...SEED_TEXT.split('\n').slice(0, -1)], 'the seed text, whole, between the two status lines');
    assert.match(seen[end]!, /^✔ COMPLETED in \d+\.\d s · \d+ chunks$/);
    assert.ok(seen.slice(end + 1).every((row) => row === ''), `nothing after the final line: ${JSON.stringify(seen.slice(end + 1))}`);
  });

  test('an unknown run, or an unreachable gateway, is one clear line and exit code 1', async () => {
    const unknown = chute(['runs', 'get', '6f1c3c1e-9d8a-4a55-9a57-3f4c2b1a0d01']);
    assert.equal(await unknown.exited, 1);
    assert.equal(unknown.stderr.trim().split('\n').length, 1, unknown.stderr);
    assert.match(unknown.stderr, /^chute: the gateway answered 404 RUN_NOT_FOUND/);
    const away = chute(['runs', 'list', '--gateway', 'http://127.0.0.1:9']);
    assert.equal(await away.exited, 1);
    assert.equal(away.stderr.trim(), 'chute: the Chute gateway at http://127.0.0.1:9 did not answer: is it running? (npm start, or set CHUTE_GATEWAY_URL)');
  });

  test('Ctrl-C stops it cleanly (exit 0), leaving no process behind', async () => {
    const code = await dev.stop('SIGINT', 40_000);
    assert.equal(code, 0, dev.stderr);
  });
});

test('a port already in use is one line naming the port and the variable to change', async () => {
  const squatter = net.createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  const { port } = squatter.address() as net.AddressInfo;
  try {
    const dev = ProgramProcess.start(process.execPath, [bin, 'dev'], { cwd: repoRoot, env: quickStartEnv({ CHUTE_GATEWAY_PORT: String(port), CHUTE_DEMO_PORT: '0' }) });
    assert.equal(await dev.exited, 1);
    assert.equal(dev.stderr.trim(), `chute-dev: port ${port} is in use: stop what holds it, or set CHUTE_GATEWAY_PORT to another port`);
  } finally {
    await new Promise((resolve) => squatter.close(resolve));
  }
});
