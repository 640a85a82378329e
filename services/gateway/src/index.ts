// The service's component and configuration, for the one-process quick start (`chute dev`) that
// runs every service in one process; deployed, each runs alone from its main.ts.
export { GatewayServer } from './server';
export { GatewayEnv, type GatewayConfig } from './config';
