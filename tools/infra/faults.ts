// `npm run test:faults`: the fault suites (*.fault.test.ts), which kill
// services and stop and restart the broker under load. Apart from `npm test`
// because they need a broker this checkout started and controls (never one
// given elsewhere), and because they take minutes. Infrastructure as in
// test.ts: brought up unless given, and what was started here stopped at exit.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { formatTotals, sumTestTotals } from './summary';
import { checkSetup, root, runCommand, runScript, withInfra } from './script';

/** Every *.fault.test.ts under `dir`, node_modules skipped. */
function faultSuites(dir: string): string[] {
  return readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.fault.test.ts') && !file.split(path.sep).includes('node_modules'))
    .map((file) => path.join(dir, file));
}

runScript(async () => {
  if ((await checkSetup(['debian', 'kafka-jars'])) !== 0) return 1;
  const files = ['libs', 'services', 'test'].flatMap(faultSuites).sort();
  if (files.length === 0) {
    process.stderr.write('infra: error: no *.fault.test.ts files found\n');
    return 1;
  }
  return withInfra(async (infra) => {
    console.log(`chute fault tests: broker ${infra.brokers}, database ${infra.databaseUrl} (${infra.source})`);
    const build = await runCommand('npx', ['nx', 'run-many', '-t', 'build', '--projects=gateway,scheduler,worker,projector', '--parallel=1', '--outputStyle=static'], { quiet: true });
    if (build !== 0) return build;
    const report = path.join(root, '.infra', 'faults-output.log');
    const status = await runCommand(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { teeTo: report });
    console.log(formatTotals('chute faults', sumTestTotals(readFileSync(report, 'utf8'))));
    return status;
  });
});
