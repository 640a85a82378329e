import { styleText } from 'node:util';

/** Structured logging: one JSON object per line, so every lifecycle step is greppable. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * `json`: one object per line, for machines (what a deployment collects).
 * `pretty`: one readable line per event, coloured by level, for a person at a terminal.
 */
export type LogFormat = 'json' | 'pretty';

/** `pretty` in a terminal, `json` anywhere else or when CHUTE_LOG_FORMAT=json says so. */
export function logFormatFor(env: NodeJS.ProcessEnv = process.env, stream: { isTTY?: boolean } = process.stdout): LogFormat {
  const asked = env['CHUTE_LOG_FORMAT'];
  if (asked === 'json' || asked === 'pretty') return asked;
  return stream.isTTY ? 'pretty' : 'json';
}

const LEVEL_STYLE: Record<LogLevel, Parameters<typeof styleText>[0]> = { debug: 'gray', info: 'cyan', warn: 'yellow', error: 'red' };

/** `12:04:05 WARN  gateway  msg key=value ...`: the fields as JSON values, errors by their message. */
function prettyLine(entry: Record<string, unknown>, level: LogLevel): string {
  const { time, level: _level, service, msg, ...fields } = entry;
  const clock = String(time).slice(11, 19);
  const rest = Object.entries(fields)
    .map(([k, v]) => `${k}=${v !== null && typeof v === 'object' && 'message' in v ? JSON.stringify((v as { message: unknown }).message) : JSON.stringify(v)}`)
    .join(' ');
  return `${styleText('gray', clock)} ${styleText(LEVEL_STYLE[level], level.toUpperCase().padEnd(5))} ${styleText('bold', String(service ?? ''))} ${String(msg)}${rest ? ` ${styleText('gray', rest)}` : ''}`;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function serializeError(value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
}

/**
 * A logger writing JSON lines to `out`.
 * @param base fields repeated on every line (e.g. `{ service: 'gateway' }`)
 * @param level lines below this level are dropped. @default 'info'
 */
export function createLogger(
  base: Record<string, unknown>,
  level: LogLevel = 'info',
  out: (line: string) => void = (line) => process.stdout.write(line + '\n'),
  format: LogFormat = 'json',
): Logger {
  const min = rank[level];
  const write = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (rank[lvl] < min) return;
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level: lvl, ...base, msg };
    if (fields) for (const [k, v] of Object.entries(fields)) entry[k] = serializeError(v);
    out(format === 'pretty' ? prettyLine(entry, lvl) : JSON.stringify(entry));
  };
  return {
    debug: (msg, fields) => write('debug', msg, fields),
    info: (msg, fields) => write('info', msg, fields),
    warn: (msg, fields) => write('warn', msg, fields),
    error: (msg, fields) => write('error', msg, fields),
    child: (fields) => createLogger({ ...base, ...fields }, level, out, format),
  };
}

/** A logger that drops everything, for tests that assert on behaviour rather than logs. */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};
