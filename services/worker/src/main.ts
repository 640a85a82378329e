import { parseEnv, runMain, withProbes } from '@chute/runtime';
import { WorkerEnv } from './config';
import { WorkerService } from './worker-service';

runMain({
  name: 'worker',
  build: (logger) => {
    const config = parseEnv(WorkerEnv);
    return withProbes(new WorkerService(config, logger), config, logger);
  },
});
