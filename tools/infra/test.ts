// `npm test`: lint, typecheck and every project's tests (unit, integration
// against a real broker and PostgreSQL, end to end across service processes).
// When CHUTE_KAFKA_BROKERS and CHUTE_DATABASE_URL are not both given it brings
// the infrastructure up and stops, at exit - also on failure or Ctrl-C - what
// it started. If the infrastructure cannot be brought up it fails: tests are
// never skipped for want of a broker. Extra arguments go to nx
// (e.g. `npm test -- --projects=log`).
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { formatTotals, sumTestTotals } from './summary';
import { checkSetup, root, runCommand, runScript, withInfra } from './script';

runScript(async () => {
  // What the tests need beyond npm ci is installed by `npm run setup`, never
  // here: fail at once, naming what is missing, rather than half way through.
  if ((await checkSetup([])) !== 0) return 1;
  return withInfra(async (infra) => {
    console.log(`chute tests: broker ${infra.brokers}, database ${infra.databaseUrl} (${infra.source})`);
    const report = path.join(root, '.infra', 'test-output.log');
    mkdirSync(path.dirname(report), { recursive: true });
    const status = await runCommand('npx', ['nx', 'run-many', '-t', 'lint', 'typecheck', 'test', '--parallel=1', '--outputStyle=stream', ...process.argv.slice(2)], { teeTo: report });
    console.log(formatTotals('chute', sumTestTotals(readFileSync(report, 'utf8'))));
    return status;
  });
});
