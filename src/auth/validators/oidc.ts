import { rootCertificates } from 'node:tls';
import got, { RequestError } from 'got';
import { createRemoteJWKSet, customFetch, errors as joseErrors, type FetchImplementation, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import { ProblemError } from '../errors.ts';
import type { ProvisionToken } from '../tokens.ts';
import { verifyServiceAccountJwt } from './claims.ts';
import type { TokenValidator } from './types.ts';

/** A discovered issuer is looked up again after this long (its jwks_uri rarely changes). */
export const DISCOVERY_MAX_AGE_MS = 60 * 60 * 1000;
/** Most issuers kept (one per distinct `spec.kubernetes.oidc.issuer`). */
export const MAX_ISSUERS = 64;
/** Largest discovery document or JWKS accepted. */
const MAX_BODY_BYTES = 1024 * 1024;

export interface OidcValidatorOptions {
  /** The cluster name: the audience tokens must carry. */
  audience: string;
  /** Extra PEM CA bundle trusted for issuers (with the system roots), e.g. a cluster's own CA. */
  caPem: string | undefined;
  /** Time one discovery or JWKS request may take. */
  timeoutMs: number;
  /** After a JWKS fetch, a token with an unknown key ID triggers the next fetch only after this long. */
  jwksCooldownMs: number;
  now: () => number;
}

const DiscoverySchema = z.object({ issuer: z.string(), jwks_uri: z.string() });

interface IssuerState {
  jwks: ReturnType<typeof createRemoteJWKSet>;
  discoveredAt: number;
}

const unavailable = (detail: string, cause?: unknown, retryAfterSeconds?: number) =>
  new ProblemError('kube_unavailable', 503, detail, { cause, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) });

/**
 * `oidc`: the cluster's keys come from its OIDC discovery document (`<issuer>/.well-known/openid-
 * configuration`, then `jwks_uri`), so a signing-key rotation is picked up: a token with an unknown
 * key ID refetches the key set (at most once per cooldown). The token is then checked locally like
 * `static_jwks`, with `iss` required to be the configured issuer.
 */
export function createOidcValidator(options: OidcValidatorOptions): TokenValidator {
  const { audience, timeoutMs, jwksCooldownMs, now } = options;
  const ca = options.caPem !== undefined ? [...rootCertificates, options.caPem] : undefined;
  const issuers = new Map<string, Promise<IssuerState>>();

  /** GET `url` as JSON; every failure is the issuer being unavailable (retryable), named by URL. */
  async function getJson(url: string, what: string, accept: string, signal?: AbortSignal): Promise<unknown> {
    let response;
    try {
      response = await got(url, {
        headers: { accept },
        ...(ca !== undefined ? { https: { certificateAuthority: ca } } : {}),
        timeout: { request: timeoutMs },
        retry: { limit: 0 },
        throwHttpErrors: false,
        followRedirect: false,
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      const code = err instanceof RequestError ? err.code : (err as Error).name;
      throw unavailable(`the ${what} ${url} is unreachable (${code})`, err);
    }
    if (response.statusCode !== 200) throw unavailable(`the ${what} ${url} answered ${response.statusCode}`);
    if (response.body.length > MAX_BODY_BYTES) throw unavailable(`the ${what} ${url} is larger than ${MAX_BODY_BYTES} bytes`);
    try {
      return JSON.parse(response.body) as unknown;
    } catch (err) {
      throw unavailable(`the ${what} ${url} is not JSON`, err);
    }
  }

  const fetchJwks: FetchImplementation = async (url, init) => {
    // Kubernetes serves its JWKS as application/jwk-set+json and answers 406 to a plain JSON accept.
    const body = await getJson(url, 'JWKS', 'application/jwk-set+json, application/json', init.signal);
    return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
  };

  async function discover(issuer: string, allowHttp: boolean): Promise<IssuerState> {
    const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const parsed = DiscoverySchema.safeParse(await getJson(url, 'OIDC discovery document', 'application/json'));
    if (!parsed.success) throw unavailable(`the OIDC discovery document ${url} has no issuer or jwks_uri`);
    if (parsed.data.issuer !== issuer) throw unavailable(`the OIDC discovery document ${url} names issuer "${parsed.data.issuer}", not "${issuer}"`);
    let jwksUrl: URL;
    try {
      jwksUrl = new URL(parsed.data.jwks_uri);
    } catch (err) {
      throw unavailable(`the OIDC discovery document ${url} has a jwks_uri that is not a URL`, err);
    }
    if (jwksUrl.protocol !== 'https:' && !(allowHttp && jwksUrl.protocol === 'http:')) throw unavailable(`the OIDC discovery document ${url} has a jwks_uri that is not https`);
    const jwks = createRemoteJWKSet(jwksUrl, { timeoutDuration: timeoutMs, cooldownDuration: jwksCooldownMs, [customFetch]: fetchJwks });
    return { jwks, discoveredAt: now() };
  }

  async function issuerState(issuer: string, allowHttp: boolean): Promise<IssuerState> {
    const key = `${allowHttp ? 'http+' : ''}${issuer}`;
    const pending = issuers.get(key);
    if (pending !== undefined) {
      const state = await pending.catch(() => undefined);
      if (state !== undefined && now() - state.discoveredAt < DISCOVERY_MAX_AGE_MS) return state;
      if (issuers.get(key) === pending) issuers.delete(key);
    }
    if (issuers.size >= MAX_ISSUERS) issuers.delete(issuers.keys().next().value as string);
    const next = discover(issuer, allowHttp);
    issuers.set(key, next);
    next.catch(() => {
      if (issuers.get(key) === next) issuers.delete(key);
    });
    return next;
  }

  return {
    type: 'oidc',
    async validate(kubeToken: string, token: ProvisionToken) {
      const oidc = token.spec.kubernetes.oidc;
      if (oidc === undefined) throw new ProblemError('internal', 500, `provision token "${token.metadata.name}" has type oidc but no oidc.issuer`);
      const state = await issuerState(oidc.issuer, oidc.insecure_allow_http_issuer);
      const keys: JWTVerifyGetKey = async (header, jws) => {
        // jose refetches on an unknown kid unless it fetched within the cooldown; then a rotated key
        // is not known yet, and the agent should come back shortly rather than give up on its token.
        const coolingDown = state.jwks.coolingDown;
        try {
          return await state.jwks(header, jws);
        } catch (err) {
          if (err instanceof joseErrors.JWKSNoMatchingKey && coolingDown) {
            throw unavailable(
              `no key of issuer ${oidc.issuer} matches the token's key ID yet (the cluster may have rotated its signing key); the key set is fetched again within ${Math.ceil(jwksCooldownMs / 1000)}s`,
              err,
              Math.max(1, Math.ceil(jwksCooldownMs / 1000)),
            );
          }
          throw err;
        }
      };
      return verifyServiceAccountJwt(kubeToken, keys, audience, { issuer: oidc.issuer, now: new Date(now()) });
    },
  };
}
