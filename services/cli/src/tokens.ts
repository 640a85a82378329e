import { AuthKeys, mintToken } from '@chute/auth';
import { durationMs, Scope, TenantId } from '@chute/schemas';

/** A command line the CLI refuses: the message is all the user needs (no stack). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface CreateTokenOptions {
  tenant: string;
  scope: readonly string[];
  ttl: string;
  subject?: string;
}

/** `chute tokens create`: a token signed with the gateway's secret (CHUTE_AUTH_SECRET), printed on stdout. */
export async function createToken(options: CreateTokenOptions, env: NodeJS.ProcessEnv): Promise<string> {
  const secret = env['CHUTE_AUTH_SECRET'];
  if (!secret) throw new UsageError('CHUTE_AUTH_SECRET is not set: tokens are signed with the gateway\'s secret');
  const tenant = TenantId.safeParse(options.tenant);
  if (!tenant.success) throw new UsageError(`--tenant: ${tenant.error.issues[0]!.message}`);
  if (options.scope.length === 0) throw new UsageError(`--scope: give at least one of ${Scope.options.join(', ')}`);
  const scopes = options.scope.map((s) => {
    const parsed = Scope.safeParse(s);
    if (!parsed.success) throw new UsageError(`--scope: unknown scope "${s}"; scopes are ${Scope.options.join(', ')}`);
    return parsed.data;
  });
  let ttlMs: number;
  let keys: AuthKeys;
  try {
    ttlMs = durationMs(options.ttl, 'a lifetime');
  } catch (error) {
    throw new UsageError(`--ttl: ${(error as Error).message}`);
  }
  try {
    keys = AuthKeys.parse(secret);
  } catch (error) {
    throw new UsageError(`CHUTE_AUTH_SECRET: ${(error as Error).message}`);
  }
  return mintToken(keys, { tenant: tenant.data, scopes, ttlMs, ...(options.subject !== undefined ? { subject: options.subject } : {}) });
}
