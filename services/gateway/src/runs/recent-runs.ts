import { evolveRun, isFinal, mayEndRun, type RunState } from '@chute/domain';
import type { Decoded } from '@chute/log';
import type { RunEvent, RunRequested } from '@chute/schemas';

/**
 * How many recent runs' events are remembered: for requests that arrive just
 * after their run ended, and to bring a lagging read-model row up to date.
 */
const RECENT_RUNS = 20_000;
/**
 * And how much heap they may take: a run's input and output may be up to 1 MiB
 * each, so the count alone would not bound the memory. Estimated from their
 * records' size times {@link PARSED_WEIGHT}.
 */
const RECENT_BYTES = 128 * 1024 * 1024;
/** Parsed JSON takes several times its text in the heap (objects, strings in UTF-16). */
const PARSED_WEIGHT = 4;

/**
 * The runs this gateway saw lately, from its one tail of the run-events
 * topic: a request that arrives after its run ended (it often does: no-op runs
 * end within milliseconds) is answered from here at once. A run this gateway
 * saw requested is folded here whole, so its result needs no query
 * ({@link RecentRuns.recentState}); for any other, a read-model row the
 * projector has not caught up on yet is brought up to date by folding the
 * events seen onto it ({@link RecentRuns.recentEvents}).
 */
export class RecentRuns {
  /** Recent runs, oldest first: what is forgotten first past the bounds. */
  private readonly recent = new Map<string, Recent>();
  private recentBytes = 0;

  constructor(private readonly bounds: { maxRuns: number; maxBytes: number } = { maxRuns: RECENT_RUNS, maxBytes: RECENT_BYTES }) {}

  /** The event that ended the run, if this gateway saw it recently. */
  recentEnd(runId: string): RunEvent | undefined {
    const entry = this.recent.get(runId);
    if (!entry) return undefined;
    // A held fold knows which event ended the run (a stale attempt's end did not).
    return entry.state ? entry.endedBy : entry.events.find(mayEndRun);
  }

  /**
   * The run folded from its request on, when this gateway saw the request: the
   * log's own answer, a step ahead of the read model and without a query.
   */
  recentState(runId: string): RunState | undefined {
    return this.recent.get(runId)?.state;
  }

  /**
   * The run's events this gateway saw after its request, oldest first. Folding
   * them onto the read model's row gives the run as the log has it now: the
   * projector may be a moment behind, and a client just told its run ended must
   * not read a row that has not even started. The fold is idempotent, so events
   * the row already holds change nothing.
   */
  recentEvents(runId: string): readonly RunEvent[] {
    return this.recent.get(runId)?.events ?? [];
  }

  /**
   * A request this gateway appended (and the log acknowledged): its run's fold
   * starts now. The tail brings the same record later; folding it again
   * changes nothing. `bytes` estimates the record's size.
   */
  requested(event: RunRequested, recordBytes: number): void {
    this.startFold(event, recordBytes * PARSED_WEIGHT);
    this.forgetPastBounds();
  }

  private startFold(event: RunRequested, bytes: number): void {
    const entry = this.recent.get(event.runId);
    if (!entry) {
      this.add(event.runId, { state: evolveRun(undefined, event), events: [], bytes });
    } else if (bytes > entry.bytes) {
      // The record's own size, once the tail brings it, replaces the trigger's estimate.
      this.recentBytes += bytes - entry.bytes;
      entry.bytes = bytes;
    }
  }

  /** Feeds events from the tail; returns those that ended their run, in log order. */
  observe(batch: readonly Decoded<RunEvent>[]): RunEvent[] {
    const ends: RunEvent[] = [];
    for (const { value: event, record } of batch) {
      const bytes = record.value.length * PARSED_WEIGHT;
      let entry = this.recent.get(event.runId);
      if (event.type === 'RunRequested') {
        this.startFold(event, bytes);
        continue;
      }
      // A dispatch repeats the run's input (up to 1 MiB), which folding never reads: not kept.
      const kept = event.type === 'RunDispatched' ? { ...event, input: null } : event;
      let endsRun: boolean;
      if (entry?.state) {
        // The fold decides: a stale attempt's end, or one after the run ended, ends nothing.
        const before = entry.state;
        entry.state = evolveRun(before, event);
        endsRun = !isFinal(before.status) && entry.state !== undefined && isFinal(entry.state.status);
        if (endsRun) entry.endedBy = event;
      } else {
        endsRun = mayEndRun(event);
      }
      if (entry) {
        entry.events.push(kept);
        entry.bytes += bytes;
        this.recentBytes += bytes;
      } else {
        entry = { state: undefined, events: [kept], bytes };
        this.add(event.runId, entry);
      }
      if (endsRun) ends.push(event);
    }
    this.forgetPastBounds();
    return ends;
  }

  private add(runId: string, entry: Recent): void {
    this.recent.set(runId, entry);
    this.recentBytes += entry.bytes;
  }

  private forgetPastBounds(): void {
    for (const [runId, entry] of this.recent) {
      if (this.recent.size <= this.bounds.maxRuns && this.recentBytes <= this.bounds.maxBytes) return;
      this.recent.delete(runId);
      this.recentBytes -= entry.bytes;
    }
  }
}

interface Recent {
  /** The run folded from its request, or undefined when this gateway started after the request. */
  state: RunState | undefined;
  /** The event that ended a held run. */
  endedBy?: RunEvent;
  /** Its events after the request, in log order, to fold onto a read-model row. */
  readonly events: RunEvent[];
  /** The heap it is estimated to hold (its records' size, weighted). */
  bytes: number;
}
