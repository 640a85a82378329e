import { EmbeddedLog } from './embedded';
import { logContract } from './contract';

logContract('embedded', {
  open: async () => {
    const log = new EmbeddedLog();
    await log.start();
    return log;
  },
  waitMs: 5_000,
});
