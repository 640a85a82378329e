import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } from 'kafkajs';
import { formatAclTable, platformAcls, toKafkajsAcl, type AclBinding } from './acls';

const TOPICS = ['run-events', 'stream', 'worker-events', 'dispatch', 'dead-letter', 'scheduler-snapshots'];

describe('platformAcls: the per-service grants', () => {
  const bindings = platformAcls({ prefix: 'prod' });
  const who = (name: string, operation: AclBinding['operation']) =>
    [...new Set(bindings.filter((b) => b.resourceType === 'topic' && b.name === `prod.${name}` && b.operation === operation).map((b) => b.principal))].sort();

  test('writers: only the scheduler writes dispatches; run events and stream ends by the gateway, the scheduler and workers; dead letters by the projector', () => {
    assert.deepEqual(who('dispatch', 'write'), ['User:chute-scheduler']);
    assert.deepEqual(who('run-events', 'write'), ['User:chute-gateway', 'User:chute-scheduler', 'User:chute-worker']);
    assert.deepEqual(who('stream', 'write'), ['User:chute-gateway', 'User:chute-scheduler', 'User:chute-worker']);
    assert.deepEqual(who('worker-events', 'write'), ['User:chute-gateway', 'User:chute-worker']);
    assert.deepEqual(who('scheduler-snapshots', 'write'), ['User:chute-scheduler']);
    assert.deepEqual(who('dead-letter', 'write'), ['User:chute-projector']);
  });

  test('readers: workers read no run events; nobody reads dead letters (people do, as admin)', () => {
    assert.deepEqual(who('run-events', 'read'), ['User:chute-gateway', 'User:chute-projector', 'User:chute-scheduler']);
    assert.deepEqual(who('dispatch', 'read'), ['User:chute-gateway', 'User:chute-worker']);
    assert.deepEqual(who('dead-letter', 'read'), []);
  });

  test('every service can at least describe every platform topic (its start-up check), by exact name; no CREATE, no cluster grant', () => {
    for (const principal of ['User:chute-gateway', 'User:chute-scheduler', 'User:chute-projector', 'User:chute-worker']) {
      const seen = new Set(bindings.filter((b) => b.principal === principal && b.resourceType === 'topic').map((b) => b.name));
      assert.deepEqual([...seen].sort(), TOPICS.map((t) => `prod.${t}`).sort(), principal);
    }
    assert.ok(bindings.filter((b) => b.resourceType === 'topic').every((b) => b.patternType === 'literal'));
    assert.ok(bindings.every((b) => ['read', 'write', 'describe'].includes(b.operation)));
  });

  test('groups: the scheduler group exactly, the projector groups and private readers by prefix', () => {
    const groups = bindings.filter((b) => b.resourceType === 'group').map((b) => `${b.principal} ${b.patternType} ${b.name} ${b.operation}`);
    assert.deepEqual(groups, [
      'User:chute-gateway prefixed chute-gateway.read. read',
      'User:chute-scheduler literal prod.scheduler read',
      'User:chute-scheduler prefixed chute-scheduler.read. read',
      'User:chute-projector prefixed prod.projector read',
      'User:chute-worker prefixed chute-worker- read',
    ]);
  });

  test('transactional ids: only the scheduler, for its partitions\' ids by prefix, to append with them and find their coordinator', () => {
    const ids = bindings.filter((b) => b.resourceType === 'transactional-id').map((b) => `${b.principal} ${b.patternType} ${b.name} ${b.operation}`);
    assert.deepEqual(ids, ['User:chute-scheduler prefixed prod.scheduler. write', 'User:chute-scheduler prefixed prod.scheduler. describe']);
    assert.equal(toKafkajsAcl(bindings.find((b) => b.resourceType === 'transactional-id')!).resourceType, AclResourceTypes.TRANSACTIONAL_ID);
  });

  test('users can be renamed per service', () => {
    const renamed = platformAcls({ prefix: 'prod', users: { worker: 'tasks' } });
    assert.ok(renamed.some((b) => b.principal === 'User:tasks'));
    assert.ok(!renamed.some((b) => b.principal === 'User:chute-worker'));
  });

  test("a binding as kafkajs's createAcls takes it", () => {
    assert.deepEqual(toKafkajsAcl({ principal: 'User:a', resourceType: 'group', patternType: 'prefixed', name: 'g.', operation: 'read' }), {
      principal: 'User:a',
      host: '*',
      operation: AclOperationTypes.READ,
      permissionType: AclPermissionTypes.ALLOW,
      resourceType: AclResourceTypes.GROUP,
      resourceName: 'g.',
      resourcePatternType: ResourcePatternTypes.PREFIXED,
    });
  });

  test('the table puts one principal and resource on a line, with its operations', () => {
    const table = formatAclTable(bindings).split('\n');
    assert.match(table[0]!, /^PRINCIPAL\s+RESOURCE/);
    assert.ok(table.some((l) => /^User:chute-scheduler\s+topic prod\.run-events\s+read,write$/.test(l)));
    assert.ok(table.some((l) => /^User:chute-worker\s+group chute-worker-\*\s+read$/.test(l)));
  });
});
