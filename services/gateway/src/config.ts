import { z } from 'zod';
import { AuthKeys, AuthKeysError } from '@chute/auth';
import { durationMs } from '@chute/schemas';
import { DatabaseEnv, Port } from '@chute/runtime';
import { LogEnv } from '@chute/log';

const Flag = z.enum(['true', 'false']).transform((v) => v === 'true');

export const GatewayEnv = LogEnv.extend(DatabaseEnv.shape).extend({
  /** Interface to listen on; set 0.0.0.0 in a container. @default 127.0.0.1 */
  CHUTE_GATEWAY_HOST: z.string().min(1).default('127.0.0.1'),
  /** @default 8080 */
  CHUTE_GATEWAY_PORT: Port.default(8080),
  /** How often workers connected over the worker protocol heartbeat; keep it well under the schedulers' CHUTE_HEARTBEAT_TIMEOUT_MS. @default 5000 */
  CHUTE_WORKER_HEARTBEAT_INTERVAL_MS: z.coerce.number().int().min(100).max(60_000).default(5000),
  /**
   * The keys API tokens are signed with: `kid:secret` entries separated by
   * commas (the first signs, all verify; a lone secret is key `default`), each
   * secret at least 32 bytes. Required unless CHUTE_AUTH_DISABLED=true.
   */
  CHUTE_AUTH_SECRET: z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined || text.trim() === '') return undefined;
      try {
        return AuthKeys.parse(text);
      } catch (error) {
        if (!(error instanceof AuthKeysError)) throw error;
        ctx.addIssue({ code: 'custom', message: error.message });
        return z.NEVER;
      }
    }),
  /** Serve every request without a token, as the default tenant: local development only. @default false */
  CHUTE_AUTH_DISABLED: Flag.default(false),
  /** Serve /metrics without a token (for a scraper that cannot send one). @default false */
  CHUTE_METRICS_PUBLIC: Flag.default(false),
  /** Serve the OpenAPI document and its UI (/docs) without a token. @default false */
  CHUTE_DOCS_PUBLIC: Flag.default(false),
  /** How long a run-scoped stream token is valid. @default 5m */
  CHUTE_STREAM_TOKEN_TTL: z
    .string()
    .default('5m')
    .transform((text, ctx) => {
      try {
        return durationMs(text, 'CHUTE_STREAM_TOKEN_TTL');
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
        return z.NEVER;
      }
    }),
  /** Origins browsers may call the gateway from, comma-separated (CORS). @default none */
  CHUTE_CORS_ORIGINS: z
    .string()
    .default('')
    .transform((text) => text.split(',').map((o) => o.trim()).filter((o) => o.length > 0)),
  /** Runs one token may trigger per minute. @default 6000 */
  CHUTE_RATE_LIMIT_TRIGGERS_PER_MINUTE: z.coerce.number().int().min(1).default(6000),
  /** Bytes held for one stream subscriber that does not read before it is closed. @default 4 MiB */
  CHUTE_STREAM_BUFFER_BYTES: z.coerce.number().int().min(64 * 1024).default(4 * 1024 * 1024),
}).superRefine((config, ctx) => {
  // Auth is on unless turned off: a gateway with neither setting does not start.
  if (!config.CHUTE_AUTH_DISABLED && !config.CHUTE_AUTH_SECRET) {
    ctx.addIssue({
      code: 'custom',
      path: ['CHUTE_AUTH_SECRET'],
      message: 'required (kid:secret entries, secrets of 32+ bytes); or set CHUTE_AUTH_DISABLED=true for local development',
    });
  }
});
export type GatewayConfig = z.infer<typeof GatewayEnv>;

/** The keys tokens are verified with, or undefined when auth is explicitly off. */
export function authKeysOf(config: GatewayConfig): AuthKeys | undefined {
  return config.CHUTE_AUTH_DISABLED ? undefined : config.CHUTE_AUTH_SECRET;
}
