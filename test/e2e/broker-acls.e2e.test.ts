import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AclOperationTypes, AclPermissionTypes, AclResourceTypes, Kafka, logLevel, ResourcePatternTypes, type Consumer } from 'kafkajs';
import { KafkaLog, PLATFORM_SERVICES, provisionPlatform, topicsConfigOf, type AclBinding, type PlatformService } from '@chute/log';
import { parseEnv, silentLogger } from '@chute/runtime';
import { LogEnv } from '@chute/log';
import WebSocket from 'ws';
import { DEFAULT_TENANT, DISPATCH_WORKER_HEADER, GatewayMessage, type DispatchRecord, type RunEvent, type RunView, type WorkerMessage } from '@chute/schemas';
import { Platform, ScramBroker, ServiceProcess, uniqueName, waitFor, type ScramUser } from '@chute/testing';
import { openAudit, readAll, type Audit } from '../support/audit';
import { triggerRun } from '../support/gateway';

// Least privilege on the log: a broker that authorizes every request
// (StandardAuthorizer, nothing allowed that no ACL allows), each service
// logging in as its own SCRAM user with only the ACLs of `chute acls apply`.
// The platform runs a run end to end; a foreign login cannot forge a run's
// end, and a worker's login cannot write dispatches or read what it does not
// need. Refusals are asserted by kafkajs's protocol error type and code.

/** Letters, digits, "-" and "_": the storage tool takes them unquoted. */
const password = (name: string): string => `${name}-pw-${Math.random().toString(36).slice(2, 10)}`;
const USERS = {
  admin: { name: 'admin', password: password('admin') },
  gateway: { name: 'gateway', password: password('gateway') },
  scheduler: { name: 'scheduler', password: password('scheduler') },
  projector: { name: 'projector', password: password('projector') },
  worker: { name: 'worker', password: password('worker') },
  foreign: { name: 'foreign', password: password('foreign') },
} satisfies Record<string, ScramUser>;

// Apart from broker-sasl.e2e.test.ts's 19094-19096: test files run side by side.
const PORT = 19114;

const sasl = (user: ScramUser) => ({ mechanism: 'scram-sha-256' as const, username: user.name, password: user.password });

const saslEnv = (user: ScramUser): Record<string, string> => ({
  CHUTE_KAFKA_SASL_MECHANISM: 'scram-sha-256',
  CHUTE_KAFKA_SASL_USERNAME: user.name,
  CHUTE_KAFKA_SASL_PASSWORD: user.password,
});

interface ProtocolError {
  type: string;
  code: number;
}

/** The broker's protocol errors in what kafkajs threw: kafkajs wraps them in `cause` chains and aggregates. */
function protocolErrors(error: unknown, depth = 0): ProtocolError[] {
  if (depth > 10 || typeof error !== 'object' || error === null) return [];
  const e = error as { type?: unknown; code?: unknown; cause?: unknown; errors?: unknown };
  const own = typeof e.type === 'string' && typeof e.code === 'number' ? [{ type: e.type, code: e.code }] : [];
  const inner = Array.isArray(e.errors) ? e.errors.flatMap((x: unknown) => protocolErrors(x, depth + 1)) : [];
  return [...own, ...inner, ...protocolErrors(e.cause, depth + 1)];
}

/**
 * Asserts the action is refused with this protocol error (e.g.
 * TOPIC_AUTHORIZATION_FAILED, 29): in what kafkajs threw, or, where kafkajs
 * drops the broker's answer from what it throws (a FindCoordinator refused
 * with GROUP_AUTHORIZATION_FAILED becomes a bare KafkaJSGroupCoordinatorNotFound),
 * in the errors its client logged meanwhile (`seen`); then, when given, that
 * the thrown error has the kafkajs type `thrown`.
 */
async function assertRefused(action: () => Promise<unknown>, expected: ProtocolError, options: { seen?: ProtocolError[]; thrown?: string } = {}): Promise<void> {
  const before = options.seen?.length ?? 0;
  let outcome: unknown;
  try {
    outcome = await action();
  } catch (error) {
    const found = [...protocolErrors(error), ...(options.seen?.slice(before) ?? [])];
    const name = error instanceof Error ? error.name : String(error);
    assert.ok(
      found.some((f) => f.type === expected.type && f.code === expected.code),
      `expected ${expected.type} (${expected.code}), got ${name} with ${JSON.stringify(found)}`,
    );
    if (options.thrown) assert.equal(name, options.thrown);
    return;
  }
  assert.fail(`expected ${expected.type}, but the broker allowed it: ${JSON.stringify(outcome)}`);
}

/** Runs a consumer until it crashes (resolves with nothing if it ever gets a record). */
function consumeUntilCrash(consumer: Consumer, topic: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    consumer.on(consumer.events.CRASH, ({ payload }) => reject(payload.error));
    void consumer
      .subscribe({ topics: [topic], fromBeginning: true })
      .then(() => consumer.run({ eachMessage: async () => resolve() }))
      .catch(reject);
  });
}

const TOPIC_AUTHORIZATION_FAILED = { type: 'TOPIC_AUTHORIZATION_FAILED', code: 29 };
const GROUP_AUTHORIZATION_FAILED = { type: 'GROUP_AUTHORIZATION_FAILED', code: 30 };
const CLUSTER_AUTHORIZATION_FAILED = { type: 'CLUSTER_AUTHORIZATION_FAILED', code: 31 };
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED = { type: 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED', code: 53 };

describe('least privilege on the log: per-service principals with topic ACLs', () => {
  let broker: ScramBroker;
  let platform: Platform;
  let audit: Audit;
  let bindings: AclBinding[];
  const prefix = uniqueName('acls');
  const clients: { disconnect(): Promise<void> }[] = [];

  /**
   * A bare kafkajs client logged in as `user`, what a foreign producer would
   * use; `seen` collects the broker's protocol errors that its log reports.
   */
  const kafkaAs = (user: ScramUser): { kafka: Kafka; seen: ProtocolError[] } => {
    const seen: ProtocolError[] = [];
    const kafka = new Kafka({
      clientId: uniqueName(`acls-${user.name}`),
      brokers: [broker.brokers],
      sasl: sasl(user),
      logLevel: logLevel.DEBUG,
      logCreator: () => (entry) => void seen.push(...protocolErrors((entry.log as { error?: unknown }).error)),
      retry: { retries: 0 },
    });
    return { kafka, seen };
  };

  const topic = (name: string): string => `${prefix}.${name}`;

  before(async () => {
    broker = await ScramBroker.start({ port: PORT, users: Object.values(USERS), authorizer: { superUsers: [USERS.admin.name] } });
    const env = { CHUTE_KAFKA_BROKERS: broker.brokers, CHUTE_TOPIC_PREFIX: prefix };
    // The operator's step: as admin, create the topics and grant each service its ACLs.
    const config = parseEnv(LogEnv, { ...env, ...saslEnv(USERS.admin) });
    const users = Object.fromEntries(PLATFORM_SERVICES.map((s) => [s, USERS[s].name])) as Record<PlatformService, string>;
    bindings = await provisionPlatform(config, topicsConfigOf(config), { users, logger: silentLogger });
    platform = await Platform.start({
      workers: 1,
      env,
      serviceEnv: Object.fromEntries(PLATFORM_SERVICES.map((s) => [s, saslEnv(USERS[s])])),
    });
    audit = await openAudit(platform.env, { sasl: sasl(USERS.admin) });
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.disconnect().catch(() => undefined)));
    await audit?.stop();
    await platform?.stop();
    await broker?.stop();
  });

  const trigger = (task: string, input: unknown = {}) => triggerRun(platform.gatewayUrl, task, input);

  const runView = async (runId: string): Promise<RunView | undefined> => {
    const response = await fetch(`${platform.gatewayUrl}/api/v1/runs/${runId}`);
    return response.status === 200 ? ((await response.json()) as RunView) : undefined;
  };
  const untilStatus = async (runId: string, status: RunView['status'], timeoutMs = 60_000): Promise<RunView> => {
    let last: RunView | undefined;
    await waitFor(async () => (last = await runView(runId))?.status === status, {
      timeoutMs,
      intervalMs: 100,
      message: `run ${runId} to be ${status} (last: ${last?.status})`,
    });
    return last!;
  };
  /** The record the attacker wrote: the run ended, with output of their choosing. */
  const forgedEnd = (runId: string) =>
    JSON.stringify({ v: 1, type: 'RunCompleted', runId, tenant: DEFAULT_TENANT, at: Date.now(), attempt: 1, output: { forged: true } } satisfies RunEvent);

  test('the grants: nobody but the scheduler writes dispatches; only the gateway, the scheduler and the workers write run events', () => {
    const writers = (name: string) =>
      [...new Set(bindings.filter((b) => b.resourceType === 'topic' && b.name === topic(name) && b.operation === 'write').map((b) => b.principal))].sort();
    assert.deepEqual(writers('dispatch'), ['User:scheduler']);
    assert.deepEqual(writers('run-events'), ['User:gateway', 'User:scheduler', 'User:worker']);
    assert.deepEqual(writers('dead-letter'), ['User:projector']);
    assert.ok(!bindings.some((b) => b.principal === 'User:foreign'));
    assert.ok(!bindings.some((b) => b.resourceType === 'topic' && b.patternType === 'prefixed'), 'topics are granted by exact name');
  });

  test('every service, logged in as its own user with only its ACLs, runs a run end to end', async () => {
    const runId = await trigger('echo', { hello: 'acls' });
    const run = await untilStatus(runId, 'COMPLETED');
    assert.deepEqual(run.output, { hello: 'acls' });
    // Ready means every consumer of each service is consuming: none is stuck on a refused read.
    for (const service of platform.processes) {
      const url = service.name === 'gateway' ? platform.gatewayUrl : Platform.probesOf(service);
      assert.equal((await fetch(`${url}/readyz`)).status, 200, `${service.name} is not ready`);
    }
  });

  test('a worker over the gateway\'s protocol runs a run too: the gateway writes its worker events, stream and end, and reads its dispatches', async () => {
    const socket = new WebSocket(`${platform.gatewayUrl.replace(/^http/, 'ws')}/api/v1/workers/connect`);
    const received: GatewayMessage[] = [];
    socket.on('message', (data) => {
      const message = GatewayMessage.parse(JSON.parse(String(data)));
      received.push(message);
      if (message.type !== 'assigned') return;
      const { runId, attempt } = message;
      const send = (m: WorkerMessage): void => socket.send(JSON.stringify(m));
      send({ type: 'started', runId, attempt });
      send({ type: 'chunk', runId, attempt, data: 'over the protocol', encoding: 'utf8' });
      send({ type: 'completed', runId, attempt, output: { via: 'protocol' } });
    });
    try {
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      socket.send(JSON.stringify({ type: 'register', name: 'acls-protocol', tasks: ['acls-remote'], slots: 1 } satisfies WorkerMessage));
      await waitFor(() => received.some((m) => m.type === 'registered'), { timeoutMs: 20_000, message: 'registered' });
      const runId = await trigger('acls-remote');
      assert.deepEqual((await untilStatus(runId, 'COMPLETED')).output, { via: 'protocol' });
    } finally {
      socket.close(1000);
    }
  });

  test("a foreign login cannot forge a run's end: refused on run-events, and the read model never sees it", async () => {
    const runId = await trigger('stream-example');
    await untilStatus(runId, 'RUNNING');
    const producer = kafkaAs(USERS.foreign).kafka.producer({ allowAutoTopicCreation: false });
    clients.push(producer);
    await producer.connect();
    await assertRefused(
      () => producer.send({ topic: topic('run-events'), acks: -1, messages: [{ key: runId, value: forgedEnd(runId) }] }),
      TOPIC_AUTHORIZATION_FAILED,
    );
    // The platform's own client, logged in as foreign, does not get further: its idempotent producer needs a topic it may write.
    const log = new KafkaLog({ brokers: [broker.brokers], clientId: uniqueName('foreign-log'), logger: silentLogger, sasl: sasl(USERS.foreign) });
    clients.push({ disconnect: () => log.stop() });
    await assertRefused(() => log.start(), CLUSTER_AUTHORIZATION_FAILED);

    // The run ends as its worker ends it, not as the forger said.
    const ended = await untilStatus(runId, 'COMPLETED');
    assert.notDeepEqual(ended.output, { forged: true });
    const events = (await readAll<RunEvent>(audit, audit.topics.runEvents)).filter((e) => e.runId === runId);
    assert.equal(events.filter((e) => e.type === 'RunCompleted').length, 1);
    assert.ok(!events.some((e) => e.type === 'RunCompleted' && JSON.stringify(e.output) === '{"forged":true}'));
  });

  test('control: the same forged record written by a principal allowed to (admin) does end a running run, so the refusal above is what stopped it', async () => {
    const runId = await trigger('stream-example');
    await untilStatus(runId, 'RUNNING');
    const producer = kafkaAs(USERS.admin).kafka.producer({ allowAutoTopicCreation: false });
    clients.push(producer);
    await producer.connect();
    await producer.send({ topic: topic('run-events'), acks: -1, messages: [{ key: runId, value: forgedEnd(runId) }] });
    const forged = await untilStatus(runId, 'COMPLETED');
    assert.deepEqual(forged.output, { forged: true });
  });

  test("a worker's login cannot write a dispatch, claim a scheduler's partition, read run events, create a topic, or read or join the scheduler's group", async () => {
    // Through the platform's own client, as a compromised worker process would: refused at once, not retried forever.
    const log = new KafkaLog({ brokers: [broker.brokers], clientId: 'chute-worker-rogue', logger: silentLogger, sasl: sasl(USERS.worker) });
    clients.push({ disconnect: () => log.stop() });
    await log.start();
    // Revoking another worker's attempt would stop its run.
    const revoke: DispatchRecord = {
      v: 1,
      type: 'AttemptRevoked',
      runId: '00000000-0000-4000-8000-000000000001',
      tenant: DEFAULT_TENANT,
      at: Date.now(),
      attempt: 1,
      workerId: 'someone-else',
      finalStatus: 'CANCELLED',
      reason: 'forged',
    };
    await assertRefused(
      () => log.append(topic('dispatch'), [{ key: revoke.workerId, value: JSON.stringify(revoke), headers: { [DISPATCH_WORKER_HEADER]: revoke.workerId } }]),
      TOPIC_AUTHORIZATION_FAILED,
    );
    const { kafka, seen } = kafkaAs(USERS.worker);
    // Claiming a partition's transactional id would fence its scheduler, which could then decide nothing for it.
    // kafkajs reports the refused coordinator lookup as "coordinator not found"; the broker's refusal is in its log.
    const claimant = kafka.producer({ transactionalId: `${prefix}.scheduler.0`, idempotent: true, maxInFlightRequests: 1, retry: { retries: 1 } });
    clients.push(claimant);
    await claimant.connect();
    await assertRefused(() => claimant.transaction(), TRANSACTIONAL_ID_AUTHORIZATION_FAILED, { seen, thrown: 'KafkaJSGroupCoordinatorNotFound' });
    // A group the worker may use (chute-worker-*), on a topic it may not read.
    const reader = kafka.consumer({ groupId: `chute-worker-rogue.read.${uniqueName('g')}` });
    clients.push(reader);
    await reader.connect();
    await assertRefused(() => consumeUntilCrash(reader, topic('run-events')), TOPIC_AUTHORIZATION_FAILED);

    const admin = kafka.admin();
    clients.push(admin);
    await admin.connect();
    await assertRefused(() => admin.createTopics({ topics: [{ topic: topic('rogue'), numPartitions: 1 }] }), TOPIC_AUTHORIZATION_FAILED);
    // The same login finds its own groups' coordinator: what follows is refused for the group, not for want of a coordinator.
    const own = await admin.fetchOffsets({ groupId: `chute-worker-rogue.read.${uniqueName('g')}`, topics: [topic('dispatch')] });
    assert.deepEqual(own.map((t) => t.topic), [topic('dispatch')]);
    await assertRefused(() => admin.fetchOffsets({ groupId: `${prefix}.scheduler`, topics: [topic('run-events')] }), GROUP_AUTHORIZATION_FAILED, {
      seen,
      thrown: 'KafkaJSGroupCoordinatorNotFound',
    });
    // Joining the scheduler's group, on a topic the worker may read, would take partitions from the schedulers.
    const intruder = kafka.consumer({ groupId: `${prefix}.scheduler` });
    clients.push(intruder);
    await intruder.connect();
    await assertRefused(() => consumeUntilCrash(intruder, topic('worker-events')), GROUP_AUTHORIZATION_FAILED, { seen });
  });

  test("a foreign login sees no platform topic, cannot read the scheduler group's offsets or grant itself ACLs", async () => {
    const { kafka, seen } = kafkaAs(USERS.foreign);
    const admin = kafka.admin();
    clients.push(admin);
    await admin.connect();
    assert.deepEqual((await admin.listTopics()).filter((t) => t.startsWith(prefix)), []);
    await assertRefused(() => admin.fetchOffsets({ groupId: `${prefix}.scheduler`, topics: [topic('run-events')] }), GROUP_AUTHORIZATION_FAILED, {
      seen,
      thrown: 'KafkaJSGroupCoordinatorNotFound',
    });
    await assertRefused(
      () =>
        admin.createAcls({
          acl: [
            {
              principal: 'User:foreign',
              host: '*',
              operation: AclOperationTypes.WRITE,
              permissionType: AclPermissionTypes.ALLOW,
              resourceType: AclResourceTypes.TOPIC,
              resourceName: topic('run-events'),
              resourcePatternType: ResourcePatternTypes.LITERAL,
            },
          ],
        }),
      CLUSTER_AUTHORIZATION_FAILED,
    );
  });

  test('a service whose user has no ACLs stops at start with one line naming the user and the refusal', async () => {
    const scheduler = ServiceProcess.start('scheduler', { ...platform.env, ...saslEnv(USERS.foreign), CHUTE_PROBE_PORT: '0' });
    clients.push({ disconnect: () => scheduler.kill() });
    const code = await Promise.race([
      scheduler.waitForExit(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the scheduler still runs: ${scheduler.stderr}`)), 60_000).unref()),
    ]);
    assert.equal(code, 1);
    assert.equal(scheduler.stderr, "chute-scheduler: kafka: user foreign may not produce (CLUSTER_AUTHORIZATION_FAILED): grant the service's ACLs (npx chute acls print)\n");
  });
});
