import { createTestDatabase } from '@chute/db/testing';
import { describeRunProjection } from './projection.test-suite';

// PostgreSQL only, no broker: through pg, a real server's json columns.
describeRunProjection('PostgreSQL', async () => {
  // Throws, failing the suite, when CHUTE_DATABASE_URL is missing: never a skip.
  const database = await createTestDatabase();
  return { db: database.db, close: () => database.drop() };
});
