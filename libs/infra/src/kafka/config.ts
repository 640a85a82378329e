/**
 * One KRaft node of this checkout's Kafka: its id, its ports and where its
 * files live. Today there is one (node 1, combined broker and controller);
 * a cluster of N (issue #24) is N of these on consecutive port pairs, each
 * with its own state, and a controller quorum naming every node.
 */
export interface KafkaNode {
  /** node.id. */
  id: number;
  /** The client listener. */
  port: number;
  /** The controller listener. */
  controllerPort: number;
  /** Its own state dir (`.infra/kafka` for node 1). */
  dir: string;
}

/**
 * The single node of `infra:up`: the broker on `port`, its controller on the
 * next port, its files in `dir`.
 */
export function singleNode(port: number, dir: string): KafkaNode {
  return { id: 1, port, controllerPort: port + 1, dir };
}

/**
 * server.properties of a node: a broker and controller for development and
 * tests, on loopback only. Generated here rather than read from a template in
 * the repository, so the library works from a built bundle.
 */
export function serverProperties(node: KafkaNode, dataDir: string): string {
  return `# A single-node KRaft broker for development and tests, on loopback only.
# Written by @chute/infra (libs/infra/src/kafka/config.ts) at every start.
process.roles=broker,controller
node.id=${node.id}
controller.quorum.bootstrap.servers=127.0.0.1:${node.controllerPort}
listeners=PLAINTEXT://127.0.0.1:${node.port},CONTROLLER://127.0.0.1:${node.controllerPort}
advertised.listeners=PLAINTEXT://127.0.0.1:${node.port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=${dataDir}
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
# Consumer groups join at once instead of waiting 3 s for more members.
group.initial.rebalance.delay.ms=0
# The platform creates its topics with explicit partition counts.
auto.create.topics.enable=false
# Two cores run the broker beside every service: a few threads hand requests
# over with fewer context switches than the defaults (3 network, 8 I/O).
num.network.threads=1
num.io.threads=2
background.threads=2
`;
}

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
