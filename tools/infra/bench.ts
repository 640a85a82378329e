// `npm run bench`: builds the services and runs the benchmarks in test/bench
// on the real broker and PostgreSQL (started here unless CHUTE_KAFKA_BROKERS
// and CHUTE_DATABASE_URL are given, and then stopped at exit), printing
// `bench:` lines. BullMQ's side runs on Debian's redis-server (installed by
// `npm run setup`), which the bench starts and stops itself. Arguments choose
// benchmarks: `npm run bench -- floors stream runs takeover bullmq sdks`;
// parameters are CHUTE_BENCH_* variables (test/bench/params.ts). Results go
// to test/bench/results/.
//
// 10,000 WebSocket subscribers need as many sockets on each side. bench.sh
// raised the open-files limit to its hard limit with `ulimit -n`; Node does so
// itself at start (its PlatformInit raises RLIMIT_NOFILE's soft limit to the
// hard one), and every process started from here inherits that limit.
import { checkSetup, runCommand, runScript, withInfra } from './script';

runScript(async () => {
  if ((await checkSetup(['debian', 'kafka-jars', 'sdk-python', 'sdk-go'])) !== 0) return 1;
  return withInfra(async () => {
    const build = await runCommand('npx', ['nx', 'run-many', '-t', 'build', '--outputStyle=static'], { quiet: true });
    if (build !== 0) return build;
    return runCommand(process.execPath, ['--import', 'tsx', 'test/bench/main.ts', ...process.argv.slice(2)]);
  });
});
