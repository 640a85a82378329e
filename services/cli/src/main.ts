import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Command } from 'commander';
import { runMain } from '@chute/runtime';
import { DevPlatform, type DevPlatformReady } from './dev-platform';
import { createToken, UsageError } from './tokens';

/** What `chute dev` prints once everything answers. */
function banner({ gatewayUrl, demoUrl, token }: DevPlatformReady): string {
  return [
    'Chute is running in this process, on the embedded log and PGlite (in memory: every start is fresh).',
    `  gateway    ${gatewayUrl}   (API docs at /docs, with the token below)`,
    `  demo page  ${demoUrl}/`,
    `  try        curl -N ${demoUrl}/stream`,
    `  dev token  export CHUTE_TOKEN=${token}`,
    'Ctrl-C stops it.',
    '',
  ].join('\n');
}

const program = new Command()
  .name('chute')
  .description('Chute: tasks that stream their output')
  .showHelpAfterError();

const tokens = program.command('tokens').description('API tokens for the gateway');
tokens
  .command('create')
  .description("mint a token signed with the gateway's secret (CHUTE_AUTH_SECRET) and print it")
  .requiredOption('--tenant <tenant>', 'the tenant the token acts for')
  .option('--scope <scope>', 'runs:write, runs:read, stream:read or workers (repeat for several)', (value: string, all: string[]) => [...all, value], [] as string[])
  .option('--ttl <duration>', 'how long it is valid: 90s, 15m, 12h, 30d', '30d')
  .option('--subject <name>', 'who it is for, for logs and limits (default: the tenant)')
  .action(async (options: { tenant: string; scope: string[]; ttl: string; subject?: string }) => {
    process.stdout.write(`${await createToken(options, process.env)}\n`);
  });

program
  .command('dev')
  .description('the whole platform on this machine: in this process with only Node, or with --kafka as separate processes on a broker and PostgreSQL')
  .option('--kafka', 'run each service as its own process against Kafka and PostgreSQL (started here unless CHUTE_KAFKA_BROKERS and CHUTE_DATABASE_URL are set)')
  .action((options: { kafka?: boolean }) => {
    if (options.kafka || process.env['CHUTE_KAFKA_BROKERS']) {
      const started = spawnSync('bash', [path.join(__dirname, '..', '..', '..', 'infra', 'scripts', 'start.sh')], { stdio: 'inherit' });
      process.exit(started.status ?? 1);
    }
    // Quiet by default: the banner says what matters; CHUTE_LOG_LEVEL=info shows every service's log.
    runMain({ name: 'dev', logLevel: 'warn', build: (logger) => new DevPlatform(process.env, logger, (ready) => process.stdout.write(banner(ready))) });
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  // A usage mistake is one line; anything else is a bug, with its stack.
  process.stderr.write(error instanceof UsageError ? `chute: ${error.message}\n` : `chute: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
