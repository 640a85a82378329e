import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { describeStarted, formatStartedLine, parseDownArgs, parseStartedFile, parseUpArgs } from './components';
import { exportLines, formatEnvFile, parseEnvFile, shellQuote } from './env-file';
import { InvalidPortError, UnknownComponentError } from './errors';
import { logTail } from './log-tail';
import { decideKeptDataPairing, type KeptData } from './pairing';
import { controllerPortTakenMessage, portTakenMessage, settingsFromEnv } from './settings';

describe('infra:up and infra:down arguments', () => {
  test('up with no arguments brings up both; with some, only those', () => {
    assert.deepEqual([...parseUpArgs([])].sort(), ['kafka', 'postgres']);
    assert.deepEqual([...parseUpArgs(['kafka'])], ['kafka']);
  });

  test('up refuses a component it does not know, naming the ones it does', () => {
    assert.throws(() => parseUpArgs(['redis']), (error: unknown) => {
      assert.ok(error instanceof UnknownComponentError);
      assert.equal(error.message, "unknown component 'redis' (expected kafka or postgres)");
      return true;
    });
  });

  test('down stops docker, kafka and postgres unless told which, and --wipe may come anywhere', () => {
    assert.deepEqual(parseDownArgs([]), { wipe: false, components: ['docker', 'kafka', 'postgres'] });
    assert.deepEqual(parseDownArgs(['kafka', '--wipe']), { wipe: true, components: ['kafka'] });
    assert.deepEqual(parseDownArgs(['--wipe']), { wipe: true, components: ['docker', 'kafka', 'postgres'] });
  });

  test('down refuses an unknown component (or flag), naming the three it knows', () => {
    assert.throws(() => parseDownArgs(['--all']), { message: "unknown component '--all' (expected docker, kafka or postgres)" });
  });
});

describe('the started file (CHUTE_INFRA_STARTED_FILE): "<component> fresh|kept" lines', () => {
  test('a line written is read back, and lines of no known component or state are skipped', () => {
    const text = formatStartedLine({ component: 'kafka', state: 'fresh' }) + 'junk\nredis fresh\n' + formatStartedLine({ component: 'postgres', state: 'kept' });
    assert.equal(formatStartedLine({ component: 'docker', state: 'fresh' }), 'docker fresh\n');
    assert.deepEqual(parseStartedFile(text), [
      { component: 'kafka', state: 'fresh' },
      { component: 'postgres', state: 'kept' },
    ]);
  });

  test('a session describes what it started once each, sorted, saying empty or on kept data', () => {
    const started = [
      { component: 'postgres', state: 'kept' },
      { component: 'kafka', state: 'fresh' },
      { component: 'kafka', state: 'fresh' },
    ] as const;
    assert.equal(describeStarted(started), 'kafka (empty) postgres (on its kept data) ');
  });
});

describe('.infra/env and the export lines', () => {
  test('values are single-quoted for a shell, a quote inside closed and escaped', () => {
    assert.equal(shellQuote("postgres://u:p'w@h/db?x=1&y=2"), `'postgres://u:p'\\''w@h/db?x=1&y=2'`);
  });

  test('only the addresses known are written, and each becomes an export line', () => {
    const env = formatEnvFile({ brokers: '127.0.0.1:9092' });
    assert.equal(env, "CHUTE_KAFKA_BROKERS='127.0.0.1:9092'\n");
    assert.equal(exportLines(formatEnvFile({ brokers: 'b:1', databaseUrl: 'postgres://x' })), "export CHUTE_KAFKA_BROKERS='b:1'\nexport CHUTE_DATABASE_URL='postgres://x'\n");
    assert.equal(exportLines(''), '');
  });

  test('what is written is read back to the same values, quotes included', () => {
    const values = { brokers: "a:1,b'2:3", databaseUrl: 'postgres://postgres@127.0.0.1:5432/chute?ssl=false&x' };
    const parsed = parseEnvFile(exportLines(formatEnvFile(values)));
    assert.equal(parsed.get('CHUTE_KAFKA_BROKERS'), values.brokers);
    assert.equal(parsed.get('CHUTE_DATABASE_URL'), values.databaseUrl);
  });
});

describe('ports', () => {
  test('the defaults apply when no CHUTE_INFRA_*_PORT is set (or it is empty)', () => {
    const settings = settingsFromEnv({ CHUTE_INFRA_PG_PORT: '' });
    assert.deepEqual([settings.kafkaPort, settings.pgPort, settings.consolePort], [9092, 5432, 8081]);
  });

  test('a port that is not a number between 1 and 65534 is refused, quoting it', () => {
    for (const bad of ['abc', '0', '65535', '-1', '9092 ', '123456']) {
      assert.throws(() => settingsFromEnv({ CHUTE_INFRA_KAFKA_PORT: bad }), (error: unknown) => {
        assert.ok(error instanceof InvalidPortError);
        assert.equal(error.message, `port '${bad}' (CHUTE_INFRA_*_PORT) is not a number between 1 and 65534`);
        return true;
      });
    }
    assert.equal(settingsFromEnv({ CHUTE_INFRA_KAFKA_PORT: '65534' }).kafkaPort, 65534);
  });

  test('a taken port names the variable that uses what is there and the one that moves ours, with an example', () => {
    assert.equal(
      portTakenMessage(5432, 'PostgreSQL', 'CHUTE_DATABASE_URL', 'CHUTE_INFRA_PG_PORT'),
      'port 5432 on 127.0.0.1 is taken by a process infra:up did not start. To use the PostgreSQL that is already there, set CHUTE_DATABASE_URL; otherwise free the port or start ours elsewhere with CHUTE_INFRA_PG_PORT (e.g. CHUTE_INFRA_PG_PORT=15432).',
    );
  });

  test('no example is given when the port 10000 higher would not be a port', () => {
    assert.match(portTakenMessage(60000, 'broker', 'CHUTE_KAFKA_BROKERS', 'CHUTE_INFRA_KAFKA_PORT'), /with CHUTE_INFRA_KAFKA_PORT\.$/);
  });

  test("the controller's port message says it is the broker's port + 1", () => {
    assert.match(controllerPortTakenMessage(9093), /^port 9093 on 127\.0\.0\.1, which Kafka's controller would use \(CHUTE_INFRA_KAFKA_PORT \+ 1\)/);
  });
});

describe('kept data: the broker log and the read model start together or not at all', () => {
  const both: KeptData = { logId: 'A', modelId: 'A', needKafka: true, needPostgres: true, addressGiven: false };

  test('a read model projected from this log, or both empty, is kept', () => {
    assert.deepEqual(decideKeptDataPairing(both), { action: 'keep' });
    assert.deepEqual(decideKeptDataPairing({ ...both, logId: undefined, modelId: undefined }), { action: 'keep' });
  });

  test('a mismatch when starting both deletes both, saying which data did not belong together', () => {
    const decision = decideKeptDataPairing({ ...both, modelId: undefined });
    assert.deepEqual(decision, {
      action: 'wipe-both',
      message: "this checkout's broker data (cluster A) and read model (projected from nothing) do not belong together: deleting both, to start both empty",
    });
  });

  test('starting one alone next to mismatched data of the other is refused', () => {
    const decision = decideKeptDataPairing({ ...both, logId: 'A', modelId: 'B', needKafka: false });
    assert.equal(decision.action, 'refuse');
    assert.match(decision.action === 'refuse' ? decision.message : '', /cluster A\) and read model \(projected from B\).*start both \(npm run infra:up\)/);
  });

  test('starting the broker alone while the read model has no data is harmless: it is paired when it starts', () => {
    assert.deepEqual(decideKeptDataPairing({ ...both, logId: undefined, modelId: undefined, needPostgres: false }), { action: 'keep' });
    assert.deepEqual(decideKeptDataPairing({ ...both, logId: 'A', modelId: undefined, needPostgres: false }), { action: 'keep' });
  });

  test('with an address given, one of the two is not ours: nothing is checked', () => {
    assert.deepEqual(decideKeptDataPairing({ ...both, modelId: 'B', addressGiven: true }), { action: 'keep' });
  });
});

describe('log tails', () => {
  test('Java stack frames are left out, the message lines around them kept, and only the last lines shown', () => {
    const log = ['start', 'ERROR boom', '\tat kafka.Foo.bar(Foo.scala:1)', '\tat kafka.Baz.qux(Baz.scala:2)', '\t... 12 more', 'Caused by: x', 'end', ''].join('\n');
    assert.equal(logTail(log), 'start\nERROR boom\nCaused by: x\nend\n');
    assert.equal(logTail(log, 2), 'Caused by: x\nend\n');
    assert.equal(logTail(''), '');
  });
});
