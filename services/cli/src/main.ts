import { Command } from 'commander';
import { ConfigError, runMain } from '@chute/runtime';
import { DevPlatform, type DevPlatformReady } from './dev-platform';
import { runKafkaDev, type KafkaDevReady } from './dev-kafka';
import { Chute } from '@chute/sdk';
import { connectionOf, removeDevConnection, writeDevConnection } from './connection';
import { cancelRun, describeFailure, getRun, listRuns, runTask, streamRun, type Io } from './runs-commands';
import { applyAclsCommand, printAcls } from './acls';
import { createToken } from './tokens';

const io: Io = { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text), stdout: process.stdout, stderr: process.stderr };

/** Options every command that talks to a gateway takes. */
interface GatewayFlags {
  gateway?: string;
  token?: string;
}

/** A client of the gateway the flags, the environment or the running quick start name. */
function clientOf(flags: GatewayFlags): Chute {
  const { gatewayUrl, token } = connectionOf(flags, process.env);
  return Chute.init({ gatewayUrl, ...(token ? { token } : {}) });
}

/** Runs a command and exits with its code. */
function exitWith(command: () => Promise<number>): () => Promise<void> {
  return async () => {
    process.exitCode = await command();
  };
}

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

/** What `chute dev --kafka` prints once every service answers. */
function kafkaBanner(ready: KafkaDevReady): string {
  return [
    'Chute is running as separate processes on Kafka and PostgreSQL.',
    `  broker     ${ready.brokers}   database ${ready.databaseUrl.replace(/\/\/[^@/]*@/, '//')}   (${ready.infra})`,
    `  gateway    ${ready.gatewayUrl}   (API docs at /docs, with the token below)`,
    `  demo page  ${ready.demoUrl}/`,
    `  try        curl -N ${ready.demoUrl}/stream`,
    `  dev token  export CHUTE_TOKEN=${ready.token}`,
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
  .option('--brokers <n>', 'with --kafka: how many Kafka brokers to start (3: a replicated cluster, as in production)', '1')
  .action(async (options: { kafka?: boolean; brokers: string }) => {
    if (options.kafka || process.env['CHUTE_KAFKA_BROKERS']) {
      const ready = (platform: KafkaDevReady) => {
        writeDevConnection({ gatewayUrl: platform.gatewayUrl, token: platform.token });
        process.stdout.write(kafkaBanner(platform));
      };
      if (!/^[1-5]$/.test(options.brokers)) {
        process.stderr.write(`chute: --brokers must be a number from 1 to 5 (got '${options.brokers}')\n`);
        process.exitCode = 2;
        return;
      }
      return runKafkaDev(process.env, ready, Number(options.brokers)).then((code) => {
        removeDevConnection();
        process.exitCode = code;
      });
    }
    // Quiet by default: the banner says what matters; CHUTE_LOG_LEVEL=info shows every service's log.
    process.once('exit', removeDevConnection);
    runMain({
      name: 'dev',
      logLevel: 'warn',
      build: (logger) =>
        new DevPlatform(process.env, logger, (ready) => {
          // The other commands find this quick start by themselves, with no flags and no environment.
          writeDevConnection({ gatewayUrl: ready.gatewayUrl, token: ready.token });
          process.stdout.write(banner(ready));
        }),
    });
  });

const gatewayFlags = (command: Command): Command =>
  command.option('--gateway <url>', 'the gateway (default: CHUTE_GATEWAY_URL, else the running quick start)').option('--token <token>', 'a bearer token (default: CHUTE_TOKEN, else the quick start\'s dev token)');

gatewayFlags(program.command('run <task>').description('trigger a run of a task; exit code 0 only if it completed'))
  .option('--input <json>', 'the run\'s input, as JSON')
  .option('--follow', 'print the run\'s stream to stdout as it arrives')
  .action((task: string, options: GatewayFlags & { input?: string; follow?: boolean }) => exitWith(() => runTask(clientOf(options), task, options, io))());

gatewayFlags(program.command('stream <run-id>').description("print a run's stream until it ends (from now, unless told otherwise)"))
  .option('--after <position>', 'resume after this chunk (N, or A:N for attempt A)')
  .option('--from-start', 'from the first chunk')
  .action((runId: string, options: GatewayFlags & { after?: string; fromStart?: boolean }) => exitWith(() => streamRun(clientOf(options), runId, options, io))());

const runs = program.command('runs').description('read and cancel runs');
gatewayFlags(runs.command('list').description('runs, newest first'))
  .option('--task <task>')
  .option('--status <status>', 'QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED or TIMED_OUT')
  .option('--limit <n>')
  .option('--json', 'as JSON')
  .action((options: GatewayFlags & { task?: string; status?: string; limit?: string; json?: boolean }) => exitWith(() => listRuns(clientOf(options), options, io))());
gatewayFlags(runs.command('get <run-id>').description('one run'))
  .option('--json', 'as JSON')
  .action((runId: string, options: GatewayFlags & { json?: boolean }) => exitWith(() => getRun(clientOf(options), runId, options, io))());
gatewayFlags(runs.command('cancel <run-id>').description('ask for a run to be cancelled'))
  .option('--json', 'as JSON')
  .action((runId: string, options: GatewayFlags & { json?: boolean }) => exitWith(() => cancelRun(clientOf(options), runId, options, io))());

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
  // What the user can act on is one line (a usage mistake, an unreachable gateway, a login the
  // broker refuses or a missing grant); anything else is a bug, with its stack.
  const line = error instanceof ConfigError ? error.message : describeFailure(error);
  process.stderr.write(line !== undefined ? `chute: ${line}\n` : `chute: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
