import ora, { spinners, type Ora } from 'ora';
import type { RunStatus, RunView } from '@chute/schemas';

/** Where the CLI writes: a terminal (`tty.WriteStream`) says so and gives its size; a file or a pipe does not. */
export interface Output extends NodeJS.WritableStream {
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

export interface RunStatusLineOptions {
  runId: string;
  task: string;
  /** Whether the stream is printed (and so its chunks counted). @default false */
  follow?: boolean;
  /** The clock for the elapsed time, in milliseconds. @default performance.now */
  now?: () => number;
}

/**
 * What `chute run` shows of a run on stderr: when stderr is a terminal, a live
 * line (spinner, status, elapsed time, chunk count) and then a final ✔/✖ line;
 * otherwise the plain lines `run <id> of <task>` and the final status, as a log
 * wants them. It also writes the run's stream to stdout, because when both go
 * to one terminal the two must take turns (see `chunk`).
 */
export class RunStatusLine {
  readonly #stdout: Output;
  readonly #stderr: Output;
  readonly #runId: string;
  readonly #task: string;
  readonly #follow: boolean;
  readonly #now: () => number;
  /** Undefined when stderr is not a terminal: then no spinner and no escape codes. */
  readonly #spinner: Ora | undefined;
  /**
   * Stdout and stderr on one terminal: text without its newline yet (LLM tokens)
   * is held here and drawn inside the spinner's frame, not written, because a
   * spinner redraw would erase the unfinished row it shares with that text.
   * Only whole lines reach stdout until the end.
   */
  readonly #holdsPartialLine: boolean;
  #state: 'idle' | 'running' | 'stopped' = 'idle';
  #status: RunStatus = 'QUEUED';
  #chunks = 0;
  #startedAt = 0;
  #partialLine = '';
  /** Whether stdout's text so far ends mid-line, so that a status line after it needs a newline first. */
  #stdoutMidLine = false;

  constructor(stdout: Output, stderr: Output, options: RunStatusLineOptions) {
    this.#stdout = stdout;
    this.#stderr = stderr;
    this.#runId = options.runId;
    this.#task = options.task;
    this.#follow = options.follow ?? false;
    this.#now = options.now ?? (() => performance.now());
    // A terminal of no width (a pty nobody sized, as `script` makes without one) would have ora count
    // its frame as infinitely many rows to clear: treat it as no terminal.
    const live = stderr.isTTY === true && (stderr.columns ?? 0) > 0;
    this.#holdsPartialLine = live && this.#follow && stdout.isTTY === true;
    this.#spinner = live
      ? ora({
          stream: stderr,
          // Decided here (stderr is a terminal), not by ora's guess, which also turns itself off under CI.
          isEnabled: true,
          // ora's stdin discarding puts the terminal in raw mode, where Ctrl-C is a keystroke, not a SIGINT to the process group.
          discardStdin: false,
          // One row above the spinner always stands for stdout's current row, empty or not, so the spinner does not jump when text comes.
          spinner: this.#holdsPartialLine ? { ...spinners.dots, frames: spinners.dots.frames.map((frame) => `\n${frame}`) } : spinners.dots,
          prefixText: () => (this.#holdsPartialLine ? this.#preview() : ''),
          suffixText: () => this.#progress(),
        })
      : undefined;
  }

  /** Whether the line is drawn live (stderr is a sized terminal); if not, a status poll would be wasted. */
  get live(): boolean {
    return this.#spinner !== undefined;
  }

  start(): void {
    if (this.#state !== 'idle') return;
    this.#state = 'running';
    this.#startedAt = this.#now();
    // Written before the spinner starts, so it stays: the id is what `chute runs get` and `cancel` take.
    this.#stderr.write(`run ${this.#runId} of ${this.#task}\n`);
    this.#spinner?.start(this.#text());
  }

  status(status: RunStatus): void {
    this.#status = status;
    if (this.#spinner) this.#spinner.text = this.#text();
  }

  /** One chunk of the stream: to stdout now, except an unfinished line on a shared terminal, which waits in the frame. */
  chunk(text: string): void {
    if (this.#state !== 'running') return;
    this.#chunks += 1;
    // A chunk means a worker runs it, whatever the last poll said.
    if (this.#status === 'QUEUED') this.status('RUNNING');
    if (!this.#holdsPartialLine) {
      this.#writeOut(text);
      return;
    }
    this.#partialLine += text;
    const end = this.#partialLine.lastIndexOf('\n') + 1;
    if (end === 0) return; // the spinner's next frame shows it
    const lines = this.#partialLine.slice(0, end);
    this.#partialLine = this.#partialLine.slice(end);
    // Clear first: the frame's rows are where these lines go.
    this.#spinner?.clear();
    this.#writeOut(lines);
    this.#spinner?.render();
  }

  /** The run has ended: the rest of the stream, then its final status as a line that stays. */
  finish(run: RunView): void {
    if (this.#state === 'stopped') return;
    const elapsed = formatElapsed(this.#now() - this.#startedAt);
    this.stop();
    const error = run.error ? `: ${run.error.name}: ${run.error.message}` : '';
    if (!this.#spinner) {
      this.#stderr.write(`${this.#follow ? '\n' : ''}${run.status}${error}\n`);
      return;
    }
    const text = `${run.status} in ${elapsed}${this.#follow ? ` · ${plural(this.#chunks, 'chunk')}` : ''}${error}`;
    this.#spinner.prefixText = '';
    this.#spinner.suffixText = '';
    switch (run.status) {
      case 'COMPLETED':
        this.#spinner.succeed(text);
        break;
      case 'CANCELLED':
        this.#spinner.warn(text);
        break;
      case 'FAILED':
      case 'TIMED_OUT':
      case 'QUEUED':
      case 'RUNNING':
        this.#spinner.fail(text);
        break;
      default: {
        const _exhaustive: never = run.status;
        throw new Error(`unknown status ${String(_exhaustive)}`);
      }
    }
  }

  /**
   * Clears the spinner (showing the cursor again) and writes out the held
   * unfinished line, so that the terminal keeps all the text it has shown.
   * Idempotent: `finish` calls it, and so does a Ctrl-C.
   */
  stop(): void {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#spinner?.stop();
    this.#writeOut(this.#partialLine);
    this.#partialLine = '';
    // The next line on stderr must not continue stdout's row on the same screen.
    if (this.#holdsPartialLine && this.#stdoutMidLine) this.#stderr.write('\n');
  }

  #writeOut(text: string): void {
    if (text === '') return;
    this.#stdout.write(text);
    this.#stdoutMidLine = !text.endsWith('\n');
  }

  #text(): string {
    return `${this.#task} · ${this.#status}`;
  }

  #progress(): string {
    const elapsed = `· ${formatElapsed(this.#now() - this.#startedAt)}`;
    return this.#follow ? `${elapsed} · ${plural(this.#chunks, 'chunk')}` : elapsed;
  }

  /**
   * The held line as the frame shows it: its tail only, when it would take more
   * rows than the terminal has (ora would cut the frame's end, the newest text).
   * Counted in characters, not cells: near enough for a preview.
   */
  #preview(): string {
    const room = Math.max(1, (this.#stderr.rows ?? 24) - 2) * (this.#stderr.columns ?? 80) - 1;
    return this.#partialLine.length <= room ? this.#partialLine : `…${this.#partialLine.slice(-(room - 1))}`;
  }
}

/** `3.2 s`, or `2 m 05 s` from a minute on. */
export function formatElapsed(ms: number): string {
  const seconds = Math.max(0, ms) / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const whole = Math.floor(seconds);
  return `${Math.floor(whole / 60)} m ${String(whole % 60).padStart(2, '0')} s`;
}

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
