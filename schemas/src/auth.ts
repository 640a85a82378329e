import { z } from 'zod';
import { RunId, TenantId } from './common';

/**
 * What a token allows. `runs:write` triggers and cancels runs, `runs:read`
 * reads them (and mints stream tokens), `stream:read` reads streams,
 * `workers` connects a worker over the worker protocol.
 */
export const Scope = z.enum(['runs:write', 'runs:read', 'stream:read', 'workers']);
export type Scope = z.infer<typeof Scope>;

/** Who issues Chute's tokens, and the audience of every token the gateway takes. */
export const TOKEN_ISSUER = 'chute';
export const TOKEN_AUDIENCE = 'chute-gateway';

/**
 * The claims of a Chute token (a JWT signed with one of the gateway's keys,
 * named by the `kid` header). A token with `run` is a run-scoped stream token:
 * it reads that one run's stream and nothing else.
 */
export const TokenClaims = z.object({
  iss: z.literal(TOKEN_ISSUER),
  aud: z.literal(TOKEN_AUDIENCE),
  /** Who the token was issued to, for logs and rate limits. */
  sub: z.string().min(1).max(200),
  tenant: TenantId,
  /** Space-separated scopes, as OAuth writes them. */
  scope: z
    .string()
    .max(500)
    .transform((s, ctx) => {
      const scopes = s.split(' ').filter((x) => x.length > 0);
      const parsed = z.array(Scope).safeParse(scopes);
      if (!parsed.success) {
        ctx.addIssue({ code: 'custom', message: `unknown scope in "${s}"; scopes are ${Scope.options.join(', ')}` });
        return z.NEVER;
      }
      return parsed.data;
    }),
  run: RunId.optional(),
  /** The token's own id: rate limits count per token. */
  jti: z.string().max(100).optional(),
  iat: z.number().int(),
  exp: z.number().int(),
});
export type TokenClaims = z.output<typeof TokenClaims>;
