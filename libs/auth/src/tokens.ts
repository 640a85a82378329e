import { randomUUID } from 'node:crypto';
import { errors, jwtVerify, SignJWT, type JWTVerifyGetKey } from 'jose';
import { describeIssue, TOKEN_AUDIENCE, TOKEN_ISSUER, TokenClaims, type Scope } from '@chute/schemas';
import type { AuthKeys } from './keys';

/** Why a request is not let in: no valid token (401), an expired one (401), or one without the right (403). */
export type AuthFailure = 'UNAUTHENTICATED' | 'TOKEN_EXPIRED' | 'FORBIDDEN';

export class AuthError extends Error {
  override readonly name = 'AuthError';
  constructor(
    readonly code: AuthFailure,
    message: string,
  ) {
    super(message);
  }
}

/** Who a verified token speaks for, and what it may do. */
export interface Principal {
  readonly subject: string;
  readonly tenant: string;
  readonly scopes: ReadonlySet<Scope>;
  /** Set on a run-scoped stream token: the one run it may read. */
  readonly run?: string;
  /** Milliseconds since the epoch. */
  readonly expiresAt: number;
  /** Tells one token from another of the same subject (its `jti`): limits are per token. */
  readonly tokenId: string;
}

export interface MintOptions {
  tenant: string;
  scopes: readonly Scope[];
  /** How long the token is valid. */
  ttlMs: number;
  /** Who it is for. @default `tenant` */
  subject?: string;
  /** Limits the token to this run's stream. */
  run?: string;
  /** @default Date.now() */
  now?: number;
}

/** Signs a token with the first key (HS256). */
export async function mintToken(keys: AuthKeys, options: MintOptions): Promise<string> {
  const now = options.now ?? Date.now();
  const claims = {
    tenant: options.tenant,
    scope: options.scopes.join(' '),
    ...(options.run !== undefined ? { run: options.run } : {}),
  };
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', kid: keys.signing.kid, typ: 'JWT' })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setSubject(options.subject ?? options.tenant)
    .setJti(randomUUID())
    .setIssuedAt(Math.floor(now / 1000))
    .setExpirationTime(Math.floor((now + options.ttlMs) / 1000))
    .sign(keys.signing.secret);
}

export interface VerifyOptions {
  /** The time to check expiry against. @default Date.now() */
  now?: number;
}

/**
 * Verifies a token's signature (by its `kid`), issuer, audience and expiry,
 * then its claims' shape. Every failure is an {@link AuthError}: expired, or
 * not valid for any other reason (the reason stays in the message).
 */
export async function verifyToken(keys: AuthKeys, token: string, options: VerifyOptions = {}): Promise<Principal> {
  const keyOf: JWTVerifyGetKey = (header) => {
    const key = header.kid === undefined ? undefined : keys.find(header.kid);
    if (!key) throw new AuthError('UNAUTHENTICATED', `token signed with an unknown key${header.kid === undefined ? '' : ` (kid ${header.kid})`}`);
    return key.secret;
  };
  let payload: unknown;
  try {
    ({ payload } = await jwtVerify(token, keyOf, {
      algorithms: ['HS256'],
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCE,
      ...(options.now !== undefined ? { currentDate: new Date(options.now) } : {}),
    }));
  } catch (error) {
    if (error instanceof AuthError) throw error;
    if (error instanceof errors.JWTExpired) throw new AuthError('TOKEN_EXPIRED', 'the token has expired; get a new one');
    if (error instanceof errors.JOSEError) throw new AuthError('UNAUTHENTICATED', `invalid token: ${error.code}`);
    throw error;
  }
  const claims = TokenClaims.safeParse(payload);
  if (!claims.success) {
    const { field, detail } = describeIssue(claims.error);
    throw new AuthError('UNAUTHENTICATED', `invalid token claims: ${field}: ${detail}`);
  }
  const { sub, tenant, scope, run, exp, jti } = claims.data;
  return { subject: sub, tenant, scopes: new Set(scope), ...(run !== undefined ? { run } : {}), expiresAt: exp * 1000, tokenId: jti ?? `${sub}@${exp}` };
}

/** Throws FORBIDDEN unless the principal has the scope. */
export function requireScope(principal: Principal, scope: Scope): void {
  if (!principal.scopes.has(scope)) throw new AuthError('FORBIDDEN', `this token lacks the ${scope} scope`);
}
