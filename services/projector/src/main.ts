import { parseEnv, runMain } from '@chute/runtime';
import { ProjectorEnv } from './config';
import { ProjectorService } from './projector-service';

runMain({ name: 'projector', build: (logger) => new ProjectorService(parseEnv(ProjectorEnv), logger) });
