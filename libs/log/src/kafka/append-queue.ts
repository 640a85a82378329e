import type { Producer } from 'kafkajs';
import type { Logger } from '@chute/runtime';
import { UnknownTopicError } from '../types';
import { hasKafkaErrorType, isRetriableKafkaError } from './errors';

export interface AppendMessage {
  key: string;
  value: Buffer;
  headers?: Record<string, string>;
}

interface Pending {
  topic: string;
  messages: AppendMessage[];
  bytes: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * The Kafka log's appends, in call order: everything appended while a send is
 * in flight goes out together in the next one (up to `maxFlushBytes`), so
 * appends made together share one request, and one send at a time keeps them
 * ordered.
 */
export class AppendQueue {
  private queue: Pending[] = [];
  private flushing = false;

  constructor(
    private readonly producer: Producer,
    private readonly maxFlushBytes: number,
    private readonly logger: Logger,
  ) {}

  /** Resolves once the broker has the messages; rejects if it refuses them for good. */
  append(topic: string, messages: AppendMessage[], bytes: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ topic, messages, bytes, resolve, reject });
      // Idle: send at once - after the code running now, so the appends it
      // makes together (a batch of dispatches handled) share one request.
      // Busy: this append rides with the next send.
      if (!this.flushing) {
        this.flushing = true;
        queueMicrotask(() => void this.flush());
      }
    });
  }

  /** Resolves once every append accepted so far has been sent (or refused). */
  async drained(): Promise<void> {
    while (this.flushing || this.queue.length > 0) await new Promise((r) => setTimeout(r, 5));
  }

  /** One send in flight at a time: that is what keeps concurrent appends in call order. */
  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        let bytes = 0;
        let take = 0;
        while (take < this.queue.length && (take === 0 || bytes + this.queue[take]!.bytes <= this.maxFlushBytes)) {
          bytes += this.queue[take]!.bytes;
          take++;
        }
        const batch = this.queue.splice(0, take);
        const byTopic = new Map<string, AppendMessage[]>();
        for (const p of batch) {
          const list = byTopic.get(p.topic);
          if (list) list.push(...p.messages);
          else byTopic.set(p.topic, [...p.messages]);
        }
        const topicMessages = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
        try {
          await this.sendUntilTaken(topicMessages);
          for (const p of batch) p.resolve();
        } catch (error) {
          const unknown = hasKafkaErrorType(error, 'UNKNOWN_TOPIC_OR_PARTITION');
          for (const p of batch) p.reject(unknown ? new UnknownTopicError(p.topic) : error);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /**
   * Sends one batch, again and again while the broker is unreachable. kafkajs
   * retries a send itself, but a connection refused while it refreshes
   * metadata (a broker restarting) escapes as a KafkaJSNonRetriableError
   * around a retriable cause; giving up there would drop the batch while the
   * ones queued behind it go out: a hole in a run's records. The batch stays at
   * the head of the queue until the broker takes it, so order holds, and the
   * idempotent producer keeps a resend from writing it twice. Only an error
   * about the records themselves (or an unknown topic) fails it.
   */
  private async sendUntilTaken(topicMessages: { topic: string; messages: AppendMessage[] }[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.producer.sendBatch({ acks: -1, topicMessages });
        return;
      } catch (error) {
        if (!isRetriableKafkaError(error) || hasKafkaErrorType(error, 'UNKNOWN_TOPIC_OR_PARTITION')) throw error;
        if (attempt === 0) this.logger.warn('the broker did not take an append; retrying until it does', { err: error });
        await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * 2 ** attempt)));
      }
    }
  }
}
