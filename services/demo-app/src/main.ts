import { parseEnv, runMain } from '@chute/runtime';
import { DemoEnv } from './config';
import { DemoServer } from './server';

runMain({ name: 'demo-app', build: (logger) => new DemoServer(parseEnv(DemoEnv), logger) });
