import { Kafka, type Admin, type AdminConfig, type Consumer, type ConsumerConfig, type KafkaConfig, type Producer, type ProducerConfig } from 'kafkajs';
import type { Counter, Metrics } from '@chute/runtime';

/**
 * A kafkajs client whose producers, consumers and admin clients count every
 * request they send, by API (`Produce`, `Fetch`, `EndTxn`...), in
 * `chute_log_requests_total`. The broker's CPU goes mostly per request, not
 * per byte, so these counts say what a run costs it.
 */
export class RequestCountingKafka extends Kafka {
  private readonly requests: Counter;

  constructor(config: KafkaConfig, metrics: Metrics) {
    super(config);
    this.requests = metrics.counter('chute_log_requests_total', 'Requests this process sent to the Kafka brokers, by API.');
  }

  override producer(config?: ProducerConfig): Producer {
    const producer = super.producer(config);
    producer.on(producer.events.REQUEST, ({ payload }) => this.requests.inc({ api: payload.apiName }));
    return producer;
  }

  override consumer(config: ConsumerConfig): Consumer {
    const consumer = super.consumer(config);
    consumer.on(consumer.events.REQUEST, ({ payload }) => this.requests.inc({ api: payload.apiName }));
    return consumer;
  }

  override admin(config?: AdminConfig): Admin {
    const admin = super.admin(config);
    admin.on(admin.events.REQUEST, ({ payload }) => this.requests.inc({ api: payload.apiName }));
    return admin;
  }
}
