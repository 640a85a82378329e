// The throwaway-database helper lives beside the migrations it serves (libs/db
// tests use it too, and libs/db cannot import this package without a cycle).
export { createTestDatabase, type TestDatabase } from '@chute/db';
