import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { ProvisionToken } from '../tokens.ts';
import { verifyServiceAccountJwt } from './claims.ts';
import type { TokenValidator } from './types.ts';

/**
 * `static_jwks`: the token's spec carries the cluster's JWKS (`kubectl get --raw /openid/v1/jwks`). Works
 * where the auth service cannot reach the cluster; breaks when the cluster rotates its signing key (use
 * `oidc` then).
 */
export function createStaticJwksValidator(options: { audience: string; now?: () => Date }): TokenValidator {
  // Parsed key sets per JWKS text: a token's JWKS changes only when the token is replaced.
  const cache = new Map<string, JWTVerifyGetKey>();
  return {
    type: 'static_jwks',
    async validate(kubeToken: string, token: ProvisionToken) {
      const text = token.spec.kubernetes.static_jwks?.jwks ?? '{"keys":[]}';
      let keys = cache.get(text);
      if (keys === undefined) {
        keys = createLocalJWKSet(JSON.parse(text) as JSONWebKeySet);
        if (cache.size > 256) cache.clear();
        cache.set(text, keys);
      }
      return verifyServiceAccountJwt(kubeToken, keys, options.audience, options.now ? { now: options.now() } : {});
    },
  };
}
