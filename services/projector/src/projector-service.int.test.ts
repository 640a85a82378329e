// The projector service on the real broker and PostgreSQL, in process: records
// appended to the log reach the read model, and one the read model refuses is
// parked on the dead-letter topic while the records around it land.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { decodeRunState } from '@chute/db';
import { createTestDatabase, type TestDatabase } from '@chute/db/testing';
import { KafkaLog, startPlatformLog, type PlatformTopics, type Subscription } from '@chute/log';
import { Metrics, parseEnv, silentLogger } from '@chute/runtime';
import type { RecordParked } from '@chute/schemas';
import { requireEnv, uniqueName, waitFor } from '@chute/testing';
import { ProjectorEnv, type ProjectorConfig } from './config';
import { ProjectorService } from './projector-service';
import { refusedDispatch, runLife } from './run-events.test-support';

describe('projector service on the broker', () => {
  let database: TestDatabase;
  let config: ProjectorConfig;
  let service: ProjectorService;
  let log: KafkaLog;
  let topics: PlatformTopics;
  let deadLetterReader: Subscription;
  const letters: RecordParked[] = [];

  before(async () => {
    database = await createTestDatabase();
    config = parseEnv(ProjectorEnv, {
      CHUTE_KAFKA_BROKERS: requireEnv('CHUTE_KAFKA_BROKERS'),
      CHUTE_DATABASE_URL: database.url,
      CHUTE_TOPIC_PREFIX: uniqueName('projector'),
      // One partition: the refused record and the good ones around it share batches and a checkpoint.
      CHUTE_RUN_EVENTS_PARTITIONS: '1',
      CHUTE_PROJECTOR_LINGER_MS: '0',
    });
    service = new ProjectorService(config, silentLogger);
    await service.start();
    log = new KafkaLog({ brokers: config.CHUTE_KAFKA_BROKERS, clientId: uniqueName('projector-test'), logger: silentLogger });
    topics = await startPlatformLog(log, config, { logger: silentLogger, metrics: new Metrics() });
    deadLetterReader = await topics.deadLetters.read([{ partition: 0, offset: 0 }], (batch) => {
      for (const { value } of batch) letters.push(value);
    });
  });

  after(async () => {
    await deadLetterReader?.stop();
    await log?.stop();
    await service?.stop();
    await database?.drop();
  });

  const rowOf = (runId: string) => database.db.selectFrom('runs').selectAll().where('id', '=', runId).executeTakeFirst();
  const waitForStatus = (runId: string, status: string) =>
    waitFor(async () => (await rowOf(runId))?.status === status, { timeoutMs: 60_000, intervalMs: 50, message: `run ${runId} to be ${status}` });
  const runEventsEnd = async () => (await log.endOffsets(topics.runEvents.name))[0]!.offset;

  test('a run whose input and output hold U+0000 is projected from the log and reads back equal', async () => {
    const runId = randomUUID();
    const input = { text: 'a\u0000b' };
    await topics.runEvents.append(runLife(runId, input, 'out\u0000'));
    await waitForStatus(runId, 'COMPLETED');
    const row = (await rowOf(runId))!;
    assert.deepEqual(row.input, input);
    assert.equal(row.output, 'out\u0000');
    assert.deepEqual(decodeRunState(runId, row.state).input, input);
  });

  test('a record the read model refuses is parked on <prefix>.dead-letter, counted and skipped; the records around it land', async () => {
    const good = randomUUID();
    const bad = randomUUID();
    const later = randomUUID();
    const [goodRequested, ...goodRest] = runLife(good, { n: 1 }, 'ok');
    const refused = refusedDispatch(bad);
    const from = await runEventsEnd();
    await topics.runEvents.append([goodRequested!, runLife(bad, null, null)[0]!, refused, ...goodRest]);
    await topics.runEvents.append(runLife(later, null, 'later'));

    await waitForStatus(good, 'COMPLETED');
    await waitForStatus(later, 'COMPLETED');
    await waitFor(() => letters.some((l) => l.key === bad), { timeoutMs: 60_000, message: 'the refused record to be parked' });

    const parked = letters.filter((l) => l.key === bad);
    assert.equal(parked.length, 1);
    const letter = parked[0]!;
    assert.deepEqual(
      { topic: letter.topic, partition: letter.partition, offset: letter.offset, code: letter.code, consumer: letter.consumer },
      { topic: topics.runEvents.name, partition: 0, offset: from + 2, code: '22003', consumer: `${config.CHUTE_TOPIC_PREFIX}.projector.runs` },
    );
    assert.deepEqual(JSON.parse(Buffer.from(letter.value, 'base64').toString('utf8')), refused, "the record's value as it was on the log");
    assert.match(letter.reason, /out of range for type integer/);
    assert.equal((await rowOf(bad))?.status, 'QUEUED', 'the run is there, without the refused dispatch');
    assert.match(service.metrics.render(), /^chute_projector_dead_letters_total\{projection="runs"\} 1$/m);

    const checkpoint = await database.db
      .selectFrom('projector_checkpoints')
      .select('offset')
      .where('projection', '=', 'runs')
      .where('topic', '=', topics.runEvents.name)
      .executeTakeFirstOrThrow();
    assert.equal(checkpoint.offset, await runEventsEnd(), 'the checkpoint is past every record, the parked one included');
  });

  test("a run it remembers whose stored state was damaged behind its back is written again from the log's fold", async () => {
    const damaged = randomUUID();
    const [requested, dispatched] = runLife(damaged, null, null);
    await topics.runEvents.append([requested!]);
    await waitForStatus(damaged, 'QUEUED');
    await database.db.updateTable('runs').set({ state: JSON.stringify({ v: 1, runId: damaged }) }).where('id', '=', damaged).execute();
    await topics.runEvents.append([dispatched!]);
    await waitFor(async () => (await rowOf(damaged))?.worker_id === 'w-1', { timeoutMs: 60_000, intervalMs: 50, message: 'the dispatch to be projected' });
    const state = decodeRunState(damaged, (await rowOf(damaged))!.state);
    assert.deepEqual([state.phase, state.attempt, state.workerId], ['dispatched', 1, 'w-1']);
  });

  test("a run whose stored state does not decode, and that it does not remember (it restarted), has its events parked as READ_MODEL_ROW_INVALID; other runs go on", async () => {
    const damaged = randomUUID();
    const other = randomUUID();
    const [requested, dispatched] = runLife(damaged, null, null);
    await topics.runEvents.append([requested!]);
    await waitForStatus(damaged, 'QUEUED');
    // A new projector knows no run: it reads each row it folds onto.
    await service.stop();
    service = new ProjectorService(config, silentLogger);
    await service.start();
    await database.db.updateTable('runs').set({ state: JSON.stringify({ v: 1, runId: damaged }) }).where('id', '=', damaged).execute();
    await topics.runEvents.append([dispatched!, ...runLife(other, null, 'ok')]);

    await waitForStatus(other, 'COMPLETED');
    await waitFor(() => letters.some((l) => l.key === damaged), { timeoutMs: 60_000, message: 'the dispatch of the damaged run to be parked' });
    assert.deepEqual(
      letters.filter((l) => l.key === damaged).map((l) => l.code),
      ['READ_MODEL_ROW_INVALID'],
    );
    assert.match(service.metrics.render(), /^chute_projector_dead_letters_total\{projection="runs"\} 1$/m, 'counted by the projector that parked it');
  });
});
