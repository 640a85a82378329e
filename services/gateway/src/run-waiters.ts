import type { FinalStatus, RunEvent } from '@chute/schemas';

const TERMINAL: ReadonlySet<RunEvent['type']> = new Set(['RunCompleted', 'RunCancelled', 'RunTimedOut']);

/**
 * How many recent runs' events are remembered: for requests that arrive just
 * after their run ended, and to bring a lagging read-model row up to date.
 */
const RECENT_RUNS = 20_000;

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
 * runs' events are remembered, so a request that arrives after its run ended
 * (it often does: no-op runs end within milliseconds) is answered at once, and
 * a read-model row the projector has not caught up on yet can be brought up to
 * date by folding them onto it (see {@link RunWaiters.recentEvents}).
 */
export class RunWaiters {
  private readonly waiting = new Map<string, Set<(event: RunEvent | undefined) => void>>();
  /** Each recent run's events after its request, in log order. The request is left out: its input may be large. */
  private readonly recent = new Map<string, RunEvent[]>();
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
    return this.recent.get(runId)?.find(mayEndRun);
  }

  /**
   * The run's events this gateway saw after its request, oldest first. Folding
   * them onto the read model's row gives the run as the log has it now: the
   * projector may be a moment behind, and a client just told its run ended must
   * not read a row that has not even started. The fold is idempotent, so events
   * the row already holds change nothing.
   */
  recentEvents(runId: string): readonly RunEvent[] {
    return this.recent.get(runId) ?? [];
  }

  wait(runId: string, timeoutMs: number): Waiter {
    const known = this.recentEnd(runId);
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
        remember(this.recentRequests, event.runId);
        continue;
      }
      // A dispatch repeats the run's input (up to 1 MiB), which folding never reads: not kept.
      const kept = event.type === 'RunDispatched' ? { ...event, input: null } : event;
      const events = this.recent.get(event.runId);
      if (events) events.push(kept);
      else remember(this.recent, event.runId, [kept]);
      if (!mayEndRun(event)) continue;
      this.onEnd(event);
      const listeners = this.waiting.get(event.runId);
      if (listeners) for (const l of [...listeners]) l(event);
    }
  }
}

/** Adds to a bounded memory of recent runs, forgetting the oldest past {@link RECENT_RUNS}. */
function remember(set: Set<string>, runId: string): void;
function remember<T>(map: Map<string, T>, runId: string, value: T): void;
function remember<T>(store: Set<string> | Map<string, T>, runId: string, value?: T): void {
  if (store instanceof Set) store.add(runId);
  else store.set(runId, value!);
  if (store.size > RECENT_RUNS) store.delete(store.keys().next().value!);
}
