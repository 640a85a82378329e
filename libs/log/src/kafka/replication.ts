/** How the platform's topics are replicated on a cluster of some size. */
export interface TopicReplication {
  /** Copies of each partition, each on a different broker. */
  replicationFactor: number;
  /** Topic configs that go with it (`min.insync.replicas`). */
  config: Readonly<Record<string, string>>;
}

/** The copies the platform asks for where the cluster has enough brokers. */
export const TARGET_REPLICATION_FACTOR = 3;

/**
 * The replication of a topic created on a cluster of `brokers` brokers (as
 * its metadata names them): min(3, brokers) copies, and, where there are
 * three, `min.insync.replicas=2`. With the producers' acks=all a write is
 * acknowledged once two copies have it: one broker may die without losing an
 * acknowledged record or refusing a write, and a second loss refuses writes
 * (NOT_ENOUGH_REPLICAS, retried) rather than acknowledging a record that
 * lives on one disk. On one or two brokers the broker's own default (1) holds:
 * min ISR 2 of 2 would make one broker's restart refuse every write.
 */
export function replicationFor(brokers: number): TopicReplication {
  const replicationFactor = Math.max(1, Math.min(TARGET_REPLICATION_FACTOR, brokers));
  return { replicationFactor, config: replicationFactor >= 3 ? { 'min.insync.replicas': '2' } : {} };
}
