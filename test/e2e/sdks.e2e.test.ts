import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Chute } from '@chute/sdk';
import { freePort, Platform, ProgramProcess, repoRoot, waitFor } from '@chute/testing';

// The seed's examples in Python, Go and Ruby, each SDK's worker connected to
// the real gateway over the worker protocol, consumed by that language's
// consumer, by another language's, and proxied to curl -N.

/** The seed's text, which every language's task streams ten characters at a time. */
const SEED_TEXT = `
Happy families are all alike; every unhappy family is unhappy in its own way.

Everything was in confusion in the Oblonskys' house. The wife had discovered that the husband was carrying on an intrigue with a French girl, who had been a governess in their family, and she had announced to her husband that she could not go on living in the same house with him.
`;

const sdk = (name: string): string => path.join(repoRoot, 'libs', name);
const python = path.join(sdk('sdk-python'), '.venv', 'bin', 'python');

/** Until something accepts connections on the port (or the program serving it has exited). */
async function listening(port: number, program: ProgramProcess): Promise<void> {
  await waitFor(
    () => {
      if (!program.running) throw new Error(`${program.label} exited: ${program.stderr.slice(-2000)}`);
      return new Promise<boolean>((resolve) => {
        const socket = net.connect(port, '127.0.0.1', () => {
          socket.destroy();
          resolve(true);
        });
        socket.on('error', () => resolve(false));
      });
    },
    { timeoutMs: 30_000, message: `${program.label} to listen on ${port}` },
  );
}

describe('SDKs in Python, Go and Ruby against the real gateway', () => {
  let platform: Platform;
  let env: Record<string, string>;
  let goBin: string;
  const programs: ProgramProcess[] = [];

  const start = (command: string, args: string[], cwd: string, extra: Record<string, string> = {}): ProgramProcess => {
    const program = ProgramProcess.start(command, args, { cwd, env: { ...env, ...extra } });
    programs.push(program);
    return program;
  };
  /** Runs a program to its end and gives its stdout. */
  const run = (command: string, args: string[], cwd: string): Promise<string> => start(command, args, cwd).output();
  const curl = (port: number): Promise<string> => run('curl', ['-N', '-s', '--fail', `http://127.0.0.1:${port}/stream`], repoRoot);

  before(async () => {
    platform = await Platform.start({ workers: 1 });
    env = { CHUTE_GATEWAY_URL: platform.gatewayUrl };
    goBin = mkdtempSync(path.join(tmpdir(), 'chute-go-'));
    execFileSync('go', ['build', '-o', `${goBin}/`, './examples/...'], { cwd: sdk('sdk-go'), stdio: 'inherit' });
  });

  after(async () => {
    await Promise.all(programs.map((p) => p.stop('SIGKILL')));
    await platform?.stop();
    if (goBin) rmSync(goBin, { recursive: true, force: true });
  });

  describe('Python', () => {
    const examples = path.join(sdk('sdk-python'), 'examples');
    let worker: ProgramProcess;
    before(() => {
      worker = start(python, ['seed_worker.py'], examples);
    });
    after(async () => {
      assert.equal(await worker.stop('SIGTERM'), 0, 'the worker drains and exits 0 on SIGTERM');
    });

    test("the seed's task on a Python worker, consumed by the seed's Python consumer, prints the seed's text", async () => {
      assert.equal(await run(python, ['seed_consumer.py'], examples), SEED_TEXT);
    });

    test("the seed's FastAPI proxy streams the text to curl -N", async () => {
      const port = await freePort();
      const proxy = start(python, ['-m', 'uvicorn', 'seed_proxy:app', '--host', '127.0.0.1', '--port', String(port)], examples);
      await listening(port, proxy);
      assert.equal(await curl(port), SEED_TEXT);
    });

    test('a Python task consumed by the TypeScript SDK', async () => {
      const chute = Chute.init({ gatewayUrl: platform.gatewayUrl });
      const task = chute.task({ name: 'stream_task', fn: () => undefined });
      const ref = await task.runNoWait({});
      let text = '';
      for await (const chunk of chute.runs.subscribeToStream(await ref.getWorkflowRunId())) text += chunk;
      assert.equal(text, SEED_TEXT);
    });
  });

  describe('Go', () => {
    let worker: ProgramProcess;
    before(() => {
      worker = start(path.join(goBin, 'seed-worker'), [], sdk('sdk-go'));
    });
    after(async () => {
      assert.equal(await worker.stop('SIGTERM'), 0, 'the worker drains and exits 0 on SIGTERM');
    });

    test("the seed's task on a Go worker, consumed by the seed's Go consumer, prints the seed's text", async () => {
      assert.equal(await run(path.join(goBin, 'seed-consumer'), [], sdk('sdk-go')), `${SEED_TEXT}\nStreaming completed!\n`);
    });

    test("the seed's net/http proxy streams the text to curl -N", async () => {
      const port = await freePort();
      const proxy = start(path.join(goBin, 'seed-proxy'), [], sdk('sdk-go'), { PORT: String(port) });
      await listening(port, proxy);
      assert.equal(await curl(port), SEED_TEXT);
    });
  });

  describe('Ruby', () => {
    const examples = path.join(sdk('sdk-ruby'), 'examples');
    let worker: ProgramProcess;
    before(() => {
      worker = start('ruby', ['-I../lib', 'seed_worker.rb'], examples);
    });
    after(async () => {
      assert.equal(await worker.stop('SIGTERM'), 0, 'the worker drains and exits 0 on SIGTERM');
    });

    test("the seed's task on a Ruby worker, consumed by the seed's Ruby consumer, prints the seed's text", async () => {
      // The seed's Ruby task splits with scan(/.{1,10}/), whose `.` does not match a newline: its chunks carry the text without them.
      assert.equal(await run('ruby', ['-I../lib', 'seed_consumer.rb'], examples), SEED_TEXT.replaceAll('\n', ''));
    });
  });

  test('a TypeScript task consumed by the Go and the Ruby SDKs', async () => {
    const [go, ruby] = await Promise.all([
      run(path.join(goBin, 'consume'), ['stream-example'], sdk('sdk-go')),
      run('ruby', ['-I../lib', 'consume.rb', 'stream-example'], path.join(sdk('sdk-ruby'), 'examples')),
    ]);
    assert.equal(go, SEED_TEXT);
    assert.equal(ruby, SEED_TEXT);
  });
});
