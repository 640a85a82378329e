import { createPgliteDb } from './index';
import { describeReadModelMigrations } from './migrations-suite';

// In memory: one PGlite per file, since each start costs seconds.
describeReadModelMigrations('PGlite', () => createPgliteDb());
