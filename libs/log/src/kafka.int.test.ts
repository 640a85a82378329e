import { silentLogger } from '@chute/runtime';
import { testBrokers, uniqueName } from '@chute/testing';
import { KafkaLog } from './kafka';
import { logContract } from './contract';

logContract('kafka', {
  open: async () => {
    const log = new KafkaLog({ brokers: testBrokers(), clientId: uniqueName('contract'), logger: silentLogger });
    await log.start();
    return log;
  },
  waitMs: 60_000,
});
