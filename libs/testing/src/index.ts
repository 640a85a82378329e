export * from './env';
export { waitFor } from './wait';
export * from './service-process';
export * from './service-lifecycle';
