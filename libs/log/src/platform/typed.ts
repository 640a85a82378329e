import type { z } from 'zod';
import { decodeRecordBytes, describeIssue, RecordDecodeError, type RecordFamily } from '@chute/schemas';
import { withDeadline, type Logger, type Metrics } from '@chute/runtime';
import type { BatchHandler, ConsumeOptions, GroupSubscription, Log, LogRecord, PartitionOffset, ReadOptions, Subscription, TopicRead, TopicRecords } from '../types';

/** An append refused because the record does not match its schema; `field` names what is wrong. */
export class InvalidRecordError extends Error {
  override readonly name = 'InvalidRecordError';
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

/** Offsets `from` (included) to `to` (excluded) of one partition. */
export interface PartitionRange {
  readonly partition: number;
  readonly from: number;
  readonly to: number;
}

/** A decoded record with its position in the log. */
export interface Decoded<T> {
  readonly value: T;
  readonly record: LogRecord;
}

/**
 * Receives the records of a batch that decoded, and `next`: where reading
 * its partition goes on, past every record the log delivered (decoded, skipped
 * or not accepted alike) and every offset that held nothing for a reader. How
 * far the batch reached, for a reader that tracks it.
 */
export type DecodedHandler<T> = (records: readonly Decoded<T>[], next: PartitionOffset) => Promise<void> | void;

/** Whether a handler is called for a batch of which nothing decoded. */
export interface DeliveryOptions {
  /**
   * Call the handler for such a batch too, with no records: for a reader that
   * waits to have read up to an offset, which a record that did not decode
   * (a foreign producer's) or a transaction's commit marker must not hold
   * back. Otherwise such a batch is skipped without a call. @default false
   */
  everyBatch?: boolean;
}

/** Reading a topic: the log's options, plus a cheap look at each raw record before it is decoded. */
export interface TopicReadOptions extends ReadOptions, DeliveryOptions {
  /**
   * Records this refuses are skipped without decoding: a consumer that wants a
   * few records of a busy topic need not parse the rest. May accept records it
   * then ignores; must not refuse one it needs.
   */
  accept?: (record: LogRecord) => boolean;
}

export interface TopicOptions {
  logger: Logger;
  metrics: Metrics;
}

/**
 * One topic of one record family: validates what goes in, decodes what comes
 * out. A record that fails to decode is logged, counted in
 * `chute_log_invalid_records_total` and skipped, so one bad record never
 * stops a consumer.
 */
export class Topic<S extends z.ZodType> {
  private readonly invalid;

  constructor(
    private readonly log: Log,
    readonly family: RecordFamily<S>,
    readonly name: string,
    private readonly options: TopicOptions,
  ) {
    this.invalid = options.metrics.counter(
      'chute_log_invalid_records_total',
      'Records read from the log that did not decode and were skipped.',
    );
  }

  /** Validates every record first: an invalid one refuses the whole append, and nothing is written. */
  append(records: readonly z.infer<S>[]): Promise<void> {
    return this.log.append(this.name, this.encode(records).records);
  }

  /**
   * Validates and encodes records for an exclusive append that spans topics.
   * @throws InvalidRecordError naming the first invalid field
   */
  encode(records: readonly z.infer<S>[]): TopicRecords {
    return {
      topic: this.name,
      records: records.map((r) => {
        const valid = this.validate(r);
        const headers = this.family.headers?.(valid);
        return { key: this.family.key(valid), value: JSON.stringify(r), ...(headers ? { headers } : {}) };
      }),
    };
  }

  validate(record: unknown): z.infer<S> {
    const parsed = this.family.schema.safeParse(record);
    if (parsed.success) return parsed.data;
    const { field, detail } = describeIssue(parsed.error);
    throw new InvalidRecordError(field, `refused ${this.family.topic} record: ${field}: ${detail}`);
  }

  /** Decodes a batch, reporting and dropping what does not decode. */
  decode(records: readonly LogRecord[]): Decoded<z.infer<S>>[] {
    const out: Decoded<z.infer<S>>[] = [];
    for (const record of records) {
      try {
        out.push({ value: decodeRecordBytes(this.family, record.value), record });
      } catch (error) {
        if (!(error instanceof RecordDecodeError)) throw error;
        this.invalid.inc({ topic: this.name });
        this.options.logger.warn('skipped undecodable record', {
          topic: this.name,
          partition: record.partition,
          offset: record.offset,
          field: error.field,
          error: error.message,
        });
      }
    }
    return out;
  }

  consume(options: Omit<ConsumeOptions, 'topics' | 'handler'> & DeliveryOptions & { handler: DecodedHandler<z.infer<S>> }): Promise<GroupSubscription> {
    const { everyBatch, handler, ...rest } = options;
    return this.log.consume({ ...rest, topics: [this.name], handler: this.wrap(handler, { everyBatch }) });
  }

  tail(handler: DecodedHandler<z.infer<S>>, options: TopicReadOptions = {}): Promise<Subscription> {
    return this.log.tail(this.name, this.wrap(handler, options), options);
  }

  read(from: readonly PartitionOffset[], handler: DecodedHandler<z.infer<S>>, options: TopicReadOptions = {}): Promise<Subscription> {
    return this.log.read(this.name, from, this.wrap(handler, options), options);
  }

  /** This topic's part of a {@link Log.readAll}: its records from `from` on, decoded, to `handler`. */
  reading(from: readonly PartitionOffset[], handler: DecodedHandler<z.infer<S>>, options: Pick<TopicReadOptions, 'accept' | 'everyBatch'> = {}): TopicRead {
    return { topic: this.name, from, handler: this.wrap(handler, options) };
  }

  /**
   * What was appended since `timestamp`, up to the end as of the call: a
   * bounded look back, for a reader that needs recent records only.
   */
  async readSince(timestamp: number, deadlineMs = 10_000): Promise<z.infer<S>[]> {
    const ranges: PartitionRange[] = [];
    for (const { partition, offset: end } of await this.log.endOffsets(this.name)) {
      ranges.push({ partition, from: await this.log.offsetForTime(this.name, partition, timestamp), to: end });
    }
    return (await this.readRanges(ranges, deadlineMs)).map((d) => d.value);
  }

  /** The records of each partition from `from` up to (not including) `to`, decoded. */
  async readRanges(ranges: readonly PartitionRange[], deadlineMs = 30_000): Promise<Decoded<z.infer<S>>[]> {
    const targets = new Map(ranges.filter((r) => r.from < r.to).map((r) => [r.partition, r.to]));
    if (targets.size === 0) return [];
    const from = ranges.filter((r) => targets.has(r.partition)).map((r) => ({ partition: r.partition, offset: r.from }));
    const read: LogRecord[] = [];
    let finish = (): void => undefined;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const subscription = await this.log.read(this.name, from, (records, next) => {
      const target = targets.get(next.partition);
      if (target === undefined) return;
      for (const record of records) if (record.offset < target) read.push(record);
      if (next.offset >= target) targets.delete(next.partition);
      if (targets.size === 0) finish();
    });
    try {
      await withDeadline(finished, deadlineMs, `${this.name} was not read up to the offsets asked for within ${deadlineMs} ms`);
    } finally {
      await subscription.stop();
    }
    return this.decode(read);
  }

  private wrap(handler: DecodedHandler<z.infer<S>>, { accept, everyBatch }: Pick<TopicReadOptions, 'accept' | 'everyBatch'>): BatchHandler {
    return async (records, next) => {
      const decoded = this.decode(accept ? records.filter(accept) : records);
      if (decoded.length > 0 || everyBatch) await handler(decoded, next);
    };
  }
}
