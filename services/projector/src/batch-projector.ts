import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from '@chute/db';
import type { Decoded, PartitionOffset } from '@chute/log';
import type { Counter, Logger, Metrics } from '@chute/runtime';
import type { RecordParked } from '@chute/schemas';
import {
  classifyProjectionError,
  deadLetterOf,
  DEFAULT_PARKING_POLICY,
  nextStepAfterFailure,
  type ParkingPolicy,
  type ProjectionFailure,
} from './failures';
import { projectBatch, skipRecord, type ApplyEvents } from './projection';

/** What a {@link BatchProjector} needs. */
export interface BatchProjectorOptions<T> {
  db: Db;
  /** The projection's name in `projector_checkpoints`. */
  projection: string;
  /** The consumer group the batches come from, named in each dead letter. */
  consumer: string;
  apply: ApplyEvents<T>;
  /**
   * Writes a batch with its checkpoint, all or nothing, skipping what the
   * checkpoint is past; resolves with the records applied. `next` is where
   * reading the partition goes on after the batch.
   * @default a transaction: {@link projectBatch} with `apply`
   */
  write?: (batch: readonly Decoded<T>[], next?: PartitionOffset) => Promise<number>;
  /** Appends dead letters; resolves once the log holds them durably. */
  park(letters: readonly RecordParked[]): Promise<void>;
  logger: Logger;
  /** Where `chute_projector_dead_letters_total` is counted. */
  metrics: Metrics;
  /** @default DEFAULT_PARKING_POLICY */
  policy?: ParkingPolicy;
}

/**
 * Projects a partition's batches so that no record stalls the projection. A
 * batch lands whole, with its checkpoint, in one transaction. When the read
 * model refuses it on its data, the batch is tried a few times more, then
 * record by record: the good records land, and each one that still fails is
 * parked on the dead-letter topic, counted, logged, and skipped. Any other
 * failure is an outage: the error goes back to the log, which redelivers the
 * batch, with back-off, until it lands; nothing is parked for it.
 */
export class BatchProjector<T> {
  private readonly deadLetters: Counter;
  private readonly policy: ParkingPolicy;
  private readonly write: (batch: readonly Decoded<T>[], next?: PartitionOffset) => Promise<number>;

  constructor(private readonly options: BatchProjectorOptions<T>) {
    this.write = options.write ?? ((batch) => projectBatch(options.db, options.projection, batch, options.apply));
    this.deadLetters = options.metrics.counter(
      'chute_projector_dead_letters_total',
      'Records the read model refused even alone, parked on the dead-letter topic and skipped, by projection.',
    );
    this.policy = options.policy ?? DEFAULT_PARKING_POLICY;
  }

  /**
   * Projects one partition's batch, in offset order.
   *
   * @returns how many records were applied (records behind the checkpoint and parked ones do not count).
   * @throws the database's error when it is an outage; the batch should be delivered again.
   */
  async project(batch: readonly Decoded<T>[], next?: PartitionOffset): Promise<number> {
    const { projection, logger } = this.options;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.write(batch, next);
      } catch (error) {
        const failure = classifyProjectionError(error);
        const next = nextStepAfterFailure(failure, attempt, this.policy);
        if (next.step === 'rethrow') throw error;
        const first = batch[0]!.record;
        const where = { projection, topic: first.topic, partition: first.partition, from: first.offset, records: batch.length, code: failure.code, attempt };
        if (next.step === 'record-by-record') {
          logger.warn('the read model refuses the batch; projecting it record by record', { ...where, error: failure.reason });
          return this.projectOneByOne(batch);
        }
        logger.warn('the read model refused the batch; trying it again', { ...where, error: failure.reason, delayMs: next.delayMs });
        await sleep(next.delayMs);
      }
    }
  }

  /**
   * Each record in its own transaction, in offset order. One try each: the
   * batch already had its retries, and a record that fails alone on its data
   * is the one at fault.
   */
  private async projectOneByOne(batch: readonly Decoded<T>[]): Promise<number> {
    let applied = 0;
    for (const decoded of batch) {
      try {
        applied += await this.write([decoded]);
      } catch (error) {
        const failure = classifyProjectionError(error);
        if (failure.kind === 'outage') throw error;
        await this.park(decoded, failure);
      }
    }
    return applied;
  }

  /**
   * The dead letter first, then the checkpoint: a crash between the two parks
   * the record again on redelivery (a duplicate dead letter), never skips it
   * unrecorded.
   */
  private async park(decoded: Decoded<T>, failure: Extract<ProjectionFailure, { kind: 'data' }>): Promise<void> {
    const { record } = decoded;
    const { projection, consumer, logger } = this.options;
    await this.options.park([deadLetterOf(record, failure, consumer, Date.now())]);
    await skipRecord(this.options.db, projection, record);
    this.deadLetters.inc({ projection });
    logger.error('parked a record the read model refuses on the dead-letter topic', {
      projection,
      consumer,
      topic: record.topic,
      partition: record.partition,
      offset: record.offset,
      key: record.key,
      code: failure.code,
      error: failure.reason,
    });
  }
}
