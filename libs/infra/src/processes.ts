import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

// Processes are found and checked through /proc: Linux only, like the
// machines the infrastructure runs on (Debian's PostgreSQL, setsid).

function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

interface ProcessStat {
  state: string;
  pgrp: number;
}

/** A process's state and process group, or undefined once it is gone. */
export function processStat(pid: number): ProcessStat | undefined {
  const stat = readProc(pid, 'stat');
  if (stat === undefined) return undefined;
  // The command name in parentheses may hold spaces: the fields start after its last ')'.
  const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: state!, pgrp: Number(pgrp) };
}

/** A zombie is dead: it only waits for its parent to reap it. */
export function isAlive(pid: number): boolean {
  const state = processStat(pid)?.state;
  return state !== undefined && state !== 'Z' && state !== 'X';
}

/** A process's command line as `ps -o args` shows it (arguments joined by spaces), or undefined. */
export function commandLine(pid: number): string | undefined {
  const raw = readProc(pid, 'cmdline');
  if (!raw) return undefined;
  return raw.replace(/\0$/, '').split('\0').join(' ');
}

/**
 * Whether `pid` is alive and its command line contains `marker`. A pid file
 * alone is no proof: after a reboot the pid may belong to an unrelated process,
 * and infra:down must never stop anything infra:up did not start.
 */
export function pidIs(pid: number | undefined, marker: string): pid is number {
  if (pid === undefined || !Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return false;
  return commandLine(pid)?.includes(marker) ?? false;
}

/** The first live process whose command line `matches`, or undefined. */
export function findProcess(matches: (commandLine: string) => boolean): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const args = commandLine(pid);
    if (args !== undefined && matches(args) && isAlive(pid)) return pid;
  }
  return undefined;
}

/** The live processes of process group `pgrp`. */
export function groupMembers(pgrp: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => processStat(pid)?.pgrp === pgrp && isAlive(pid));
}

/** Resolves true once `check` holds, false when `seconds` pass first; tries every 0.5 s. */
export async function waitUntil(check: () => boolean | Promise<boolean>, seconds: number, signal?: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    signal?.throwIfAborted();
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(500, undefined, signal ? { signal } : undefined);
  }
}

function signalProcess(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops `pid` (named `name` in messages) with SIGTERM, then SIGKILL after
 * `graceSeconds`, and waits (5 s more at most) for it to be gone.
 */
export async function stopProcess(name: string, pid: number, graceSeconds: number, info: (message: string) => void): Promise<void> {
  info(`stopping ${name} (pid ${pid})`);
  if (!signalProcess(pid, 'SIGTERM')) return;
  if (await waitUntil(() => !isAlive(pid), graceSeconds)) return;
  info(`${name} did not stop within ${graceSeconds} s; killing it`);
  signalProcess(pid, 'SIGKILL');
  await waitUntil(() => !isAlive(pid), 5);
}
