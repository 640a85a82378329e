/** What one node's folder holds, read before anything starts. */
export interface KeptNode {
  id: number;
  /** The cluster id of its formatted storage, or undefined when there is none to restart on. */
  clusterId: string | undefined;
  /** The port it was formatted for (`storage.port`). */
  port: number | undefined;
  /** The quorum it was formatted for (`storage.quorum`; data from before clusters has none: standalone). */
  quorum: string | undefined;
}

export type ClusterStartDecision =
  | { action: 'fresh' }
  | { action: 'kept'; clusterId: string }
  | { action: 'refuse'; message: string };

/**
 * Whether the nodes to start (`nodes`, those of the cluster asked for that do
 * not run) start empty or on their kept data. A cluster restarts on its data
 * only whole: every node formatted for the same cluster, the port it is asked
 * on, and the same quorum (node ids and controller addresses are in the
 * data). Data of another port, another size, or nodes that do not form one
 * cluster is refused with what to do, never deleted unasked: it is a log.
 * With `running` nodes of the cluster up, the rest must rejoin them: kept data only.
 */
export function decideClusterStart(nodes: readonly KeptNode[], wanted: { ports: ReadonlyMap<number, number>; quorum: string; running: number }): ClusterStartDecision {
  const wipe = 'delete it (npm run infra:down -- --wipe) to start empty';
  const formatted = nodes.filter((n) => n.clusterId !== undefined);
  if (formatted.length === 0) {
    if (wanted.running === 0) return { action: 'fresh' };
    return { action: 'refuse', message: `brokers ${nodes.map((n) => n.id).join(', ')} have no kept data to rejoin the running ones on; stop them all (npm run infra:down) and start again` };
  }
  for (const node of formatted) {
    const port = wanted.ports.get(node.id);
    if (node.port !== port) {
      return { action: 'refuse', message: `this checkout's stopped Kafka (broker ${node.id}) keeps its data for port ${node.port}, not ${port}: start it there (CHUTE_INFRA_KAFKA_PORT) or ${wipe}` };
    }
    const quorum = node.quorum ?? 'standalone';
    if (quorum !== wanted.quorum) {
      return { action: 'refuse', message: `this checkout's kept Kafka data (broker ${node.id}) is of ${describeQuorum(quorum)}, not ${describeQuorum(wanted.quorum)}: start it as it was (--brokers ${quorumSize(quorum)}) or ${wipe}` };
    }
  }
  const missing = nodes.filter((n) => n.clusterId === undefined);
  const ids = new Set(formatted.map((n) => n.clusterId));
  if (missing.length > 0 || ids.size > 1) {
    const what = missing.length > 0 ? `brokers ${missing.map((n) => n.id).join(', ')} have none` : `they belong to clusters ${[...ids].join(', ')}`;
    return { action: 'refuse', message: `this checkout's kept Kafka data does not form one cluster (${what}): ${wipe}` };
  }
  return { action: 'kept', clusterId: formatted[0]!.clusterId! };
}

/** How many voters a recorded quorum names. */
export function quorumSize(quorum: string): number {
  return quorum === 'standalone' ? 1 : quorum.split(',').length;
}

function describeQuorum(quorum: string): string {
  const size = quorumSize(quorum);
  return size === 1 ? 'a single broker' : `a cluster of ${size} brokers`;
}
