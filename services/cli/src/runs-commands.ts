import { ChuteApiError, GatewayUnreachableError, type Chute } from '@chute/sdk';
import type { RunStatus, RunView } from '@chute/schemas';
import { RunStatusLine, type Output } from './run-status';
import { UsageError } from './tokens';

/** Where commands write: the stream and results on stdout, progress and outcomes on stderr. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** The streams themselves, for what depends on whether they are terminals (`chute run`'s status line). */
  readonly stdout: Output;
  readonly stderr: Output;
}

function parseInput(text: string | undefined): unknown {
  if (text === undefined) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new UsageError(`--input: not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
}

/**
 * `chute run <task>`: triggers a run; with `follow`, prints its stream as it comes.
 * Stderr shows a live status line when it is a terminal. Exit code 0 only if it completed.
 */
export async function runTask(chute: Chute, task: string, options: { input?: string; follow?: boolean }, io: Io): Promise<number> {
  const input = parseInput(options.input);
  let definition;
  try {
    definition = chute.task({ name: task, fn: () => undefined });
  } catch (error) {
    throw new UsageError(`task name: ${error instanceof Error ? error.message : String(error)}`);
  }
  const ref = await definition.runNoWait(input);
  const line = new RunStatusLine(io.stdout, io.stderr, { runId: ref.runId, task, follow: options.follow ?? false });
  // Ctrl-C stops watching, not the run; the spinner must go first so the terminal is left clean, with the text shown so far.
  const interrupted = () => {
    line.stop();
    io.err(`interrupted; run ${ref.runId} goes on (chute runs cancel ${ref.runId} stops it)\n`);
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  const poll = line.live ? pollStatus(chute, ref.runId, (status) => line.status(status)) : undefined;
  try {
    line.start();
    // From its first chunk: the run may start streaming before this process subscribes.
    if (options.follow) for await (const chunk of chute.runs.subscribeToStream(ref.runId, { from: 'start' })) line.chunk(chunk);
    const run = await chute.runs.waitForEnd(ref.runId);
    line.finish(run);
    return run.status === 'COMPLETED' ? 0 : 1;
  } finally {
    poll?.stop();
    line.stop();
    process.off('SIGINT', interrupted);
  }
}

/** Reads the run's status every `everyMs` (one request at a time, never overlapping) until stopped. */
function pollStatus(chute: Chute, runId: string, onStatus: (status: RunStatus) => void, everyMs = 500): { stop(): void } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    try {
      const run = await chute.runs.get(runId);
      if (!stopped) onStatus(run.status);
    } catch {
      // The line keeps its last status; a gateway gone for good is reported by waitForEnd.
    }
    if (!stopped) timer = setTimeout(() => void tick(), everyMs);
  };
  void tick();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/** `chute stream <run-id>`: prints a run's stream until it ends. */
export async function streamRun(chute: Chute, runId: string, options: { after?: string; fromStart?: boolean }, io: Io): Promise<number> {
  if (options.after !== undefined && options.fromStart) throw new UsageError('--after and --from-start: give one or the other');
  const from = options.after !== undefined ? { after: options.after } : options.fromStart ? { from: 'start' as const } : {};
  for await (const chunk of chute.runs.subscribeToStream(runId, from)) io.out(chunk);
  return 0;
}

const row = (run: RunView) => ({ run: run.runId, task: run.task, status: run.status, attempt: run.attempt, worker: run.workerId ?? '-', created: run.createdAt });

/** `chute runs list`: newest first, as a table (or JSON). */
export async function listRuns(chute: Chute, options: { task?: string; status?: string; limit?: string; json?: boolean }, io: Io): Promise<number> {
  const limit = options.limit === undefined ? undefined : Number(options.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw new UsageError('--limit: a positive whole number');
  const { runs } = await chute.runs.list({
    ...(options.task ? { task: options.task } : {}),
    ...(options.status ? { status: options.status as RunStatus } : {}),
    ...(limit !== undefined ? { limit } : {}),
  });
  if (options.json) io.out(`${JSON.stringify(runs, null, 2)}\n`);
  else if (runs.length === 0) io.err('no runs\n');
  else io.out(`${table(runs.map(row))}\n`);
  return 0;
}

export async function getRun(chute: Chute, runId: string, options: { json?: boolean }, io: Io): Promise<number> {
  const run = await chute.runs.get(runId);
  io.out(options.json ? `${JSON.stringify(run, null, 2)}\n` : `${Object.entries(run).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join('\n')}\n`);
  return 0;
}

export async function cancelRun(chute: Chute, runId: string, options: { json?: boolean }, io: Io): Promise<number> {
  await chute.runs.cancel(runId);
  io.out(options.json ? `${JSON.stringify({ runId, cancelRequested: true })}\n` : `cancel of run ${runId} requested\n`);
  return 0;
}

/** Columns padded to their widest cell. */
function table(rows: ReadonlyArray<Record<string, string | number>>): string {
  const keys = Object.keys(rows[0]!);
  const width = keys.map((k) => Math.max(k.length, ...rows.map((r) => String(r[k]).length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(width[i]!)).join('  ').trimEnd();
  return [line(keys.map((k) => k.toUpperCase())), ...rows.map((r) => line(keys.map((k) => String(r[k]))))].join('\n');
}

/** What the CLI says of a failure: one line, for everything the user can act on. */
export function describeFailure(error: unknown): string | undefined {
  if (error instanceof UsageError) return error.message;
  if (error instanceof GatewayUnreachableError) return `${error.message}: is it running? (npm start, or set CHUTE_GATEWAY_URL)`;
  if (error instanceof ChuteApiError) return `the gateway answered ${error.status} ${error.message}`;
  return undefined;
}
