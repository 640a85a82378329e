// CPU time per process, from /proc (Linux): where a benchmark's work goes.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Platform } from '@chute/testing';

const TICK_MS = 10; // USER_HZ is 100 on every Linux this runs on.

interface Stat {
  ppid: number;
  cpuMs: number;
  /** CPU of its children that have exited and been waited for (cutime + cstime). */
  reapedChildrenCpuMs: number;
}

function stat(pid: number): Stat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return {
      ppid: Number(fields[1]),
      cpuMs: (Number(fields[11]) + Number(fields[12])) * TICK_MS,
      reapedChildrenCpuMs: (Number(fields[13]) + Number(fields[14])) * TICK_MS,
    };
  } catch {
    return undefined;
  }
}

/**
 * CPU ms a process and its children (PostgreSQL's backends) have used so far:
 * the live ones, and those that exited, whose CPU the kernel adds to their
 * parent's once it has waited for them (without it a backend that exits
 * between two readings takes its CPU with it, and the difference goes negative).
 */
function treeCpuMs(root: number): number {
  const own = stat(root);
  let total = own ? own.cpuMs + own.reapedChildrenCpuMs : 0;
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === root) continue;
    const s = stat(pid);
    if (s?.ppid === root) total += s.cpuMs;
  }
  return total;
}

/** The pid an infra script recorded for the broker or the database it started, if it did. */
export function infraPid(name: 'kafka' | 'postgres'): number | undefined {
  try {
    // CHUTE_BENCH_INFRA_DIR: the .infra/ of the checkout whose `npm run infra:up` started them, when not this one.
    const dir = process.env['CHUTE_BENCH_INFRA_DIR'] || join(process.cwd(), '.infra');
    const pid = Number(readFileSync(join(dir, `${name}.pid`), 'utf8').trim());
    return Number.isInteger(pid) && stat(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

export interface Measured {
  pid: number | undefined;
  /** Count its live children too (PostgreSQL's backends); not for a parent of other measured processes. */
  withChildren?: boolean;
}

/** Starts counting CPU for named processes; `stop()` gives each one's CPU ms since. */
export function measureCpu(processes: Record<string, Measured>): { stop(): Record<string, number> } {
  const known = Object.entries(processes).filter(([, m]) => m.pid !== undefined);
  const read = (m: Measured): number => (m.withChildren ? treeCpuMs(m.pid!) : (stat(m.pid!)?.cpuMs ?? 0));
  const before = new Map(known.map(([name, m]) => [name, read(m)]));
  return {
    stop: () => Object.fromEntries(known.map(([name, m]) => [name, read(m) - before.get(name)!])),
  };
}

/** Every process of a platform, the broker and PostgreSQL (with its backends), by name. */
export function platformProcesses(platform: Platform): Record<string, Measured> {
  const processes: Record<string, Measured> = {};
  for (const p of platform.processes) processes[p.name in processes ? `${p.name} ${p.pid}` : p.name] = { pid: p.pid };
  processes['broker'] = { pid: infraPid('kafka') };
  processes['postgres'] = { pid: infraPid('postgres'), withChildren: true };
  return processes;
}

/**
 * The CPU each process spends per unit of work (a run, a thousand chunks): the
 * platform's processes, the broker, PostgreSQL and this load generator.
 */
export function cpuPerUnit(platform: Platform): { stop(units: number): { total: number; text: string } } {
  // Only its own CPU: the services are its children.
  const cpu = measureCpu({ ...platformProcesses(platform), 'load generator': { pid: process.pid } });
  return {
    stop: (units) => {
      const used = Object.entries(cpu.stop()).sort((a, b) => b[1] - a[1]);
      const total = used.reduce((sum, [, v]) => sum + v, 0);
      const each = used.map(([name, v]) => `${name} ${(v / units).toFixed(2)}`).join(', ');
      return { total: total / units, text: `${(total / units).toFixed(2)} ms (${each})` };
    },
  };
}
