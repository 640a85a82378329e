import type { AttemptRevoked, EpochMs, RunDispatched, RunEvent, StreamEnd, WorkerEvent } from '@chute/schemas';
import { evolveRun, type RunState } from './run';
import { retryDelayMs } from './retry';

export interface WorkerState {
  readonly workerId: string;
  readonly tenant: string;
  readonly name: string;
  readonly tasks: readonly string[];
  readonly slots: number;
  readonly lastHeartbeatAt: EpochMs;
  readonly stopped: boolean;
  /** It refused a dispatch for want of a slot and has not said since that it has room. */
  readonly saturated: boolean;
}

/** What the scheduler knows: the unfinished runs and the workers, both folded from the log. */
export interface SchedulerState {
  readonly runs: ReadonlyMap<string, RunState>;
  readonly workers: ReadonlyMap<string, WorkerState>;
}

/** The same state as the scheduler service holds it: its collections are updated in place by {@link foldIntoScheduler}. */
export interface MutableSchedulerState extends SchedulerState {
  readonly runs: Map<string, RunState>;
  readonly workers: Map<string, WorkerState>;
}

export const emptySchedulerState = (): MutableSchedulerState => ({ runs: new Map(), workers: new Map() });

export interface SchedulingPolicy {
  /** A worker silent for longer is presumed dead and its runs go elsewhere. */
  heartbeatTimeoutMs: number;
}

/** What the planner must leave alone or count, beside the state: decisions taken but not folded yet. */
export interface PendingDecisions {
  /** Runs not to plan for now (a decision about them is on its way to the log). */
  readonly deferred?: (run: RunState) => boolean;
  /** Slots, by worker id, taken by dispatches on their way to the log. */
  readonly reserved?: ReadonlyMap<string, number>;
}

export function evolveWorker(worker: WorkerState | undefined, event: WorkerEvent): WorkerState | undefined {
  switch (event.type) {
    case 'WorkerRegistered':
      return {
        workerId: event.workerId,
        tenant: event.tenant,
        name: event.name,
        tasks: event.tasks,
        slots: event.slots,
        lastHeartbeatAt: event.at,
        stopped: false,
        saturated: false,
      };
    case 'WorkerHeartbeat':
      if (!worker || worker.stopped) return worker;
      return {
        ...worker,
        lastHeartbeatAt: Math.max(worker.lastHeartbeatAt, event.at),
        saturated: worker.saturated && event.activeRuns >= worker.slots,
      };
    case 'WorkerStopped':
      return worker ? { ...worker, stopped: true } : worker;
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
}

/**
 * Folds an event into the scheduler's state in place. Each run and worker is
 * folded purely (evolveRun, evolveWorker); only the collections that hold them
 * change, so an event costs O(1) rather than a copy of every unfinished run.
 * Ended runs are forgotten, they need nothing more; the result says when this
 * event ended one.
 */
export function foldIntoScheduler(state: MutableSchedulerState, event: RunEvent | WorkerEvent): { runEnded: boolean } {
  if (event.type === 'WorkerRegistered' || event.type === 'WorkerHeartbeat' || event.type === 'WorkerStopped') {
    const next = evolveWorker(state.workers.get(event.workerId), event);
    if (next) state.workers.set(event.workerId, next);
    return { runEnded: false };
  }
  if (event.type === 'RunRejected') {
    const worker = state.workers.get(event.workerId);
    if (worker) state.workers.set(event.workerId, { ...worker, saturated: true });
  }
  const before = state.runs.get(event.runId);
  const after = evolveRun(before, event);
  if (after === before) return { runEnded: false };
  if (!after || after.phase === 'ended') {
    state.runs.delete(event.runId);
    return { runEnded: true };
  }
  state.runs.set(event.runId, after);
  return { runEnded: false };
}

/** The pure form of {@link foldIntoScheduler}: a new state, the given one untouched. */
export function evolveScheduler(state: SchedulerState, event: RunEvent | WorkerEvent): MutableSchedulerState {
  const next = { runs: new Map(state.runs), workers: new Map(state.workers) };
  foldIntoScheduler(next, event);
  return next;
}

export function isLive(worker: WorkerState, now: EpochMs, policy: SchedulingPolicy): boolean {
  return !worker.stopped && now - worker.lastHeartbeatAt <= policy.heartbeatTimeoutMs;
}

/**
 * Decides what the scheduler appends now: cancellations, timeouts, and
 * dispatches of waiting runs (first come, first served) to the least loaded live
 * worker that serves the task and has a free slot. Runs of a dead worker are
 * dispatched again as a new attempt that spends no retry. `pending` holds what
 * was decided but is not in the state yet: those runs wait, and their
 * dispatches' slots count as taken. Pure: time is an argument.
 */
export function planScheduling(state: SchedulerState, now: EpochMs, policy: SchedulingPolicy, pending: PendingDecisions = {}): RunEvent[] {
  const events: RunEvent[] = [];
  const live = [...state.workers.values()].filter((w) => isLive(w, now, policy));
  const load = new Map<string, number>(live.map((w) => [w.workerId, pending.reserved?.get(w.workerId) ?? 0]));
  for (const run of state.runs.values()) {
    if (isInFlight(run) && run.workerId && load.has(run.workerId)) {
      load.set(run.workerId, load.get(run.workerId)! + 1);
    }
  }
  // Other schedulers' runs on a worker are not in this state: a worker that
  // refused a dispatch is full until it says it has room again.
  for (const w of live) if (w.saturated) load.set(w.workerId, w.slots);

  // Only the runs that need something now are ordered: in steady state that is
  // the few new ones, not every run in flight.
  const needy: RunState[] = [];
  for (const run of state.runs.values()) if (needsAction(run, now, load) && !pending.deferred?.(run)) needy.push(run);
  needy.sort((a, b) => a.createdAt - b.createdAt || (a.runId < b.runId ? -1 : 1));
  for (const run of needy) {
    const base = { v: 1 as const, runId: run.runId, tenant: run.tenant, at: now };
    if (run.cancelRequested) {
      events.push({ ...base, type: 'RunCancelled', ...(run.attempt > 0 ? { attempt: run.attempt } : {}) });
      continue;
    }
    if (isInFlight(run) && run.deadlineAt !== null && run.deadlineAt <= now) {
      events.push({ ...base, type: 'RunTimedOut', attempt: run.attempt, timeoutMs: run.executionTimeoutMs });
      continue;
    }

    let best: WorkerState | undefined;
    for (const w of live) {
      if (w.tenant !== run.tenant || !w.tasks.includes(run.task) || load.get(w.workerId)! >= w.slots) continue;
      if (!best || load.get(w.workerId)! < load.get(best.workerId)!) best = w;
    }
    if (!best) continue;
    load.set(best.workerId, load.get(best.workerId)! + 1);
    events.push(dispatchOf({ ...run, attempt: run.attempt + 1, workerId: best.workerId, deadlineAt: now + run.executionTimeoutMs }, now));
  }
  return events;
}

/** The dispatch of a run's current attempt to its worker: what `planScheduling` appends. */
export function dispatchOf(run: RunState & { workerId: string; deadlineAt: EpochMs }, at: EpochMs): RunDispatched {
  return {
    v: 1,
    type: 'RunDispatched',
    runId: run.runId,
    tenant: run.tenant,
    at,
    task: run.task,
    input: run.input,
    attempt: run.attempt,
    workerId: run.workerId,
    deadlineAt: run.deadlineAt,
    retriesLeft: Math.max(0, run.retries - run.failures),
    retryDelayMs: retryDelayMs(run.failures + 1),
  };
}

/** What the workers must be told of a plan: the attempts they start, and those they must stop. */
export interface WorkerRouting {
  readonly assignments: readonly RunDispatched[];
  readonly revocations: readonly AttemptRevoked[];
}

/**
 * Routes a plan to the workers it concerns, from the state it was planned on
 * (before it is folded): each dispatch goes to its worker, and a cancel, a
 * timeout or a move elsewhere stops the attempt on the worker that runs it.
 */
export function routeToWorkers(state: SchedulerState, events: readonly RunEvent[]): WorkerRouting {
  const assignments: RunDispatched[] = [];
  const revocations: AttemptRevoked[] = [];
  for (const event of events) {
    const run = state.runs.get(event.runId);
    const holder = run && isInFlight(run) && run.workerId !== null ? { workerId: run.workerId, attempt: run.attempt } : undefined;
    const revoke = (finalStatus: AttemptRevoked['finalStatus'], reason: string): void => {
      if (!holder) return;
      revocations.push({ v: 1, type: 'AttemptRevoked', runId: event.runId, tenant: event.tenant, at: event.at, ...holder, reason, ...(finalStatus ? { finalStatus } : {}) });
    };
    if (event.type === 'RunDispatched') {
      assignments.push(event);
      if (holder && holder.workerId !== event.workerId) revoke(undefined, `the run went to ${event.workerId}: ${holder.workerId} was presumed dead`);
    } else if (event.type === 'RunCancelled') {
      revoke('CANCELLED', event.reason ?? 'the run was cancelled');
    } else if (event.type === 'RunTimedOut') {
      revoke('TIMED_OUT', `execution timeout of ${event.timeoutMs} ms exceeded`);
    }
  }
  return { assignments, revocations };
}

/**
 * The stream ends of the runs a plan ends itself. A cancel or a timeout ends
 * its run's stream with the decision, in the same append, so every subscriber
 * sees the end whether or not a worker is there to hear of it; a worker ends
 * the stream of a run it completes or fails for good.
 */
export function streamEndsOf(events: readonly RunEvent[]): StreamEnd[] {
  const ends: StreamEnd[] = [];
  for (const event of events) {
    const base = { v: 1 as const, type: 'StreamEnd' as const, runId: event.runId, tenant: event.tenant, at: event.at };
    if (event.type === 'RunCancelled') ends.push({ ...base, status: 'CANCELLED', ...(event.attempt !== undefined ? { attempt: event.attempt } : {}) });
    else if (event.type === 'RunTimedOut') ends.push({ ...base, status: 'TIMED_OUT', attempt: event.attempt });
  }
  return ends;
}

const isInFlight = (run: RunState): boolean => run.phase === 'dispatched' || run.phase === 'running';

/** Whether the plan has anything to do for a run now: cancel it, time it out, or dispatch it. */
function needsAction(run: RunState, now: EpochMs, liveLoad: ReadonlyMap<string, number>): boolean {
  if (run.cancelRequested) return true;
  if (isInFlight(run)) return (run.deadlineAt !== null && run.deadlineAt <= now) || !liveLoad.has(run.workerId ?? '');
  return run.phase === 'pending' || (run.phase === 'retrying' && (run.nextRetryAt ?? 0) <= now);
}
