/**
 * Least privilege on the log: which principal may do what to which topic and
 * consumer group, as one table, and how to put it on a Kafka cluster whose
 * broker runs an authorizer (`allow.everyone.if.no.acl.found=false`).
 *
 * The choice about topics: an operator's admin principal creates them up front
 * (`chute acls apply` does, with the same specs the services would use), so no
 * service holds CREATE. Every service still DESCRIBEs every platform topic: at
 * start it checks that they all exist and have leaders (`ensureTopics`).
 * Describe shows names, partitions and offsets, never records.
 *
 * What ACLs cannot do: Kafka grants per topic, not per key, so a principal
 * that may write run events (the gateway's, the workers') may write any run's
 * events. Keep those credentials as secret as the database's.
 */
import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  Kafka,
  logLevel as KafkaLogLevel,
  ResourcePatternTypes,
  type Admin,
  type AclEntry,
} from 'kafkajs';
import { DeadLetters, Dispatches, RunEvents, SchedulerSnapshots, StreamRecords, WorkerEvents, type RecordFamily } from '@chute/schemas';
import { ConfigError, type Logger } from '@chute/runtime';
import { brokerConnectionOf, type LogEnv } from '../settings';
import type { z } from 'zod';
import { kafkaSecurityConfig, noDelaySocketFactory } from './connection';
import { KafkaLog } from './kafka-log';
import { hasKafkaErrorType, isKafkaAuthenticationError, KafkaAuthenticationError } from './errors';
import { platformTopicSpecs, topicName, type PlatformTopicsConfig } from '../platform/topics';

/** The deployables that talk to the log, each as a principal of its own. */
export const PLATFORM_SERVICES = ['gateway', 'scheduler', 'projector', 'worker'] as const;
export type PlatformService = (typeof PLATFORM_SERVICES)[number];

type Family = RecordFamily<z.ZodType>;

/**
 * What each service reads and writes, from the code: the gateway appends run
 * requests and cancels, and hosts protocol workers (so it writes what a worker
 * writes, and reads dispatches and recent worker events to pick an id); the
 * scheduler decides (and ends the streams of the runs it cancels or times
 * out); the projector projects and parks what it cannot; a worker
 * runs tasks. Nothing but the scheduler writes dispatches.
 */
export const SERVICE_TOPIC_ACCESS: Readonly<Record<PlatformService, { read: readonly Family[]; write: readonly Family[] }>> = {
  gateway: { read: [RunEvents, StreamRecords, Dispatches, WorkerEvents], write: [RunEvents, StreamRecords, WorkerEvents] },
  scheduler: { read: [RunEvents, WorkerEvents, SchedulerSnapshots], write: [RunEvents, Dispatches, StreamRecords, SchedulerSnapshots] },
  projector: { read: [RunEvents, WorkerEvents], write: [DeadLetters] },
  worker: { read: [Dispatches, WorkerEvents], write: [RunEvents, StreamRecords, WorkerEvents] },
};

const ALL_TOPICS: readonly Family[] = [RunEvents, StreamRecords, WorkerEvents, Dispatches, DeadLetters, SchedulerSnapshots];

export type AclOperation = 'read' | 'write' | 'describe';

/** One grant: ALLOW `operation` on a topic, a group or a transactional id, from any host. */
export interface AclBinding {
  /** `User:<name>`, as the broker names a SASL login. */
  principal: string;
  resourceType: 'topic' | 'group' | 'transactional-id';
  /** `prefixed`: every name that starts with `name`. */
  patternType: 'literal' | 'prefixed';
  name: string;
  operation: AclOperation;
}

export interface PlatformAclOptions {
  /** The deployment's topic prefix (`CHUTE_TOPIC_PREFIX`). */
  prefix: string;
  /** The SASL user each service logs in as. @default `chute-<service>` */
  users?: Partial<Record<PlatformService, string>>;
}

/** The default SASL user of a service. */
export function defaultServiceUser(service: PlatformService): string {
  return `chute-${service}`;
}

/**
 * The consumer groups a service joins, as prefixes. A reader's private groups
 * are `<clientId>.read.<uuid>` (see `KafkaLog.read`), with the clientIds the
 * services use; the scheduler's group is exact; the projector's covers
 * `<prefix>.projector.runs` / `.workers` and a rebuild's new name
 * (`CHUTE_PROJECTOR_GROUP=<prefix>.projector-v2`).
 */
function serviceGroups(service: PlatformService, prefix: string): { patternType: AclBinding['patternType']; name: string }[] {
  switch (service) {
    case 'gateway':
      return [{ patternType: 'prefixed', name: 'chute-gateway.read.' }];
    case 'scheduler':
      return [
        { patternType: 'literal', name: `${prefix}.scheduler` },
        { patternType: 'prefixed', name: 'chute-scheduler.read.' },
      ];
    case 'projector':
      return [{ patternType: 'prefixed', name: `${prefix}.projector` }];
    case 'worker':
      // The SDK worker's clientId is `chute-worker-<name>`.
      return [{ patternType: 'prefixed', name: 'chute-worker-' }];
    default: {
      const _exhaustive: never = service;
      return _exhaustive;
    }
  }
}

/**
 * Every grant the platform needs, and nothing more. Topics are named exactly
 * (LITERAL), so a new topic under the prefix is nobody's until granted.
 * Joining, fetching offsets of and committing to a group take READ on it.
 */
export function platformAcls(options: PlatformAclOptions): AclBinding[] {
  const bindings: AclBinding[] = [];
  for (const service of PLATFORM_SERVICES) {
    const principal = `User:${options.users?.[service] ?? defaultServiceUser(service)}`;
    const access = SERVICE_TOPIC_ACCESS[service];
    for (const family of ALL_TOPICS) {
      const name = topicName(options.prefix, family);
      const operations: AclOperation[] = [];
      if (access.read.includes(family)) operations.push('read');
      if (access.write.includes(family)) operations.push('write');
      // READ and WRITE each imply DESCRIBE; a topic it neither reads nor writes still has to be seen at start.
      if (operations.length === 0) operations.push('describe');
      for (const operation of operations) bindings.push({ principal, resourceType: 'topic', patternType: 'literal', name, operation });
    }
    for (const group of serviceGroups(service, options.prefix)) {
      bindings.push({ principal, resourceType: 'group', ...group, operation: 'read' });
    }
    // The scheduler claims each run-events partition under `<prefix>.scheduler.<partition>`
    // (a transactional id): WRITE to append with it, and DESCRIBE to find its coordinator.
    if (service === 'scheduler') {
      for (const operation of ['write', 'describe'] as const) {
        bindings.push({ principal, resourceType: 'transactional-id', patternType: 'prefixed', name: `${options.prefix}.scheduler.`, operation });
      }
    }
  }
  return bindings;
}

const RESOURCE: Record<AclBinding['resourceType'], AclResourceTypes> = {
  topic: AclResourceTypes.TOPIC,
  group: AclResourceTypes.GROUP,
  'transactional-id': AclResourceTypes.TRANSACTIONAL_ID,
};

const OPERATION: Record<AclOperation, AclOperationTypes> = {
  read: AclOperationTypes.READ,
  write: AclOperationTypes.WRITE,
  describe: AclOperationTypes.DESCRIBE,
};

/** A binding as kafkajs's `admin.createAcls` takes it. */
export function toKafkajsAcl(binding: AclBinding): AclEntry {
  return {
    principal: binding.principal,
    host: '*',
    operation: OPERATION[binding.operation],
    permissionType: AclPermissionTypes.ALLOW,
    resourceType: RESOURCE[binding.resourceType],
    resourceName: binding.name,
    resourcePatternType: binding.patternType === 'literal' ? ResourcePatternTypes.LITERAL : ResourcePatternTypes.PREFIXED,
  };
}

/** The bindings as a table for people: one line per principal and resource, its operations together. */
export function formatAclTable(bindings: readonly AclBinding[]): string {
  const rows = new Map<string, { principal: string; resource: string; operations: AclOperation[] }>();
  for (const b of bindings) {
    const resource = `${b.resourceType} ${b.name}${b.patternType === 'prefixed' ? '*' : ''}`;
    const key = `${b.principal}\u0000${resource}`;
    const row = rows.get(key) ?? { principal: b.principal, resource, operations: [] };
    row.operations.push(b.operation);
    rows.set(key, row);
  }
  const lines = [...rows.values()].map((r) => [r.principal, r.resource, r.operations.join(',')]);
  const header = ['PRINCIPAL', 'RESOURCE (* = prefix)', 'OPERATIONS'];
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  return [header, ...lines].map((cells) => cells.map((c, i) => (i < cells.length - 1 ? c.padEnd(widths[i]!) : c)).join('  ')).join('\n');
}

/** How long the broker may take to show ACLs it accepted: the controller commits them, then the broker applies them. */
const ACLS_VISIBLE_TIMEOUT_MS = 30_000;

/**
 * Creates the bindings (creating one that exists changes nothing), then waits
 * until the broker answering us lists every one of them, so that what starts
 * next is authorized by them.
 */
export async function applyAcls(admin: Admin, bindings: readonly AclBinding[]): Promise<void> {
  if (bindings.length === 0) return;
  await admin.createAcls({ acl: bindings.map(toKafkajsAcl) });
  const deadline = Date.now() + ACLS_VISIBLE_TIMEOUT_MS;
  for (;;) {
    const described = await admin.describeAcls({
      resourceType: AclResourceTypes.ANY,
      resourcePatternType: ResourcePatternTypes.ANY,
      operation: AclOperationTypes.ANY,
      permissionType: AclPermissionTypes.ALLOW,
    });
    const present = new Set(
      described.resources.flatMap((r) => r.acls.map((a) => `${r.resourceType}|${r.resourcePatternType}|${r.resourceName}|${a.principal}|${a.operation}`)),
    );
    const missing = bindings.map(toKafkajsAcl).filter((a) => !present.has(`${a.resourceType}|${a.resourcePatternType}|${a.resourceName}|${a.principal}|${a.operation}`));
    if (missing.length === 0) return;
    if (Date.now() >= deadline) throw new Error(`the broker accepted ${bindings.length} ACLs but still lists ${missing.length} of them as missing`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export interface ProvisionOptions {
  /** The SASL user each service logs in as. @default `chute-<service>` */
  users?: Partial<Record<PlatformService, string>>;
  /** Create the platform's topics first, as the services would. @default true */
  createTopics?: boolean;
  logger: Logger;
}

/**
 * What an operator runs once per deployment, logged in as a principal that may
 * create topics and ACLs (a super user): creates the platform's topics, sized
 * by the same environment the services read, and grants every service its
 * ACLs. Returns the bindings it applied. Idempotent.
 */
export async function provisionPlatform(config: z.infer<typeof LogEnv>, topics: PlatformTopicsConfig, options: ProvisionOptions): Promise<AclBinding[]> {
  const connection = brokerConnectionOf(config);
  if (options.createTopics ?? true) {
    const log = new KafkaLog({ brokers: config.CHUTE_KAFKA_BROKERS, clientId: 'chute-provision', logger: options.logger, ...connection });
    await log.start();
    try {
      await log.ensureTopics(platformTopicSpecs(topics));
    } finally {
      await log.stop();
    }
  }
  const bindings = platformAcls({ prefix: topics.prefix, ...(options.users ? { users: options.users } : {}) });
  const kafka = new Kafka({
    clientId: 'chute-provision',
    brokers: [...config.CHUTE_KAFKA_BROKERS],
    logLevel: KafkaLogLevel.NOTHING,
    socketFactory: noDelaySocketFactory,
    ...kafkaSecurityConfig(connection),
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await applyAcls(admin, bindings);
  } catch (error) {
    if (connection.sasl && isKafkaAuthenticationError(error)) throw new KafkaAuthenticationError(connection.sasl, { cause: error });
    if (hasKafkaErrorType(error, 'CLUSTER_AUTHORIZATION_FAILED')) {
      throw new ConfigError(
        `kafka: ${connection.sasl ? `user ${connection.sasl.username}` : 'this login'} may not create ACLs (CLUSTER_AUTHORIZATION_FAILED): apply them as a super user, or one with ALTER on the cluster`,
        { cause: error },
      );
    }
    throw error;
  } finally {
    await admin.disconnect();
  }
  return bindings;
}
