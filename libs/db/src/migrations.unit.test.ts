import { createPgliteDb } from './index';
import { describeReadModelMigrations } from './migrations.test-suite';

// In memory: one PGlite per file, since each start costs seconds.
describeReadModelMigrations('PGlite', () => createPgliteDb());
