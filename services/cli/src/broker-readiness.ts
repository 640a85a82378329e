import { kafkaLogFromConfig, platformTopicSpecs, topicName, topicsConfigOf, type LogConfig } from '@chute/log';
import { createLogger, logFormatFor } from '@chute/runtime';
import { RunEvents } from '@chute/schemas';

/** A broker restarted on kept data can take a while to load every partition and coordinator on 2 cores. */
const READY_WITHIN_MS = 120_000;

/**
 * Waits, before any service starts, until the broker can serve them all at
 * once: the platform's topics exist (created here, once, instead of by five
 * services racing to), every partition's leader answers offset lookups, the
 * idempotent producer gets its id, and the consumer groups' coordinators have
 * loaded. A broker (re)started a moment ago answers metadata before all that
 * is true; services started then each met "not the leader for that
 * topic-partition", "coordinator is loading" and "topic creation errors", and
 * restarted their consumers. Here those retries are the expected way to wait,
 * so this client logs errors only.
 */
export async function untilBrokerServes(config: LogConfig): Promise<void> {
  const quiet = createLogger({ service: 'dev' }, 'error', (line) => process.stderr.write(`${line}\n`), logFormatFor(process.env, process.stderr));
  const log = kafkaLogFromConfig(config, 'chute-dev', quiet);
  // start() connects the idempotent producer, which waits for its producer id.
  await log.start();
  try {
    const topics = topicsConfigOf(config);
    await log.ensureTopics(platformTopicSpecs(topics));
    const runEvents = topicName(topics.prefix, RunEvents);
    const groups = ['scheduler', 'projector.runs', 'projector.workers'].map((group) => `${topics.prefix}.${group}`);
    const deadline = Date.now() + READY_WITHIN_MS;
    for (;;) {
      try {
        await Promise.all(groups.map((group) => log.committedOffsets(group, runEvents)));
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } finally {
    await log.stop();
  }
}
