export * from './keys';
export * from './tokens';
export * from './duration';
export * from './verifier';
