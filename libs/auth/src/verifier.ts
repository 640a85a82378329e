import type { AuthKeys } from './keys';
import { AuthError, verifyToken, type Principal } from './tokens';

/** How many verified tokens a verifier remembers. @default */
const REMEMBERED_TOKENS = 10_000;

/**
 * Verifies tokens, remembering the ones that verified: a client sends the same
 * token with every request, and checking its signature (WebCrypto, through
 * jose) was the largest part of the gateway's CPU per request. A remembered
 * token is the same bytes that verified, so only its expiry is checked again;
 * a token that fails is verified afresh each time. The keys are fixed for the
 * verifier's life, so nothing remembered can outlive its key.
 */
export class TokenVerifier {
  /** Token -> its principal, least recently used first. */
  private readonly verified = new Map<string, Principal>();

  constructor(
    private readonly keys: AuthKeys,
    private readonly remembered = REMEMBERED_TOKENS,
  ) {}

  /** The token's principal; throws {@link AuthError} as {@link verifyToken} does. */
  async verify(token: string, now = Date.now()): Promise<Principal> {
    const known = this.verified.get(token);
    if (known) {
      this.verified.delete(token);
      if (known.expiresAt <= now) throw new AuthError('TOKEN_EXPIRED', 'the token has expired; get a new one');
      this.verified.set(token, known);
      return known;
    }
    const principal = await verifyToken(this.keys, token, { now });
    this.verified.set(token, principal);
    if (this.verified.size > this.remembered) this.verified.delete(this.verified.keys().next().value!);
    return principal;
  }
}
