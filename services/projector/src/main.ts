import { parseEnv, runMain, withProbes } from '@chute/runtime';
import { ProjectorEnv } from './config';
import { ProjectorService } from './projector-service';

runMain({
  name: 'projector',
  build: (logger) => {
    const config = parseEnv(ProjectorEnv);
    return withProbes(new ProjectorService(config, logger), config, logger);
  },
});
