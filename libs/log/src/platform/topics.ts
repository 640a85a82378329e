import { DeadLetters, Dispatches, RunEvents, SchedulerSnapshots, StreamRecords, WorkerEvents, type RecordFamily } from '@chute/schemas';
import type { z } from 'zod';
import type { Log, TopicSpec } from '../types';
import { Topic, type TopicOptions } from './typed';

export interface PlatformTopicsConfig {
  /** Prefix of every topic name, so deployments can share a cluster. */
  prefix: string;
  runEventsPartitions: number;
  streamPartitions: number;
  workerEventsPartitions: number;
  /** Partitions of the dispatch topic: how many workers read apart. @default 32 */
  dispatchPartitions?: number;
  /**
   * Partitions of the dead-letter topic. Records are parked rarely, and read
   * by people, not at load. @default 1
   */
  deadLetterPartitions?: number;
}

export function topicName(prefix: string, family: RecordFamily<z.ZodType>): string {
  return `${prefix}.${family.topic}`;
}

/** The topics the platform creates at start-up, sized by configuration. */
export function platformTopicSpecs(config: PlatformTopicsConfig): TopicSpec[] {
  return [
    { name: topicName(config.prefix, RunEvents), partitions: config.runEventsPartitions },
    { name: topicName(config.prefix, StreamRecords), partitions: config.streamPartitions },
    { name: topicName(config.prefix, WorkerEvents), partitions: config.workerEventsPartitions },
    { name: topicName(config.prefix, Dispatches), partitions: config.dispatchPartitions ?? 32 },
    { name: topicName(config.prefix, DeadLetters), partitions: config.deadLetterPartitions ?? 1 },
    // Checkpoints are read only at takeover and are superseded every few minutes at most: a day of them is plenty.
    { name: topicName(config.prefix, SchedulerSnapshots), partitions: 1, config: { 'retention.ms': String(24 * 3600 * 1000) } },
  ];
}

export interface PlatformTopics {
  runEvents: Topic<typeof RunEvents.schema>;
  stream: Topic<typeof StreamRecords.schema>;
  workerEvents: Topic<typeof WorkerEvents.schema>;
  /** What schedulers tell each worker: every worker reads its own partition only. */
  dispatch: Topic<typeof Dispatches.schema>;
  /** Schedulers' checkpoints of the run-events partitions they own. */
  schedulerSnapshots: Topic<typeof SchedulerSnapshots.schema>;
  /** Where a consumer parks a record it cannot process, to move on past it. */
  deadLetters: Topic<typeof DeadLetters.schema>;
}

/** Ensures the platform's topics exist and returns typed handles on them. */
export async function openPlatformTopics(
  log: Log,
  config: PlatformTopicsConfig,
  options: TopicOptions,
): Promise<PlatformTopics> {
  await log.ensureTopics(platformTopicSpecs(config));
  return {
    runEvents: new Topic(log, RunEvents, topicName(config.prefix, RunEvents), options),
    stream: new Topic(log, StreamRecords, topicName(config.prefix, StreamRecords), options),
    workerEvents: new Topic(log, WorkerEvents, topicName(config.prefix, WorkerEvents), options),
    dispatch: new Topic(log, Dispatches, topicName(config.prefix, Dispatches), options),
    schedulerSnapshots: new Topic(log, SchedulerSnapshots, topicName(config.prefix, SchedulerSnapshots), options),
    deadLetters: new Topic(log, DeadLetters, topicName(config.prefix, DeadLetters), options),
  };
}
