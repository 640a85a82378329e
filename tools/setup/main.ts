// `npm run setup`: installs everything the tests, the fault suites, the fuzzer
// and the benchmarks need beyond `npm ci`, in one explicit step (the test
// commands install nothing themselves). Idempotent: a step that is already done
// is skipped, so running it again is quick. `npm start` needs none of this:
// it runs on Node alone.
//
//   npm run setup                   every step
//   npm run setup -- sdk-go fuzz    only those steps
//   npm run setup -- --check        install nothing; exit 1 naming what is missing
//   npm run setup -- --list         the steps and what each is for
import { parseArgs } from 'node:util';
import { STEPS, type SetupStep } from './steps';
import { SetupError } from './system';

function chosen(names: readonly string[]): readonly SetupStep[] {
  if (names.length === 0) return STEPS;
  const unknown = names.filter((name) => !STEPS.some((step) => step.name === name));
  if (unknown.length > 0) throw new SetupError(`unknown step ${unknown.join(', ')}: the steps are ${STEPS.map((step) => step.name).join(', ')}`);
  return STEPS.filter((step) => names.includes(step.name));
}

function main(): number {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { check: { type: 'boolean' }, list: { type: 'boolean' } } });
  const steps = chosen(positionals);
  if (values.list) {
    for (const step of steps) console.log(`${step.name.padEnd(14)} ${step.purpose}`);
    return 0;
  }
  if (values.check) {
    const pending = steps.flatMap((step) => {
      const why = step.pending();
      return why === undefined ? [] : [`  ${step.name}: ${why}`];
    });
    if (pending.length === 0) return 0;
    console.error(`setup: not done yet - run \`npm run setup\` first (once; it is idempotent):\n${pending.join('\n')}`);
    return 1;
  }
  for (const step of steps) {
    const why = step.pending();
    if (why === undefined) {
      console.log(`setup: ${step.name}: done already`);
      continue;
    }
    console.log(`setup: ${step.name}: installing (${why})`);
    step.install();
    const still = step.pending();
    if (still !== undefined) throw new SetupError(`${step.name}: still not done after installing: ${still}`);
    console.log(`setup: ${step.name}: done`);
  }
  return 0;
}

try {
  process.exitCode = main();
} catch (error) {
  if (!(error instanceof SetupError)) throw error;
  console.error(`setup: error: ${error.message}`);
  process.exitCode = 1;
}
