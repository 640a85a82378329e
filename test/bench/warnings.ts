// What the platform's services warned of during a benchmark: a stall or a
// shortfall in the figures often has its reason here.
import type { Platform } from '@chute/testing';
import { report } from './stats';

/** One report line per service that warned: how many times, of what. */
export function reportWarnings(platform: Platform): void {
  for (const service of platform.processes) {
    const warned = service.lines.filter((l) => l.level === 'warn' || l.level === 'error');
    if (warned.length === 0) continue;
    const kinds = new Map<string, number>();
    for (const line of warned) kinds.set(String(line.msg), (kinds.get(String(line.msg)) ?? 0) + 1);
    report(`${service.name} ${service.pid} warnings`, [...kinds].map(([msg, n]) => `${n}× ${msg}`).join('; '));
  }
}
