import type { RunEvent } from '@chute/schemas';
import type { RecentRuns } from './recent-runs';

export interface Waiter {
  /** The event that ended the run, or undefined at the timeout (or shutdown). */
  readonly ended: Promise<RunEvent | undefined>;
  cancel(): void;
}

/**
 * Requests waiting for runs to end: a waiting request costs nothing until its
 * run ends. Released by {@link RunWaiters.ended} with each run end the
 * gateway's tail sees, or at once when the run ended lately.
 */
export class RunWaiters {
  private readonly waiting = new Map<string, Set<(event: RunEvent | undefined) => void>>();
  private isClosed = false;

  constructor(private readonly recent: RecentRuns) {}

  /** True once the gateway is shutting down: waiting requests answer with what they have. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Releases every waiting request, so shutdown does not wait out long polls. */
  close(): void {
    this.isClosed = true;
    for (const listeners of [...this.waiting.values()]) for (const l of [...listeners]) l(undefined);
  }

  wait(runId: string, timeoutMs: number): Waiter {
    const known = this.recent.recentEnd(runId);
    if (known || this.isClosed) return { ended: Promise.resolve(known), cancel: () => undefined };
    let done: (event: RunEvent | undefined) => void = () => undefined;
    const ended = new Promise<RunEvent | undefined>((resolve) => (done = resolve));
    const listeners = this.waiting.get(runId) ?? new Set();
    this.waiting.set(runId, listeners);
    const settle = (event: RunEvent | undefined): void => {
      clearTimeout(timer);
      listeners.delete(settle);
      if (listeners.size === 0 && this.waiting.get(runId) === listeners) this.waiting.delete(runId);
      done(event);
    };
    const timer = setTimeout(() => settle(undefined), timeoutMs);
    listeners.add(settle);
    return { ended, cancel: () => settle(undefined) };
  }

  /** A run ended: its waiting requests are answered with the event that ended it. */
  ended(event: RunEvent): void {
    const listeners = this.waiting.get(event.runId);
    if (listeners) for (const l of [...listeners]) l(event);
  }
}
