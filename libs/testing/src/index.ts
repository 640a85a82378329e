export * from './env';
export { waitFor, WaitTimeoutError } from './wait';
export * from './service-process';
export * from './program-process';
export * from './service-lifecycle';
export * from './platform';
export * from './database';
export * from './broker';
export * from './scram-broker';
