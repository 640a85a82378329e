export * from './common';
export * from './run-events';
export * from './stream';
export * from './worker-events';
export * from './run-state';
export * from './dead-letter';
export * from './codec';
export * from './api';
