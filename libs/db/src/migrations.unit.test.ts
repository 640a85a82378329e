import { createPgliteDb } from './index';
import { describeReadModelMigrations } from './migrations-suite';

describeReadModelMigrations('PGlite', async () => {
  const db = await createPgliteDb();
  return { db, close: () => db.destroy() };
});
