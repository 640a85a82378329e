import { createPgliteDb } from '@chute/db';
import { describeRunProjection } from './projection.test-suite';

// In memory: one PGlite for the file, since each start costs seconds.
describeRunProjection('PGlite', () => createPgliteDb());
