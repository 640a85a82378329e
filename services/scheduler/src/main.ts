import { parseEnv, runMain, withProbes } from '@chute/runtime';
import { SchedulerEnv } from './config';
import { Scheduler } from './scheduler';

runMain({
  name: 'scheduler',
  build: (logger) => {
    const config = parseEnv(SchedulerEnv);
    return withProbes(new Scheduler(config, logger), config, logger);
  },
});
