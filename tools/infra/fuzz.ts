// `npm run test:fuzz`: schemathesis fuzzes the gateway's whole HTTP API from
// its OpenAPI document (test/fuzz/schemathesis.fuzz.ts; `npm run setup`
// installs schemathesis from PyPI into test/fuzz/.venv). Apart from `npm test`
// because it takes minutes. Infrastructure as in test.ts: brought up unless
// given, and what was started here stopped at exit.
import { checkSetup, runCommand, runScript, withInfra } from './script';

runScript(async () => {
  if ((await checkSetup(['debian', 'kafka-jars', 'fuzz'])) !== 0) return 1;
  return withInfra(async (infra) => {
    console.log(`chute fuzz: broker ${infra.brokers}, database ${infra.databaseUrl} (${infra.source})`);
    const build = await runCommand('npx', ['nx', 'run-many', '-t', 'build', '--projects=gateway,scheduler,worker,projector', '--parallel=1', '--outputStyle=static'], { quiet: true });
    if (build !== 0) return build;
    return runCommand(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', 'test/fuzz/schemathesis.fuzz.ts']);
  });
});
