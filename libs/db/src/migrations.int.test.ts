import { createTestDatabase, requireEnv } from '@chute/testing';
import { createDb } from './index';
import { describeReadModelMigrations } from './migrations-suite';

describeReadModelMigrations('PostgreSQL', async () => {
  const database = await createTestDatabase(requireEnv('CHUTE_DATABASE_URL'));
  const db = createDb({ url: database.url });
  return {
    db,
    close: async () => {
      await db.destroy();
      await database.drop();
    },
  };
});
