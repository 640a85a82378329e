import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseJavaMajor } from './kafka/jars';
import { serverProperties, singleNode } from './kafka/config';
import { InfraLayout, stateFile } from './state-dir';

describe('InfraLayout: one checkout, one set of names', () => {
  const layout = new InfraLayout('/work/main', '/tmp/');

  test('the names carry the first 10 hex of the sha1 of the root, so two clones never share them', () => {
    const hash = createHash('sha1').update('/work/main').digest('hex').slice(0, 10);
    assert.equal(layout.pgBase, `/tmp/chute-infra-${hash}`);
    assert.equal(layout.composeProject, `chute-${hash}`);
    assert.notEqual(new InfraLayout('/work/other').checkoutHash, layout.checkoutHash);
  });

  test('only a base dir carrying our hash counts as ours (the only kind --wipe deletes)', () => {
    assert.ok(layout.isOurPgBase(`/var/tmp/chute-infra-${layout.checkoutHash}`));
    assert.ok(!layout.isOurPgBase('/tmp/chute-infra-0000000000'));
  });

  test('state lives in .infra under the root, shown relative to it', () => {
    assert.equal(layout.state('kafka.pid'), '/work/main/.infra/kafka.pid');
    assert.equal(layout.shown(layout.state('kafka', 'kafka.log')), '.infra/kafka/kafka.log');
  });
});

describe('state files', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'chute-state-'));

  test('a value written is read back trimmed; a missing file reads as undefined', () => {
    const file = path.join(dir, 'sub', 'kafka.port');
    stateFile.write(file, 9092);
    assert.equal(readFileSync(file, 'utf8'), '9092\n');
    assert.equal(stateFile.readNumber(file), 9092);
    assert.equal(stateFile.read(path.join(dir, 'none')), undefined);
  });

  test('a file that holds no number reads as no number', () => {
    const file = path.join(dir, 'kafka.pid');
    stateFile.write(file, '12x');
    assert.equal(stateFile.readNumber(file), undefined);
    stateFile.remove(file);
    assert.equal(stateFile.read(file), undefined);
  });
});

describe("the broker's configuration", () => {
  test('node 1 listens on its port, its controller on the next, with its data dir', () => {
    const properties = serverProperties(singleNode(19092, '/x/.infra/kafka'), '/x/.infra/kafka/data');
    assert.match(properties, /^node\.id=1$/m);
    assert.match(properties, /^listeners=PLAINTEXT:\/\/127\.0\.0\.1:19092,CONTROLLER:\/\/127\.0\.0\.1:19093$/m);
    assert.match(properties, /^controller\.quorum\.bootstrap\.servers=127\.0\.0\.1:19093$/m);
    assert.match(properties, /^log\.dirs=\/x\/\.infra\/kafka\/data$/m);
  });

  test("java's major version is read from both version schemes", () => {
    assert.equal(parseJavaMajor('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime'), 17);
    assert.equal(parseJavaMajor('java version "1.8.0_392"'), 8);
    assert.equal(parseJavaMajor('bash: java: command not found'), undefined);
  });
});
