import { errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import { ProblemError } from '../errors.ts';
import { parseServiceAccountUsername } from '../allow.ts';
import type { KubeIdentity } from './types.ts';
import { checkKubeIdentity } from '../kube-names.ts';

/**
 * Signing algorithms a Kubernetes apiserver uses for ServiceAccount tokens (RSA or ECDSA keys given to
 * --service-account-signing-key-file). Pinned so a token can never pick its own ("none", HS256).
 */
export const VALID_SIGNING_ALGS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512'];

/** Clock skew allowed on exp/nbf/iat. */
export const CLOCK_TOLERANCE_S = 10;
/** Longest token lifetime accepted (exp - iat): a stolen token must not be useful for long. */
export const MAX_TOKEN_TTL_S = 30 * 60;

const KubernetesClaimSchema = z.object({
  namespace: z.string(),
  serviceaccount: z.object({ name: z.string(), uid: z.string() }),
  pod: z.object({ name: z.string(), uid: z.string() }).optional(),
});

const problem = (code: 'kube_token_invalid' | 'audience_mismatch' | 'legacy_token_rejected', detail: string, cause?: unknown) =>
  new ProblemError(code, 401, detail, { cause });

/** Secret-based tokens carry "kubernetes.io/serviceaccount/..." claims and no "kubernetes.io" object. */
export function isLegacy(payload: JWTPayload | undefined): boolean {
  return payload !== undefined && payload['kubernetes.io'] === undefined && typeof payload['kubernetes.io/serviceaccount/namespace'] === 'string';
}

export const LEGACY_TOKEN_DETAIL = 'legacy Secret-based ServiceAccount tokens are not accepted; mount a projected, pod-bound token';

/**
 * The lifetime cap, from the token's own `iat` and `exp`: a stolen token must not be useful for long,
 * whatever the cluster would still accept. Both claims are required, and `iat` may be neither after
 * `exp` nor in the future (a token "issued" later would stretch the cap). `nowS` in seconds.
 */
export function checkTokenLifetime(payload: JWTPayload, nowS: number): void {
  const { exp, iat } = payload;
  if (typeof exp !== 'number' || typeof iat !== 'number') throw problem('kube_token_invalid', 'ServiceAccount token has no numeric exp and iat claims');
  if (iat > exp) throw problem('kube_token_invalid', 'ServiceAccount token was issued (iat) after it expires (exp)');
  if (iat > nowS + CLOCK_TOLERANCE_S) throw problem('kube_token_invalid', 'ServiceAccount token is issued in the future (iat); check the clocks of the cluster and the auth service');
  if (exp - iat > MAX_TOKEN_TTL_S + CLOCK_TOLERANCE_S) {
    throw problem('kube_token_invalid', `ServiceAccount token lifetime ${exp - iat}s exceeds ${MAX_TOKEN_TTL_S}s; project it with a shorter expirationSeconds`);
  }
}

/**
 * Verifies a ServiceAccount JWT locally (static_jwks and oidc types): signature first, then audience =
 * the cluster name, exp and iat present, 10 s leeway, lifetime at most 30 min, and a pod-bound
 * `kubernetes.io` claim that agrees with `sub`.
 */
export async function verifyServiceAccountJwt(kubeToken: string, keys: JWTVerifyGetKey, audience: string, options: { issuer?: string; now?: Date } = {}): Promise<KubeIdentity> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(kubeToken, keys, {
      algorithms: VALID_SIGNING_ALGS,
      audience,
      clockTolerance: CLOCK_TOLERANCE_S,
      requiredClaims: ['exp', 'iat', 'sub'],
      ...(options.issuer ? { issuer: options.issuer } : {}),
      ...(options.now ? { currentDate: options.now } : {}),
    }));
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) throw problem('kube_token_invalid', 'ServiceAccount token has expired', err);
    if (err instanceof joseErrors.JWTClaimValidationFailed) {
      if (isLegacy(err.payload)) throw problem('legacy_token_rejected', LEGACY_TOKEN_DETAIL, err);
      if (err.claim === 'aud') throw problem('audience_mismatch', `ServiceAccount token audience does not include "${audience}"`, err);
      throw problem('kube_token_invalid', `ServiceAccount token claim "${err.claim}" is invalid: ${err.reason}`, err);
    }
    if (err instanceof joseErrors.JWKSNoMatchingKey) throw problem('kube_token_invalid', 'no key in the JWKS matches the ServiceAccount token (kid/alg)', err);
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) throw problem('kube_token_invalid', 'ServiceAccount token signature does not verify', err);
    if (err instanceof joseErrors.JOSEAlgNotAllowed) throw problem('kube_token_invalid', 'ServiceAccount token uses a signing algorithm that is not accepted', err);
    if (err instanceof joseErrors.JOSEError) throw problem('kube_token_invalid', `ServiceAccount token is not a valid JWT (${err.code})`, err);
    throw err;
  }
  checkTokenLifetime(payload, Math.floor((options.now ?? new Date()).getTime() / 1000));
  const sa = parseServiceAccountUsername(payload.sub as string);
  if (sa === undefined) throw problem('kube_token_invalid', 'token subject is not a ServiceAccount (system:serviceaccount:NS:NAME)');
  const k8s = KubernetesClaimSchema.safeParse(payload['kubernetes.io']);
  if (!k8s.success) throw problem('legacy_token_rejected', 'ServiceAccount token has no kubernetes.io claim; a projected, pod-bound token is required');
  if (k8s.data.namespace !== sa.namespace || k8s.data.serviceaccount.name !== sa.serviceAccount) {
    throw problem('kube_token_invalid', 'ServiceAccount token subject and kubernetes.io claim disagree');
  }
  if (!k8s.data.pod) throw problem('legacy_token_rejected', 'ServiceAccount token is not bound to a pod; mount a projected ServiceAccount token');
  const identity = { ...sa, podName: k8s.data.pod.name, podUid: k8s.data.pod.uid };
  checkKubeIdentity(identity);
  return identity;
}
