export * from './events';
export * from './run';
export * from './retry';
export * from './scheduling';
export * from './task-outcome';
