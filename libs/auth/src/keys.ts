/** The shortest HS256 secret taken: 256 bits, the hash's own size (RFC 7518 §3.2). */
export const MIN_SECRET_BYTES = 32;

/** A secret that signs and verifies tokens, named by the `kid` header of what it signed. */
export interface SigningKey {
  readonly kid: string;
  readonly secret: Uint8Array;
}

/** Configuration that names no usable key: the message says which entry and why. */
export class AuthKeysError extends Error {
  override readonly name = 'AuthKeysError';
}

/**
 * The gateway's token keys: several at once, so a key can be rotated without
 * a moment when valid tokens are refused. The first signs what the platform
 * mints; every one of them verifies.
 */
export class AuthKeys {
  private readonly byKid: ReadonlyMap<string, SigningKey>;

  private constructor(readonly keys: readonly SigningKey[]) {
    this.byKid = new Map(keys.map((k) => [k.kid, k]));
  }

  /**
   * Parses `kid:secret` entries separated by commas (`CHUTE_AUTH_SECRET`); a
   * lone secret with no `kid:` is key `default`. Rotate by putting the new key
   * first and dropping the old one once its tokens have expired.
   */
  static parse(text: string): AuthKeys {
    const entries = text.split(',').map((e) => e.trim()).filter((e) => e.length > 0);
    if (entries.length === 0) throw new AuthKeysError('no key given: expected kid:secret entries separated by commas');
    const keys = entries.map((entry, i): SigningKey => {
      const named = /^([A-Za-z0-9._-]{1,64}):(.+)$/.exec(entry);
      const kid = named ? named[1]! : 'default';
      const secret = named ? named[2]! : entry;
      const bytes = new TextEncoder().encode(secret);
      if (bytes.byteLength < MIN_SECRET_BYTES) {
        throw new AuthKeysError(`key ${i + 1} (${kid}) is ${bytes.byteLength} bytes; a secret needs at least ${MIN_SECRET_BYTES} (openssl rand -base64 32)`);
      }
      return { kid, secret: bytes };
    });
    const kids = keys.map((k) => k.kid);
    const twice = kids.find((kid, i) => kids.indexOf(kid) !== i);
    if (twice !== undefined) throw new AuthKeysError(`key id ${twice} is given twice`);
    return new AuthKeys(keys);
  }

  /** The key new tokens are signed with. */
  get signing(): SigningKey {
    return this.keys[0]!;
  }

  find(kid: string): SigningKey | undefined {
    return this.byKid.get(kid);
  }
}
