import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rememberingFindGroupCoordinator } from './transaction-coordinator';

const TRANSACTION = 1;
const GROUP = 0;

/** A stand-in for kafkajs's Cluster.findGroupCoordinator: counts look-ups, answers a broker whose endTxn fails on demand. */
function fakeCluster() {
  const state = { lookUps: 0, failLookUp: false, endTxnFails: undefined as Error | undefined };
  const broker = {
    nodeId: 1,
    endTxn: async () => {
      if (state.endTxnFails) throw state.endTxnFails;
      return 'ok';
    },
  };
  const find = rememberingFindGroupCoordinator(async () => {
    state.lookUps++;
    if (state.failLookUp) throw new Error('no coordinator');
    return broker;
  });
  const cluster = {};
  return { state, find: (groupId: string, coordinatorType: number) => find.call(cluster, { groupId, coordinatorType }) as Promise<typeof broker> };
}

describe("kafkajs transaction coordinator cache", () => {
  test("a transactional id's coordinator is looked up once, then remembered", async () => {
    const { state, find } = fakeCluster();
    for (let i = 0; i < 5; i++) assert.equal(await (await find('txn-a', TRANSACTION)).endTxn(), 'ok');
    assert.equal(state.lookUps, 1);
    await find('txn-b', TRANSACTION);
    assert.equal(state.lookUps, 2, 'another id has a look-up of its own');
  });

  test('consumer group coordinators are looked up every time, as kafkajs does', async () => {
    const { state, find } = fakeCluster();
    await find('group', GROUP);
    await find('group', GROUP);
    assert.equal(state.lookUps, 2);
  });

  /** kafkajs's shape of a broker's error answer. */
  const answer = (type: string): Error => Object.assign(new Error(type), { name: 'KafkaJSProtocolError', type });

  for (const [why, error] of [
    ['NOT_COORDINATOR', answer('NOT_COORDINATOR')],
    ['COORDINATOR_NOT_AVAILABLE', answer('COORDINATOR_NOT_AVAILABLE')],
    ['a lost connection', Object.assign(new Error('Connection error'), { name: 'KafkaJSConnectionError' })],
  ] as const) {
    test(`a call through the remembered broker failing with ${why} forgets it: the retry looks the coordinator up again`, async () => {
      const { state, find } = fakeCluster();
      const broker = await find('txn', TRANSACTION);
      state.endTxnFails = error;
      await assert.rejects(broker.endTxn(), error);
      state.endTxnFails = undefined;
      await find('txn', TRANSACTION);
      assert.equal(state.lookUps, 2);
      await find('txn', TRANSACTION);
      assert.equal(state.lookUps, 2, 'the new answer is remembered in turn');
    });
  }

  test('the coordinator answering CONCURRENT_TRANSACTIONS keeps it remembered: it is still the coordinator', async () => {
    const { state, find } = fakeCluster();
    const broker = await find('txn', TRANSACTION);
    state.endTxnFails = answer('CONCURRENT_TRANSACTIONS');
    await assert.rejects(broker.endTxn(), { type: 'CONCURRENT_TRANSACTIONS' });
    await find('txn', TRANSACTION);
    assert.equal(state.lookUps, 1);
  });

  test('a failed look-up is not remembered', async () => {
    const { state, find } = fakeCluster();
    state.failLookUp = true;
    await assert.rejects(find('txn', TRANSACTION), /no coordinator/);
    state.failLookUp = false;
    assert.equal((await find('txn', TRANSACTION)).nodeId, 1);
    assert.equal(state.lookUps, 2);
  });
});
