import { open } from 'node:fs/promises';
// The decode-only entry point: the agent never verifies, and the whole of jose costs start-up time.
import { decodeJwt } from 'jose/jwt/decode';
import { TokenReadError } from './errors.ts';

const MAX_TOKEN_BYTES = 64 * 1024;

/**
 * Reads the ServiceAccount token from the first of `paths` that exists. Called on every join attempt:
 * the kubelet rotates a projected token at 80% of its life, so a cached copy goes stale. The token is
 * only checked to be a JWT (decoded, not verified: that is the auth service's job); its content never
 * appears in an error.
 */
export async function readServiceAccountToken(paths: readonly string[]): Promise<{ token: string; path: string }> {
  let firstMissing: TokenReadError | undefined;
  for (const path of paths) {
    let raw: Buffer;
    try {
      const handle = await open(path, 'r');
      try {
        const { size } = await handle.stat();
        if (size > MAX_TOKEN_BYTES) throw new TokenReadError(path, 'too_large');
        raw = await handle.readFile();
      } finally {
        await handle.close();
      }
    } catch (err) {
      if (err instanceof TokenReadError) throw err;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        firstMissing ??= new TokenReadError(path, 'missing', err);
        continue;
      }
      throw new TokenReadError(path, 'unreadable', err);
    }
    const token = raw.toString('utf8').trim();
    if (token === '') throw new TokenReadError(path, 'empty');
    try {
      decodeJwt(token);
    } catch (err) {
      throw new TokenReadError(path, 'not_a_jwt', err);
    }
    return { token, path };
  }
  throw firstMissing ?? new TokenReadError('(no token path configured)', 'missing');
}
