import { createDb, migrateToLatest } from '@chute/db';
import { DatabaseEnv, parseEnv, runMain, withProbes } from '@chute/runtime';
import { ProjectorEnv } from './config';
import { ProjectorService } from './projector-service';

// `main.js migrate`: migrate the read model and exit, a one-shot step for
// deployments (compose, a Kubernetes init container). The projector still
// migrates at start, so the step is an ordering convenience, not a requirement.
if (process.argv[2] === 'migrate') {
  migrate().catch((error: unknown) => {
    console.error(`chute-projector: migrate failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  });
} else {
  runMain({
    name: 'projector',
    build: (logger) => {
      const config = parseEnv(ProjectorEnv);
      return withProbes(new ProjectorService(config, logger), config, logger);
    },
  });
}

async function migrate(): Promise<void> {
  const db = createDb({ url: parseEnv(DatabaseEnv).CHUTE_DATABASE_URL });
  try {
    const applied = await migrateToLatest(db);
    console.log(JSON.stringify({ level: 'info', service: 'projector', msg: 'read model migrated', applied }));
  } finally {
    await db.destroy();
  }
}
