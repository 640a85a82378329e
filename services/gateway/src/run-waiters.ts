import type { RunEvent } from '@chute/schemas';

const TERMINAL: ReadonlySet<RunEvent['type']> = new Set(['RunCompleted', 'RunCancelled', 'RunTimedOut']);

/** Whether an event may have ended its run (a failure only when it will not be retried). */
export function mayEndRun(event: RunEvent): boolean {
  return TERMINAL.has(event.type) || (event.type === 'RunFailed' && !event.retry.willRetry);
}

/**
 * Requests waiting for runs to end. Fed by the gateway's one tail of the
 * run-events topic, so a waiting request costs no database polling until its
 * run has ended.
 */
export class RunWaiters {
  private readonly waiting = new Map<string, Set<() => void>>();
  private isClosed = false;

  /** True once the gateway is shutting down: waiting requests answer with what they have. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Releases every waiting request, so shutdown does not wait out long polls. */
  close(): void {
    this.isClosed = true;
    for (const listeners of [...this.waiting.values()]) for (const l of [...listeners]) l();
  }

  get size(): number {
    return this.waiting.size;
  }

  /** Resolves when an ending event for the run is seen, or after `timeoutMs`; `cancel` stops waiting. */
  wait(runId: string, timeoutMs: number): { ended: Promise<boolean>; cancel(): void } {
    let done: (ended: boolean) => void = () => undefined;
    const ended = new Promise<boolean>((resolve) => (done = resolve));
    const listeners = this.waiting.get(runId) ?? new Set<() => void>();
    this.waiting.set(runId, listeners);
    const cleanup = (): void => {
      clearTimeout(timer);
      listeners.delete(onEnd);
      if (listeners.size === 0 && this.waiting.get(runId) === listeners) this.waiting.delete(runId);
    };
    const onEnd = (): void => {
      cleanup();
      done(true);
    };
    const timer = setTimeout(() => {
      cleanup();
      done(false);
    }, timeoutMs);
    listeners.add(onEnd);
    return {
      ended,
      cancel: () => {
        cleanup();
        done(false);
      },
    };
  }

  /** Feeds events from the tail. */
  observe(events: readonly RunEvent[]): void {
    for (const event of events) {
      if (!mayEndRun(event)) continue;
      const listeners = this.waiting.get(event.runId);
      if (listeners) for (const l of [...listeners]) l();
    }
  }
}
