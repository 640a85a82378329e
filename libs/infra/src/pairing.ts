/** What infra:up knows about the kept data before it starts anything. */
export interface KeptData {
  /** The broker data's cluster id, or undefined when there is none to restart on. */
  logId: string | undefined;
  /** The cluster id the kept read model was projected from ("none": a broker not ours), or undefined when there is none. */
  modelId: string | undefined;
  /** Whether this run starts the broker, and PostgreSQL. */
  needKafka: boolean;
  needPostgres: boolean;
  /** Whether CHUTE_KAFKA_BROKERS or CHUTE_DATABASE_URL is given (then one of the two is not ours). */
  addressGiven: boolean;
}

export type PairingDecision =
  | { action: 'keep' }
  | { action: 'wipe-both'; message: string }
  | { action: 'refuse'; message: string };

/**
 * The broker's log and the read model projected from it are kept or started
 * empty together: the read model's checkpoints and its consumer groups'
 * offsets point into one log, and against another it would skip or miss
 * records. Checked only when both are this checkout's.
 */
export function decideKeptDataPairing(kept: KeptData): PairingDecision {
  if (kept.addressGiven) return { action: 'keep' };
  // Both empty, or the read model of this log.
  if (kept.logId === kept.modelId) return { action: 'keep' };
  const what = `this checkout's broker data (cluster ${kept.logId ?? 'none'}) and read model (projected from ${kept.modelId ?? 'nothing'}) do not belong together`;
  if (kept.needKafka && kept.needPostgres) return { action: 'wipe-both', message: `${what}: deleting both, to start both empty` };
  // Starting one alone: harmless while the other has no data yet (it is paired
  // when it starts), refused when that would put a log and a read model that do
  // not belong together side by side.
  const other = kept.needKafka ? kept.modelId : kept.logId;
  if (other === undefined) return { action: 'keep' };
  return { action: 'refuse', message: `${what}; start both (npm run infra:up) to start them empty, or delete both first (npm run infra:down -- --wipe)` };
}
