export * from './config';
export * from './lifecycle';
export * from './logger';
export * from './metrics';
export * from './errors';
export * from './probe-server';
