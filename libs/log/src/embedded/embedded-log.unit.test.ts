import { EmbeddedLog } from './embedded-log';
import { logContract } from '../log-contract.test-suite';

logContract('embedded', {
  open: async () => {
    const log = new EmbeddedLog();
    await log.start();
    return log;
  },
  waitMs: 5_000,
});
