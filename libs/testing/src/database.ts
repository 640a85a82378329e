// The throwaway-database helper lives beside the migrations it serves, in
// @chute/db's testing entry point (libs/db's own tests use it too, and libs/db
// cannot import this package without a cycle).
export { createTestDatabase, type TestDatabase } from '@chute/db/testing';
