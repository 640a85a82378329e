export * from './types';
export * from './embedded';
export * from './kafka';
export * from './typed';
export * from './topics';
export * from './from-env';
export { patchKafkajsRequestQueue } from './kafkajs-request-queue';
export * from './health';
export * from './dispatch';
