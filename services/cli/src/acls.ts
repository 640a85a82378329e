import { formatAclTable, platformAcls, PLATFORM_SERVICES, provisionPlatform, topicsConfigOf, type PlatformService } from '@chute/log';
import { ConfigError, createLogger, parseEnv } from '@chute/runtime';
import { LogEnv } from '@chute/log';
import { UsageError } from './tokens';

export interface AclCommandOptions {
  /** `service=user`, repeated: the SASL user a service logs in as. */
  user: readonly string[];
  /** The topic prefix; @default CHUTE_TOPIC_PREFIX */
  prefix?: string;
  json?: boolean;
}

function usersOf(pairs: readonly string[]): Partial<Record<PlatformService, string>> {
  const users: Partial<Record<PlatformService, string>> = {};
  for (const pair of pairs) {
    const [service, user, ...rest] = pair.split('=');
    if (!PLATFORM_SERVICES.includes(service as PlatformService) || !user || rest.length > 0) {
      throw new UsageError(`--user: "${pair}" is not <service>=<user> with a service of ${PLATFORM_SERVICES.join(', ')}`);
    }
    users[service as PlatformService] = user;
  }
  return users;
}

function configOf(env: NodeJS.ProcessEnv, prefix: string | undefined): ReturnType<typeof parseEnv<typeof LogEnv>> {
  try {
    return parseEnv(LogEnv, prefix === undefined ? env : { ...env, CHUTE_TOPIC_PREFIX: prefix });
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
}

/** `chute acls print`: the grants of a deployment, as a table (or JSON), without touching a broker. */
export function printAcls(options: AclCommandOptions, env: NodeJS.ProcessEnv): string {
  const config = configOf(env, options.prefix);
  const bindings = platformAcls({ prefix: config.CHUTE_TOPIC_PREFIX, users: usersOf(options.user) });
  return options.json ? JSON.stringify(bindings, null, 2) : formatAclTable(bindings);
}

/**
 * `chute acls apply`: logged in as an admin (CHUTE_KAFKA_* as for a service),
 * creates the platform's topics unless told not to, grants every service its
 * ACLs, and prints the table it applied.
 */
export async function applyAclsCommand(options: AclCommandOptions & { createTopics: boolean }, env: NodeJS.ProcessEnv): Promise<string> {
  const config = configOf(env, options.prefix);
  const bindings = await provisionPlatform(config, topicsConfigOf(config), {
    users: usersOf(options.user),
    createTopics: options.createTopics,
    // Errors only, to stderr (stdout carries the table): kafkajs warns of every leader not elected yet on new topics.
    logger: createLogger({ command: 'acls apply' }, 'error', (line) => process.stderr.write(line + '\n')),
  });
  return options.json ? JSON.stringify(bindings, null, 2) : formatAclTable(bindings);
}
