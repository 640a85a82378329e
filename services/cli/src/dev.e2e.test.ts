import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { ProgramProcess, repoRoot, waitFor } from '@chute/testing';

// `npx chute dev` (what `npm start` runs): the whole platform in one process
// with only Node, as a newcomer meets it. No broker, no PostgreSQL, no Java.

const bin = path.join(__dirname, '..', 'bin', 'chute.cjs');
/** The seed's text, as the example worker's stream-example streams it. */
const SEED_TEXT = `
Happy families are all alike; every unhappy family is unhappy in its own way.

Everything was in confusion in the Oblonskys' house. The wife had discovered that the husband was carrying on an intrigue with a French girl, who had been a governess in their family, and she had announced to her husband that she could not go on living in the same house with him.
`;
/** Nothing of a real deployment (npm test exports its broker's address): the quick start must not need any of it. */
const quickStartEnv = (extra: Record<string, string>) => ({ CHUTE_KAFKA_BROKERS: '', CHUTE_DATABASE_URL: '', ...extra });

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
