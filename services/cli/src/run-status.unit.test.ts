import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import readline from 'node:readline';
import { Writable } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import type { RunView } from '@chute/schemas';
import { Screen } from '@chute/testing';
import { RunStatusLine, formatElapsed } from './run-status';

/** A writable that records what it is given; as a terminal, it also draws it on a Screen (its own, or one it shares). */
class FakeStream extends Writable {
  written = '';
  isTTY: boolean;
  columns = 80;
  rows = 24;
  constructor(options: { tty: boolean; screen?: Screen }) {
    super({ decodeStrings: false });
    this.isTTY = options.tty;
    this.screen = options.screen;
  }
  readonly screen: Screen | undefined;
  override _write(chunk: unknown, _encoding: BufferEncoding, callback: () => void): void {
    const text = Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk);
    this.written += text;
    this.screen?.write(text);
    callback();
  }
  cursorTo(x: number, y?: number, callback?: () => void): boolean {
    return readline.cursorTo(this, x, y, callback);
  }
  moveCursor(dx: number, dy: number, callback?: () => void): boolean {
    return readline.moveCursor(this, dx, dy, callback);
  }
  clearLine(dir: -1 | 0 | 1, callback?: () => void): boolean {
    return readline.clearLine(this, dir, callback);
  }
}

const runView = (status: RunView['status'], error: RunView['error'] = null): RunView => ({
  runId: 'r-1',
  task: 'stream-example',
  status,
  input: null,
  output: null,
  error,
  attempt: 1,
  retries: 0,
  workerId: 'w-1',
  createdAt: '2026-11-25T00:00:00.000Z',
  updatedAt: '2026-11-25T00:00:00.000Z',
  startedAt: null,
  finishedAt: null,
});

/** A clock the test moves. */
const clock = () => {
  let ms = 0;
  return { now: () => ms, advance: (by: number) => (ms += by) };
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
// Pieces without newlines, and a newline in the middle of a piece, as an LLM's tokens come.
const CHUNKS = ['Happy fam', 'ilies are', ' all alike;\n', 'every unhappy', ' family\nis unhappy in its own', ' way', '.'];
const TEXT = CHUNKS.join('');
const ANSI = /\u001B\[/;

describe('RunStatusLine', () => {
  // A failed assertion must not leave a spinner's timer keeping the test process alive.
  const lines: RunStatusLine[] = [];
  const track = (line: RunStatusLine) => (lines.push(line), line);
  afterEach(() => lines.splice(0).forEach((line) => line.stop()));

  test('stdout and stderr on one terminal: stdout gets exactly the stream, and the screen shows the text, then the final line, with no spinner left', async () => {
    const screen = new Screen(80);
    const stdout = new FakeStream({ tty: true, screen });
    const stderr = new FakeStream({ tty: true, screen });
    const time = clock();
    const line = track(new RunStatusLine(stdout, stderr, { runId: 'r-1', task: 'stream-example', follow: true, now: time.now }));
    line.start();
    for (const chunk of CHUNKS.slice(0, 5)) {
      time.advance(400);
      line.chunk(chunk);
    }
    await sleep(150); // a frame or more of ora's spinner
    // Mid-stream: whole lines stay; the unfinished one is drawn above the spinner, not written yet.
    assert.equal(stdout.written, 'Happy families are all alike;\nevery unhappy family\n');
    const live = screen.text();
    assert.deepEqual(live.slice(0, 4), ['run r-1 of stream-example', 'Happy families are all alike;', 'every unhappy family', 'is unhappy in its own']);
    assert.match(live[4]!, /^\S stream-example · RUNNING · 2\.0 s · 5 chunks$/);

    for (const chunk of CHUNKS.slice(5)) line.chunk(chunk);
    time.advance(2100);
    line.finish(runView('COMPLETED'));
    assert.equal(stdout.written, TEXT);
    assert.deepEqual(screen.text().filter((row) => row !== ''), [
      'run r-1 of stream-example',
      'Happy families are all alike;',
      'every unhappy family',
      'is unhappy in its own way.',
      '✔ COMPLETED in 4.1 s · 7 chunks',
    ]);
  });

  test('stdout piped, stderr a terminal: every chunk reaches stdout at once, exactly, while stderr shows the count and the time', async () => {
    const stdout = new FakeStream({ tty: false });
    const stderr = new FakeStream({ tty: true, screen: new Screen(80) });
    const time = clock();
    const line = track(new RunStatusLine(stdout, stderr, { runId: 'r-1', task: 'stream-example', follow: true, now: time.now }));
    line.start();
    let sent = '';
    for (const chunk of CHUNKS) {
      time.advance(500);
      line.chunk(chunk);
      sent += chunk;
      assert.equal(stdout.written, sent, 'nothing held back');
    }
    await sleep(150);
    assert.match(stripVTControlCharacters(stderr.written), /stream-example · RUNNING · 3\.5 s · 7 chunks/);
    line.finish(runView('FAILED', { name: 'Error', message: 'the model went away', nonRetryable: false }));
    assert.equal(stdout.written, TEXT);
    assert.equal(stderr.screen!.text().filter((row) => row !== '').at(-1), '✖ FAILED in 3.5 s · 7 chunks: Error: the model went away');
  });

  test('stderr not a terminal: the plain lines of a log, and not one escape code', async () => {
    const stdout = new FakeStream({ tty: true });
    const stderr = new FakeStream({ tty: false });
    const line = track(new RunStatusLine(stdout, stderr, { runId: 'r-1', task: 'stream-example', follow: true }));
    line.start();
    for (const chunk of CHUNKS) line.chunk(chunk);
    await sleep(150);
    line.finish(runView('COMPLETED'));
    assert.equal(stdout.written, TEXT);
    assert.equal(stderr.written, 'run r-1 of stream-example\n\nCOMPLETED\n');
    assert.doesNotMatch(stdout.written + stderr.written, ANSI);
  });

  test('a terminal of no width (a pty nobody sized) gets the plain lines, not a frame of infinitely many rows', () => {
    const stdout = new FakeStream({ tty: true });
    const stderr = new FakeStream({ tty: true });
    stderr.columns = 0;
    const line = track(new RunStatusLine(stdout, stderr, { runId: 'r-1', task: 'stream-example', follow: true }));
    assert.equal(line.live, false);
    line.start();
    line.chunk('text');
    line.finish(runView('COMPLETED'));
    assert.equal(stderr.written, 'run r-1 of stream-example\n\nCOMPLETED\n');
  });

  test('without follow: the status and the time, no chunk count; a cancelled run ends with a warning line', async () => {
    const stdout = new FakeStream({ tty: true });
    const stderr = new FakeStream({ tty: true, screen: new Screen(80) });
    const time = clock();
    const line = track(new RunStatusLine(stdout, stderr, { runId: 'r-1', task: 'sleep', now: time.now }));
    assert.equal(line.live, true);
    line.start();
    time.advance(1200);
    line.status('RUNNING');
    await sleep(150);
    assert.match(stripVTControlCharacters(stderr.written), /sleep · RUNNING · 1\.2 s/);
    assert.doesNotMatch(stderr.written, /chunk/);
    line.finish(runView('CANCELLED'));
    assert.equal(stdout.written, '');
    assert.match(stderr.screen!.text().filter((row) => row !== '').at(-1)!, /^\S CANCELLED in 1\.2 s$/);
  });

  test('stop (as on Ctrl-C) clears the spinner, keeps the unfinished line, is idempotent, and leaves no timer running', async () => {
    const screen = new Screen(80);
    const stdout = new FakeStream({ tty: true, screen });
    const stderr = new FakeStream({ tty: true, screen });
    const line = track(new RunStatusLine(stdout, stderr, { runId: 'r-1', task: 'stream-example', follow: true }));
    line.start();
    line.chunk('first line\nhalf a');
    line.stop();
    line.stop();
    const after = stderr.written.length;
    await sleep(200);
    assert.equal(stderr.written.length, after, 'no frame drawn after stop');
    assert.equal(stdout.written, 'first line\nhalf a');
    assert.match(stderr.written, /\u001B\[\?25h/, 'the cursor is shown again');
    assert.deepEqual(screen.text().filter((row) => row !== ''), ['run r-1 of stream-example', 'first line', 'half a']);
    assert.equal(screen.col, 0, 'what comes next starts a row of its own');
  });

  test('a long unfinished line shows its newest part within the screen', async () => {
    const screen = new Screen(20);
    const stdout = new FakeStream({ tty: true, screen });
    const stderr = new FakeStream({ tty: true, screen });
    stderr.columns = 20;
    stderr.rows = 5;
    const line = track(new RunStatusLine(stdout, stderr, { runId: 'r', task: 't', follow: true }));
    line.start();
    line.chunk(`${'a'.repeat(200)}THE-END`);
    await sleep(150);
    assert.match(screen.text().join(''), /THE-END/);
    line.finish(runView('COMPLETED'));
    assert.equal(stdout.written, `${'a'.repeat(200)}THE-END`);
  });
});

test('elapsed time reads as seconds, then minutes', () => {
  assert.equal(formatElapsed(3240), '3.2 s');
  assert.equal(formatElapsed(125_000), '2 m 05 s');
});
