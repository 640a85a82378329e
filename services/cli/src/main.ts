import { Command } from 'commander';
import { ConfigError } from '@chute/runtime';
import { applyAclsCommand, printAcls } from './acls';
import { createToken, UsageError } from './tokens';

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

const collect = (value: string, all: string[]): string[] => [...all, value];
const acls = program.command('acls').description("per-service ACLs on the broker: each service's principal gets only the topics and groups it uses");
acls
  .command('print')
  .description('print the grants for a deployment (CHUTE_TOPIC_PREFIX) without contacting the broker')
  .option('--prefix <prefix>', 'the topic prefix (default: CHUTE_TOPIC_PREFIX, else chute)')
  .option('--user <service=user>', 'the SASL user a service logs in as (default chute-<service>; repeat)', collect, [] as string[])
  .option('--json', 'one JSON object per grant')
  .action((options: { prefix?: string; user: string[]; json?: boolean }) => {
    process.stdout.write(`${printAcls(options, process.env)}\n`);
  });
acls
  .command('apply')
  .description('as an admin (CHUTE_KAFKA_* as for a service): create the topics and grant every service its ACLs')
  .option('--prefix <prefix>', 'the topic prefix (default: CHUTE_TOPIC_PREFIX, else chute)')
  .option('--user <service=user>', 'the SASL user a service logs in as (default chute-<service>; repeat)', collect, [] as string[])
  .option('--no-create-topics', 'grant only; the topics exist already')
  .option('--json', 'one JSON object per grant')
  .action(async (options: { prefix?: string; user: string[]; json?: boolean; createTopics: boolean }) => {
    process.stdout.write(`${await applyAclsCommand(options, process.env)}\n`);
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  // A usage mistake is one line; anything else is a bug, with its stack.
  // A ConfigError (a login the broker refuses, a missing grant) is one line too: the operator fixes settings, not code.
  const oneLine = error instanceof UsageError || error instanceof ConfigError;
  process.stderr.write(oneLine ? `chute: ${error.message}\n` : `chute: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
