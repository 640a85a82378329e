import type { EachBatchPayload, IHeaders } from 'kafkajs';
import type { LogRecord, PartitionOffset } from '../types';

// kafkajs's fetched messages as the log's records.

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** On the hot path of every read: a record without headers (most) allocates nothing. */
function toHeaders(headers: IHeaders | undefined): Readonly<Record<string, string>> {
  if (!headers) return NO_HEADERS;
  let out: Record<string, string> | undefined;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    // A header repeated under one name: the last one counts, as for most HTTP-like readers.
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (last === undefined) continue;
    (out ??= {})[name] = typeof last === 'string' ? last : last.toString('utf8');
  }
  return out ?? NO_HEADERS;
}

export type KafkaBatch = EachBatchPayload['batch'];

export function toLogRecords(batch: KafkaBatch): LogRecord[] {
  return batch.messages.map((m) => toLogRecord(batch.topic, batch.partition, m));
}

/**
 * Where reading the partition goes on after a batch: past its last offset,
 * which counts the transaction markers and aborted records kafkajs fetched
 * and dropped (they have offsets but reach no handler).
 */
export function nextOf(batch: KafkaBatch): PartitionOffset {
  return { partition: batch.partition, offset: Number(batch.lastOffset()) + 1 };
}

function toLogRecord(topic: string, partition: number, m: KafkaBatch['messages'][number]): LogRecord {
  return {
    topic,
    partition,
    offset: Number(m.offset),
    key: m.key ? m.key.toString('utf8') : '',
    value: m.value ?? Buffer.alloc(0),
    timestamp: Number(m.timestamp),
    headers: toHeaders(m.headers),
  };
}
