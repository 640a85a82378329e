import { evolveRun, type RunState } from '@chute/domain';
import { decodeRunState, encodeRunState, type Db, type NewRunRow } from '@chute/db';
import type { Decoded, LogRecord } from '@chute/log';
import type { RunEvent, WorkerEvent } from '@chute/schemas';
import type { Transaction } from 'kysely';
import type { Database } from '@chute/db';

type Trx = Transaction<Database>;

/** Writes a batch's events into the read model, inside the batch's transaction. */
export type ApplyEvents<T> = (trx: Trx, events: readonly T[]) => Promise<void>;

const iso = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

/** The row a run's state projects to. Derived from event times only, so a rebuild gives the same row. */
export function runRow(state: RunState): NewRunRow {
  return {
    id: state.runId,
    tenant: state.tenant,
    task: state.task,
    status: state.status,
    input: JSON.stringify(state.input),
    output: JSON.stringify(state.output),
    error: JSON.stringify(state.error),
    attempt: state.attempt,
    max_retries: state.retries,
    failures: state.failures,
    worker_id: state.workerId,
    created_at: new Date(state.createdAt),
    updated_at: new Date(state.updatedAt),
    started_at: iso(state.startedAt),
    finished_at: iso(state.finishedAt),
    state: encodeRunState(state),
  };
}

/**
 * Applies one partition's batch in one transaction with its checkpoint, skipping
 * records below the checkpoint: a redelivered batch changes nothing.
 */
export async function projectBatch<T>(
  db: Db,
  projection: string,
  batch: readonly Decoded<T>[],
  apply: ApplyEvents<T>,
): Promise<number> {
  const first = batch[0];
  if (!first) return 0;
  const { topic, partition } = first.record;
  return db.transaction().execute(async (trx) => {
    const checkpoint = await trx
      .selectFrom('projector_checkpoints')
      .select('offset')
      .where('projection', '=', projection)
      .where('topic', '=', topic)
      .where('partition', '=', partition)
      .forUpdate()
      .executeTakeFirst();
    const fresh = batch.filter((d) => d.record.offset >= (checkpoint?.offset ?? 0));
    if (fresh.length === 0) return 0;
    await apply(
      trx,
      fresh.map((d) => d.value),
    );
    await moveCheckpoint(trx, projection, topic, partition, fresh[fresh.length - 1]!.record.offset + 1);
    return fresh.length;
  });
}

/**
 * Moves a projection's checkpoint past one record without applying it: for a
 * record parked on the dead-letter topic. Never moves it back, so skipping a
 * record already behind the checkpoint changes nothing.
 */
export async function skipRecord(db: Db, projection: string, record: LogRecord): Promise<void> {
  await moveCheckpoint(db, projection, record.topic, record.partition, record.offset + 1);
}

/** Sets the next offset to apply, if it is ahead of the stored one. */
async function moveCheckpoint(db: Db | Trx, projection: string, topic: string, partition: number, next: number): Promise<void> {
  await db
    .insertInto('projector_checkpoints')
    .values({ projection, topic, partition, offset: next })
    .onConflict((oc) =>
      oc
        .columns(['projection', 'topic', 'partition'])
        .doUpdateSet({ offset: next, updated_at: new Date() })
        .where('projector_checkpoints.offset', '<', next),
    )
    .execute();
}

/**
 * Folds run events into `runs`: loads the touched rows' states, folds, writes
 * back the changed ones.
 *
 * @throws InvalidRowError (@chute/db) when a touched row's state does not decode.
 */
export async function applyRunEvents(trx: Trx, events: readonly RunEvent[]): Promise<void> {
  await foldRunEvents(trx, events);
}

/** Folds `events` onto `states` in place; returns the runs whose state changed. */
export function foldEvents(states: Map<string, RunState | undefined>, events: readonly RunEvent[]): Set<string> {
  const changed = new Set<string>();
  for (const event of events) {
    const before = states.get(event.runId);
    const after = evolveRun(before, event);
    if (after !== before && after) {
      states.set(event.runId, after);
      changed.add(event.runId);
    }
  }
  return changed;
}

/**
 * {@link applyRunEvents}, returning every touched run as folded (undefined for
 * a run the events did not create).
 */
export async function foldRunEvents(trx: Trx, events: readonly RunEvent[]): Promise<ReadonlyMap<string, RunState | undefined>> {
  const ids = [...new Set(events.map((e) => e.runId))];
  const rows = await trx.selectFrom('runs').select(['id', 'state']).where('id', 'in', ids).execute();
  const states = new Map<string, RunState | undefined>(rows.map((r) => [r.id, decodeRunState(r.id, r.state)]));
  const changed = foldEvents(states, events);
  if (changed.size === 0) return states;
  const values = [...changed].map((id) => runRow(states.get(id)!));
  await trx
    .insertInto('runs')
    .values(values)
    .onConflict((oc) =>
      oc.column('id').doUpdateSet((eb) => ({
        status: eb.ref('excluded.status'),
        output: eb.ref('excluded.output'),
        error: eb.ref('excluded.error'),
        attempt: eb.ref('excluded.attempt'),
        failures: eb.ref('excluded.failures'),
        worker_id: eb.ref('excluded.worker_id'),
        updated_at: eb.ref('excluded.updated_at'),
        started_at: eb.ref('excluded.started_at'),
        finished_at: eb.ref('excluded.finished_at'),
        state: eb.ref('excluded.state'),
      })),
    )
    .execute();
  return states;
}

/** Folds worker events into `workers`. */
export async function applyWorkerEvents(trx: Trx, events: readonly WorkerEvent[]): Promise<void> {
  for (const event of events) {
    switch (event.type) {
      case 'WorkerRegistered':
        await trx
          .insertInto('workers')
          .values({
            id: event.workerId,
            name: event.name,
            tenant: event.tenant,
            tasks: JSON.stringify(event.tasks),
            slots: event.slots,
            status: 'ACTIVE',
            registered_at: new Date(event.at),
            last_heartbeat_at: new Date(event.at),
          })
          .onConflict((oc) => oc.column('id').doNothing())
          .execute();
        break;
      case 'WorkerHeartbeat':
        await trx
          .updateTable('workers')
          .set({ last_heartbeat_at: new Date(event.at) })
          .where('id', '=', event.workerId)
          .where('last_heartbeat_at', '<', new Date(event.at))
          .execute();
        break;
      case 'WorkerStopped':
        await trx.updateTable('workers').set({ status: 'STOPPED' }).where('id', '=', event.workerId).execute();
        break;
      default: {
        const _exhaustive: never = event;
        return _exhaustive;
      }
    }
  }
}
