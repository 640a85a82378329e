export * from './components';
export * from './env-file';
export * from './errors';
export * from './log-tail';
export * from './pairing';
export * from './reporter';
export * from './settings';
export * from './state-dir';
export * from './processes';
export { DockerCompose, COMPOSE_SERVICES } from './docker';
export { KafkaBroker, KafkaNodeFiles, KAFKA_DEADLINE_SECONDS, newClusterId } from './kafka/broker';
export { KafkaCluster, checkBrokerCount } from './kafka/cluster';
export { decideClusterStart, quorumSize, type ClusterStartDecision, type KeptNode } from './kafka/cluster-decision';
export {
  singleNode,
  clusterNodes,
  quorumOf,
  internalReplication,
  serverProperties,
  LOG4J2_YAML,
  KAFKA_JVM_OPTIONS,
  KAFKA_CLUSTER_JVM_OPTIONS,
  MAX_BROKERS,
  type KafkaNode,
} from './kafka/config';
export { kafkaJarsDir, hasKafkaJars, javaMajor, parseJavaMajor, KAFKA_POM } from './kafka/jars';
export { waitForBrokerReady } from './kafka/readiness';
export { PostgresServer, pgBinDir, PG_DEADLINE_SECONDS } from './postgres/server';
export { InfraUp, type UpRequest, type UpResult } from './up';
export { InfraDown, type DownRequest } from './down';
export { InfraSession, type InfraSessionOptions } from './session';
