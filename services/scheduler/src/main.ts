import { parseEnv, runMain } from '@chute/runtime';
import { SchedulerEnv } from './config';
import { Scheduler } from './scheduler';

runMain({ name: 'scheduler', build: (logger) => new Scheduler(parseEnv(SchedulerEnv), logger) });
