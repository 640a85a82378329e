import { spawn, type StdioOptions } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

export interface ToolResult {
  /** The exit code; null when a signal ended it, or it could not be started. */
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunToolOptions {
  /** Both output streams go to this file instead of being captured. */
  outputFile?: string;
  /** Append to outputFile rather than truncate it. @default false */
  append?: boolean;
  env?: NodeJS.ProcessEnv;
  /** In a session of its own (setsid): a Ctrl-C in the terminal does not reach it. @default false */
  detached?: boolean;
  /** Killed (SIGTERM) after this long. @default no limit */
  timeoutMs?: number;
  /** Each chunk of output as it comes (instead of only at the end). */
  onOutput?: (text: string) => void;
}

/**
 * Runs a command to its end without blocking the event loop (so a Ctrl-C is
 * handled while a JVM formats storage or pg_ctl waits), and never rejects:
 * a command that cannot be started has code null and the reason in stderr.
 */
export function runTool(command: string, args: readonly string[], options: RunToolOptions = {}): Promise<ToolResult> {
  return new Promise((resolve) => {
    let fd: number | undefined;
    let stdio: StdioOptions = ['ignore', 'pipe', 'pipe'];
    if (options.outputFile !== undefined) {
      fd = openSync(options.outputFile, options.append ? 'a' : 'w');
      stdio = ['ignore', fd, fd];
    }
    const child = spawn(command, args, { stdio, env: options.env ?? process.env, detached: options.detached ?? false });
    if (fd !== undefined) closeSync(fd);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (text: string) => ((stdout += text), options.onOutput?.(text)));
    child.stderr?.setEncoding('utf8').on('data', (text: string) => ((stderr += text), options.onOutput?.(text)));
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGTERM'), options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: `${stderr}${error.message}\n` });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
