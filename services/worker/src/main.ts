import { parseEnv, runMain } from '@chute/runtime';
import { WorkerEnv } from './config';
import { WorkerService } from './worker-service';

runMain({ name: 'worker', build: (logger) => new WorkerService(parseEnv(WorkerEnv), logger) });
