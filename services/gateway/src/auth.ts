import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AuthError, requireScope, TokenVerifier, type AuthKeys, type Principal } from '@chute/auth';
import { ChuteError, type Logger } from '@chute/runtime';
import { DEFAULT_TENANT, Scope } from '@chute/schemas';

/** What a route asks of its caller; a route without it takes any valid token (of the full kind). */
export interface RouteAuth {
  /** Needs no token at all (probes, and whatever configuration opens). */
  readonly public?: boolean;
  readonly scope?: Scope;
  /**
   * A run-scoped stream token is accepted here, for the run in the `:id`
   * parameter, and a token may come as `?token=`: browsers cannot set headers
   * on EventSource or WebSocket.
   */
  readonly streamToken?: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
  interface FastifyRequest {
    /** Who the request's token speaks for; set before any handler runs. */
    principal: Principal;
  }
}

/** The principal of every request on a gateway whose auth is turned off: the default tenant, every scope. */
const ANONYMOUS: Principal = {
  subject: 'anonymous',
  tenant: DEFAULT_TENANT,
  scopes: new Set(Scope.options),
  expiresAt: Number.MAX_SAFE_INTEGER,
  tokenId: 'anonymous',
};

export interface GatewayAuthOptions {
  /** The keys tokens are verified with; undefined turns auth off (every request is the default tenant's). */
  keys: AuthKeys | undefined;
  logger: Logger;
  /** Paths (prefixes) served without a token, beside the routes marked public. */
  publicPrefixes: readonly string[];
}

const toChuteError = (error: AuthError): ChuteError => new ChuteError(error.code, error.message);

/**
 * Authenticates every request before its handler: a bearer token (or, on the
 * stream route only, `?token=`), verified, then checked against the route's
 * scope. A request it refuses gets 401 (no valid token, or an expired one)
 * or 403 (a valid token without the right).
 */
export function registerAuth(app: FastifyInstance, options: GatewayAuthOptions): void {
  if (!options.keys) options.logger.warn('auth is OFF (CHUTE_AUTH_DISABLED=true): every request is served, as the default tenant, without a token');
  const verifier = options.keys ? new TokenVerifier(options.keys) : undefined;
  app.decorateRequest('principal', null as unknown as Principal);
  app.addHook('onRequest', async (request) => {
    const auth = request.routeOptions.config.auth;
    // An unknown route answers 404 either way: a token would not change it.
    if (request.routeOptions.url === undefined || auth?.public) return;
    const path = request.url.split('?')[0]!;
    if (options.publicPrefixes.some((prefix) => path === prefix || path.startsWith(`${prefix}/`))) return;
    if (!verifier) {
      request.principal = ANONYMOUS;
      return;
    }
    try {
      const token = tokenOf(request, auth?.streamToken ?? false);
      if (token === undefined) throw new AuthError('UNAUTHENTICATED', 'a bearer token is required (Authorization: Bearer <token>)');
      const principal = await verifier.verify(token);
      if (principal.run !== undefined) {
        const runId = (request.params as { id?: string }).id;
        if (!auth?.streamToken || runId !== principal.run) throw new AuthError('FORBIDDEN', `a stream token reads the stream of run ${principal.run} only`);
      }
      if (auth?.scope) requireScope(principal, auth.scope);
      request.principal = principal;
    } catch (error) {
      if (error instanceof AuthError) throw toChuteError(error);
      throw error;
    }
  });
}

function tokenOf(request: FastifyRequest, queryAllowed: boolean): string | undefined {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new AuthError('UNAUTHENTICATED', 'the Authorization header must be "Bearer <token>"');
    return match[1];
  }
  if (!queryAllowed) return undefined;
  const token = (request.query as { token?: unknown }).token;
  return typeof token === 'string' && token.length > 0 ? token : undefined;
}
