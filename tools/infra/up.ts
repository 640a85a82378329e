// `npm run infra:up [-- --brokers N] [kafka] [postgres]`: a Kafka-protocol broker (or a
// cluster of N, e.g. `--brokers 3`: replicated, on consecutive ports) and
// PostgreSQL on loopback for development and tests (InfraUp in @chute/infra;
// see infra/README.md). Progress goes to stderr; the addresses, as export
// lines, to stdout (`eval "$(npm run -s infra:up)"`) and into .infra/env.
// With CHUTE_INFRA_STARTED_FILE set, a line "<component> fresh|kept" is
// appended to that file for each component this run started.
import { exportLines, InfraLayout, InfraUp, parseUpCommand, settingsFromEnv, stderrReporter } from '@chute/infra';
import { root, runScript } from './script';

runScript(async () => {
  const { components, brokers } = parseUpCommand(process.argv.slice(2));
  const settings = settingsFromEnv(process.env);
  const aborter = new AbortController();
  let interrupted: number | undefined;
  // A Ctrl-C or SIGTERM aborts the run, which stops what it started (the broker
  // and server themselves run in sessions of their own: the Ctrl-C does not reach them).
  process.once('SIGINT', () => ((interrupted = 130), aborter.abort()));
  process.once('SIGTERM', () => ((interrupted = 143), aborter.abort()));
  try {
    const up = new InfraUp(new InfraLayout(root, settings.tempDir), settings, stderrReporter);
    const { envFile } = await up.run({ components, brokers, startedFile: process.env['CHUTE_INFRA_STARTED_FILE'] || undefined, signal: aborter.signal });
    process.stdout.write(exportLines(envFile));
    return 0;
  } catch (error) {
    if (interrupted !== undefined) return interrupted;
    throw error;
  }
});
