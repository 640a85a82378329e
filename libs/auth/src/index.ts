export * from './keys';
export * from './tokens';
export * from './verifier';
