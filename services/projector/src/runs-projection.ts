import { sql } from 'kysely';
import { isFinal, type RunState } from '@chute/domain';
import type { Db } from '@chute/db';
import type { Decoded, PartitionOffset } from '@chute/log';
import type { Counter, Metrics } from '@chute/runtime';
import type { RunEvent } from '@chute/schemas';
import { foldEvents, foldRunEvents, projectBatch, runRow } from './projection';

/** How many live runs a partition's memory holds; a run forgotten costs its next batch a read. */
const REMEMBERED_RUNS = 20_000;

/** What the projector knows of a partition it has been projecting without a gap. */
interface PartitionMemory {
  /** The checkpoint it last wrote: the batch's statement moves it only from there. */
  written: number;
  /** Where its reading went on after the last batch (past commit markers): a batch from there follows on. */
  readUpTo: number;
  /** The live runs it folded, as the read model holds them, oldest first. */
  readonly runs: Map<string, RunState>;
}

/**
 * Writes run events into `runs`, with the checkpoint, all or nothing.
 *
 * A batch that follows on the last one this projector wrote, and touches only
 * runs it remembers or that the batch itself requests, is one statement: the
 * checkpoint moves from where this projector left it and the rows are written
 * in the same statement, so another projector that moved the checkpoint
 * meanwhile (the partition changed hands and back) makes it write nothing, and
 * a requested run whose id is taken makes it write nothing either. Any other
 * batch, and one such statement that wrote nothing, goes the long way: a
 * transaction that reads the checkpoint and the rows, folds and writes (six
 * round trips instead of one).
 */
export class RunsProjection {
  private readonly partitions = new Map<string, PartitionMemory>();

  private readonly batches: Counter;

  constructor(
    private readonly db: Db,
    metrics: Metrics,
    private readonly projection = 'runs',
    private readonly rememberedRuns = REMEMBERED_RUNS,
  ) {
    this.batches = metrics.counter('chute_projector_run_batches_total', 'Run-event batches written, by how: in one statement, or in a transaction that reads first.');
  }

  /** Projects one partition's batch, in offset order; `next` is where reading goes on. @returns how many records were applied. */
  async project(batch: readonly Decoded<RunEvent>[], next?: PartitionOffset): Promise<number> {
    const first = batch[0];
    if (!first) return 0;
    const { topic, partition } = first.record;
    const key = `${topic}:${partition}`;
    const last = batch[batch.length - 1]!.record.offset + 1;
    const memory = this.partitions.get(key);
    this.partitions.delete(key);
    if (memory && first.record.offset >= memory.readUpTo) {
      const folded = foldFromMemory(memory.runs, batch);
      if (folded && (await this.writeAtOnce(topic, partition, memory.written, last, folded))) {
        this.remember(key, memory.runs, folded.states, last, next?.offset ?? last);
        this.batches.inc({ write: 'statement' });
        return batch.length;
      }
    }
    let states: ReadonlyMap<string, RunState | undefined> = new Map();
    const applied = await projectBatch(this.db, this.projection, batch, async (trx, events) => {
      states = await foldRunEvents(trx, events);
    });
    // Nothing applied: the checkpoint was past the batch, by how much is not known here.
    if (applied > 0) this.remember(key, memory?.runs ?? new Map(), states, last, next?.offset ?? last);
    this.batches.inc({ write: 'transaction' });
    return applied;
  }

  private remember(key: string, runs: Map<string, RunState>, states: ReadonlyMap<string, RunState | undefined>, written: number, readUpTo: number): void {
    for (const [runId, state] of states) {
      runs.delete(runId);
      // An ended run takes no more events that change it: no need to hold it.
      if (state && !isFinal(state.status)) runs.set(runId, state);
    }
    for (const runId of runs.keys()) {
      if (runs.size <= this.rememberedRuns) break;
      runs.delete(runId);
    }
    this.partitions.set(key, { written, readUpTo, runs });
  }

  /** The batch's statement: true if it moved the checkpoint (and so wrote the rows). */
  private async writeAtOnce(topic: string, partition: number, from: number, to: number, folded: Folded): Promise<boolean> {
    const rows = [...folded.changed].map((runId) => runRow(folded.states.get(runId)!));
    const moved = sql`
      UPDATE projector_checkpoints SET "offset" = ${to}, updated_at = now()
      WHERE projection = ${this.projection} AND topic = ${topic} AND partition = ${partition} AND "offset" = ${from}
        AND NOT EXISTS (SELECT 1 FROM runs WHERE id = ANY(${folded.requested}::uuid[]))
      RETURNING 1`;
    const statement =
      rows.length === 0
        ? sql<{ moved: number }>`WITH moved AS (${moved}) SELECT count(*)::int AS moved FROM moved`
        : sql<{ moved: number }>`
      WITH moved AS (${moved}),
      written AS (
        INSERT INTO runs (id, tenant, task, status, input, output, error, attempt, max_retries, failures, worker_id, created_at, updated_at, started_at, finished_at, state)
        SELECT * FROM (VALUES ${sql.join(
          rows.map(
            (r) =>
              sql`(${r.id}::uuid, ${r.tenant}, ${r.task}, ${r.status}, ${r.input}::json, ${r.output}::json, ${r.error}::json, ${r.attempt}::int, ${r.max_retries}::int, ${r.failures}::int, ${r.worker_id}::text, ${r.created_at}::timestamptz, ${r.updated_at}::timestamptz, ${r.started_at}::timestamptz, ${r.finished_at}::timestamptz, ${r.state}::json)`,
          ),
        )}) AS v
        WHERE EXISTS (SELECT 1 FROM moved)
        ON CONFLICT (id) DO UPDATE SET
          status = excluded.status, output = excluded.output, error = excluded.error, attempt = excluded.attempt,
          failures = excluded.failures, worker_id = excluded.worker_id, updated_at = excluded.updated_at,
          started_at = excluded.started_at, finished_at = excluded.finished_at, state = excluded.state
        RETURNING 1
      )
      SELECT count(*)::int AS moved FROM moved`;
    const { rows: result } = await statement.execute(this.db);
    return result[0]?.moved === 1;
  }
}

interface Folded {
  /** Every run the batch touched, folded. */
  readonly states: ReadonlyMap<string, RunState>;
  /** The runs whose row changed. */
  readonly changed: ReadonlySet<string>;
  /** Runs the batch requests that were unknown before it: their ids must not be taken. */
  readonly requested: string[];
}

/**
 * The batch folded onto the runs remembered, or undefined when a run it
 * touches is neither remembered nor requested by the batch (its row must be read).
 */
function foldFromMemory(remembered: ReadonlyMap<string, RunState>, batch: readonly Decoded<RunEvent>[]): Folded | undefined {
  const states = new Map<string, RunState | undefined>();
  const requested: string[] = [];
  for (const { value: event } of batch) {
    if (states.has(event.runId)) continue;
    const known = remembered.get(event.runId);
    if (!known && event.type !== 'RunRequested') return undefined;
    if (!known) requested.push(event.runId);
    states.set(event.runId, known);
  }
  const changed = foldEvents(states, batch.map((d) => d.value));
  // Every run is known or requested first, so each has a state once folded.
  return { states: states as Map<string, RunState>, changed, requested };
}
