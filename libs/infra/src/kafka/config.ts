/**
 * One KRaft node of this checkout's Kafka: its id, its ports and where its
 * files live. Every node is a combined broker and controller; a cluster of N
 * (`infra:up -- --brokers N`) is N of these on consecutive port pairs, each
 * with its own state, and a controller quorum naming every node.
 */
export interface KafkaNode {
  /** node.id. */
  id: number;
  /** The client listener. */
  port: number;
  /** The controller listener. */
  controllerPort: number;
  /** Its own state dir (`.infra/kafka` for node 1, `.infra/kafka-<id>` for the others). */
  dir: string;
}

/** The most brokers infra:up starts: each is a JVM on a 2-core machine. */
export const MAX_BROKERS = 5;

/**
 * The single node of `infra:up`: the broker on `port`, its controller on the
 * next port, its files in `dir`.
 */
export function singleNode(port: number, dir: string): KafkaNode {
  return { id: 1, port, controllerPort: port + 1, dir };
}

/**
 * The `count` nodes of a cluster whose first broker listens on `port`: node i
 * (from 1) on port + 2(i-1), its controller on the port after, so the cluster
 * takes `2 * count` consecutive ports. Node 1 is {@link singleNode}: a cluster
 * of one is the single broker, files and all. `stateDir(name)` places a
 * node's folder (`kafka`, `kafka-2`, ...).
 */
export function clusterNodes(port: number, count: number, stateDir: (name: string) => string): KafkaNode[] {
  return Array.from({ length: count }, (_, i) => ({
    id: i + 1,
    port: port + 2 * i,
    controllerPort: port + 2 * i + 1,
    dir: stateDir(i === 0 ? 'kafka' : `kafka-${i + 1}`),
  }));
}

/**
 * How a node finds its controller quorum: alone, the single node formats
 * itself as a standalone (dynamic) quorum; in a cluster every node lists all
 * the voters (`controller.quorum.voters`), so any majority elects a leader.
 * Recorded with the data at format time: data formatted for one quorum
 * cannot start in another.
 */
export function quorumOf(nodes: readonly KafkaNode[]): string {
  if (nodes.length === 1) return 'standalone';
  return nodes.map((n) => `${n.id}@127.0.0.1:${n.controllerPort}`).join(',');
}

/**
 * What the replicated internal topics of a cluster of `brokers` get: every
 * copy on a different broker, up to three, and two of them in sync before a
 * write is acknowledged where there are three (one broker's loss then loses
 * no acknowledged offset commit or transaction state, and refuses nothing).
 */
export function internalReplication(brokers: number): { replicationFactor: number; minInsync: number } {
  const replicationFactor = Math.min(3, brokers);
  return { replicationFactor, minInsync: replicationFactor >= 3 ? 2 : 1 };
}

/**
 * server.properties of a node: a broker and controller for development and
 * tests, on loopback only. Generated here rather than read from a template in
 * the repository, so the library works from a built bundle. `cluster` is
 * every node of its cluster (this one included).
 */
export function serverProperties(node: KafkaNode, dataDir: string, cluster: readonly KafkaNode[] = [node]): string {
  const quorum = quorumOf(cluster);
  const { replicationFactor, minInsync } = internalReplication(cluster.length);
  const controllers =
    quorum === 'standalone'
      ? `controller.quorum.bootstrap.servers=127.0.0.1:${node.controllerPort}`
      : `controller.quorum.voters=${quorum}`;
  return `# A ${cluster.length === 1 ? 'single-node' : `${cluster.length}-node`} KRaft broker for development and tests, on loopback only.
# Written by @chute/infra (libs/infra/src/kafka/config.ts) at every start.
process.roles=broker,controller
node.id=${node.id}
${controllers}
listeners=PLAINTEXT://127.0.0.1:${node.port},CONTROLLER://127.0.0.1:${node.controllerPort}
advertised.listeners=PLAINTEXT://127.0.0.1:${node.port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=${dataDir}
num.partitions=1
# Consumer offsets and transaction state are copied to min(3, brokers) nodes.
offsets.topic.replication.factor=${replicationFactor}
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=${replicationFactor}
transaction.state.log.min.isr=${minInsync}
# The platform's topics get their replication from the client (libs/log's
# replicationFor): the broker's defaults (1) are left alone, so a test of
# those topics proves what the client asked for.
# A restarted broker takes its partitions' leadership back once it has caught up.
auto.leader.rebalance.enable=true
# Consumer groups join at once instead of waiting 3 s for more members.
group.initial.rebalance.delay.ms=0
# The platform creates its topics with explicit partition counts.
auto.create.topics.enable=false
# Two cores run the broker beside every service: a few threads hand requests
# over with fewer context switches than the defaults (3 network, 8 I/O).
num.network.threads=1
num.io.threads=2
background.threads=2
${cluster.length > 1 ? CLUSTER_PROPERTIES : ''}`;
}

/**
 * What a cluster adds. With acks=all a leader waits for every in-sync
 * replica, so a killed follower stalls writes until it leaves the ISR: the
 * controller fences a broker whose heartbeats stop after
 * broker.session.timeout.ms (default 9 s) and takes it out of every ISR, and
 * a leader drops a follower that stopped fetching after
 * replica.lag.time.max.ms (default 30 s). Both are lowered so a broker's
 * death costs a few seconds, not tens. One replica fetcher per source:
 * two cores.
 */
const CLUSTER_PROPERTIES = `num.replica.fetchers=1
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
replica.lag.time.max.ms=5000
`;

/** log4j2's configuration: warnings and worse, to the console (which is kafka.log). */
export const LOG4J2_YAML = `Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        Pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDOUT
`;

/**
 * The JVM's options: a small heap and the serial collector, because these
 * machines have 2 cores and run the services and tests beside the broker.
 */
export const KAFKA_JVM_OPTIONS = ['-Xms256m', '-Xmx512m', '-XX:+UseSerialGC'] as const;

/** Each node of a cluster: three JVMs share the machine with every service. */
export const KAFKA_CLUSTER_JVM_OPTIONS = ['-Xms128m', '-Xmx384m', '-XX:+UseSerialGC'] as const;
