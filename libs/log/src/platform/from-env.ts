import type { z } from 'zod';
import { type Logger, type Metrics } from '@chute/runtime';
import { brokerConnectionOf, type LogEnv } from '../settings';
import { EmbeddedLog } from '../embedded/embedded-log';
import { KafkaLog } from '../kafka/kafka-log';
import { openPlatformTopics, type PlatformTopics, type PlatformTopicsConfig } from './topics';
import type { Log } from '../types';

export type LogConfig = z.infer<typeof LogEnv>;

export function topicsConfigOf(config: LogConfig): PlatformTopicsConfig {
  return {
    prefix: config.CHUTE_TOPIC_PREFIX,
    runEventsPartitions: config.CHUTE_RUN_EVENTS_PARTITIONS,
    streamPartitions: config.CHUTE_STREAM_PARTITIONS,
    workerEventsPartitions: config.CHUTE_WORKER_EVENTS_PARTITIONS,
    dispatchPartitions: config.CHUTE_DISPATCH_PARTITIONS,
  };
}

/**
 * The Kafka log a service runs on, as its environment describes it, TLS and
 * SASL included. Reads the TLS and password files the config names.
 * @throws ConfigError when one of them cannot be read
 */
export function kafkaLogFromConfig(config: LogConfig, clientId: string, logger: Logger, metrics?: Metrics): KafkaLog {
  return new KafkaLog({
    brokers: config.CHUTE_KAFKA_BROKERS,
    clientId,
    logger,
    ...(metrics ? { metrics } : {}),
    ...(config.CHUTE_INSTANCE_ID !== undefined ? { instanceId: config.CHUTE_INSTANCE_ID } : {}),
    ...brokerConnectionOf(config),
  });
}

/**
 * Starts the log and makes sure the platform's topics exist. If topic creation
 * fails the log is stopped again, so a failed start leaks no connection.
 */
export async function startPlatformLog(
  log: Log,
  config: LogConfig,
  options: { logger: Logger; metrics: Metrics },
): Promise<PlatformTopics> {
  await log.start();
  try {
    return await openPlatformTopics(log, topicsConfigOf(config), options);
  } catch (error) {
    await log.stop();
    throw error;
  }
}

