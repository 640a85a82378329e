import type { FinalStatus, RunEvent } from '@chute/schemas';

const TERMINAL: ReadonlySet<RunEvent['type']> = new Set(['RunCompleted', 'RunCancelled', 'RunTimedOut']);

/** How many recent ends are remembered for requests that arrive just after their run ended. */
const RECENT_ENDS = 20_000;

/** Whether an event may have ended its run (a failure only when it will not be retried). */
export function mayEndRun(event: RunEvent): boolean {
  return TERMINAL.has(event.type) || (event.type === 'RunFailed' && !event.retry.willRetry);
}

/** The final status an ending event gives its run. */
export function endStatusOf(event: RunEvent): FinalStatus {
  switch (event.type) {
    case 'RunCompleted':
      return 'COMPLETED';
    case 'RunCancelled':
      return 'CANCELLED';
    case 'RunTimedOut':
      return 'TIMED_OUT';
    default:
      return 'FAILED';
  }
}

export interface Waiter {
  /** The event that ended the run, or undefined at the timeout (or shutdown). */
  readonly ended: Promise<RunEvent | undefined>;
  cancel(): void;
}

/**
 * Requests waiting for runs to end, fed by the gateway's one tail of the
 * run-events topic: a waiting request costs nothing until its run ends. Recent
 * ends are remembered, so a request that arrives after its run ended (it often
 * does: no-op runs end within milliseconds) is answered at once too.
 */
export class RunWaiters {
  private readonly waiting = new Map<string, Set<(event: RunEvent | undefined) => void>>();
  private readonly recentEnds = new Map<string, RunEvent>();
  private readonly recentRequests = new Set<string>();
  /** Called with every run end the tail sees (the stream hub closes streams a worker could not). */
  onEnd: (event: RunEvent) => void = () => undefined;
  private isClosed = false;

  /** True once the gateway is shutting down: waiting requests answer with what they have. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Releases every waiting request, so shutdown does not wait out long polls. */
  close(): void {
    this.isClosed = true;
    for (const listeners of [...this.waiting.values()]) for (const l of [...listeners]) l(undefined);
  }

  /** Whether this gateway saw the run requested recently (the read model may not show it yet). */
  seenRequest(runId: string): boolean {
    return this.recentRequests.has(runId);
  }

  /** The event that ended the run, if this gateway saw it recently. */
  recentEnd(runId: string): RunEvent | undefined {
    return this.recentEnds.get(runId);
  }

  wait(runId: string, timeoutMs: number): Waiter {
    const known = this.recentEnds.get(runId);
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

  /** Feeds events from the tail. */
  observe(events: readonly RunEvent[]): void {
    for (const event of events) {
      if (event.type === 'RunRequested') {
        this.recentRequests.add(event.runId);
        if (this.recentRequests.size > RECENT_ENDS) this.recentRequests.delete(this.recentRequests.values().next().value!);
        continue;
      }
      if (!mayEndRun(event)) continue;
      this.onEnd(event);
      this.recentEnds.set(event.runId, event);
      if (this.recentEnds.size > RECENT_ENDS) this.recentEnds.delete(this.recentEnds.keys().next().value!);
      const listeners = this.waiting.get(event.runId);
      if (listeners) for (const l of [...listeners]) l(event);
    }
  }
}
