import { createTestDatabase } from './database.test-support';
import { describeReadModelMigrations } from './migrations.test-suite';

describeReadModelMigrations('PostgreSQL', async () => {
  // Throws, failing the suite, when CHUTE_DATABASE_URL is missing: never a skip.
  const database = await createTestDatabase();
  return { db: database.db, close: () => database.drop() };
});
