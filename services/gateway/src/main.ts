import { parseEnv, runMain } from '@chute/runtime';
import { GatewayEnv } from './config';
import { GatewayServer } from './server';

runMain({ name: 'gateway', build: (logger) => new GatewayServer(parseEnv(GatewayEnv), logger) });
