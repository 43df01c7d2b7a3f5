import { createHash } from 'node:crypto';
import { decodeJwt, type JWTPayload } from 'jose';
import { KubeApiError, KubeConfigError, KubeUnreachableError, type KubeClient, type TokenReviewStatus } from '../../kube/index.ts';
import { parseServiceAccountUsername } from '../allow.ts';
import { ProblemError } from '../errors.ts';
import { checkTokenLifetime, isLegacy, LEGACY_TOKEN_DETAIL } from './claims.ts';
import { checkKubeIdentity } from '../kube-names.ts';
import type { KubeIdentity, TokenValidator } from './types.ts';

/** How long a positive TokenReview is reused (never past the token's own `exp`). */
export const REVIEW_CACHE_TTL_MS = 10_000;
/** Most reviews kept; the oldest goes first. */
export const REVIEW_CACHE_MAX_ENTRIES = 4096;

export const SERVICE_ACCOUNTS_GROUP = 'system:serviceaccounts';
export const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';
export const POD_UID_EXTRA = 'authentication.kubernetes.io/pod-uid';
/** The ClusterRole that lets a ServiceAccount create TokenReviews (and SubjectAccessReviews). */
export const AUTH_DELEGATOR_ROLE = 'system:auth-delegator';

export interface InClusterValidatorOptions {
  /** The cluster name: the one audience asked of the TokenReview. */
  audience: string;
  /** API access of the auth service itself; undefined when it has none (not in a pod, no --kubeconfig). */
  client: KubeClient | undefined;
  now: () => number;
}

const invalid = (detail: string, cause?: unknown) => new ProblemError('kube_token_invalid', 401, detail, { cause });

/** Text from the apiserver made safe to hand back: one line, bounded, nothing that looks like a JWT. */
export function sanitizeReviewError(text: string, token: string): string {
  return text
    .split(token)
    .join('[token]')
    .replace(/eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g, '[token]')
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .slice(0, 300);
}

function audiencesOf(payload: JWTPayload | undefined): string[] {
  const aud = payload?.aud;
  return typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
}

function single(extra: Record<string, string[]> | undefined, key: string): string | undefined {
  const values = extra?.[key];
  return Array.isArray(values) && values.length === 1 && typeof values[0] === 'string' && values[0] !== '' ? values[0] : undefined;
}

function apiProblem(err: unknown, client: KubeClient): ProblemError {
  if (err instanceof KubeApiError) {
    if (err.status === 403) {
      return new ProblemError(
        'tokenreview_forbidden',
        500,
        `the auth service may not create TokenReviews on ${client.server}: bind the ClusterRole ${AUTH_DELEGATOR_ROLE} to the auth service's ServiceAccount (apiserver: ${err.apiMessage ?? 'Forbidden'})`,
        { cause: err },
      );
    }
    if (err.status === 401) {
      return new ProblemError('kube_unavailable', 503, `the auth service's own credentials were rejected by the Kubernetes API ${client.server} (401 Unauthorized); check its ServiceAccount token or kubeconfig`, { cause: err });
    }
    if (err.status === 429 || err.status >= 500) {
      return new ProblemError('kube_unavailable', 503, `the Kubernetes API ${client.server} answered ${err.status} to a TokenReview; try again later`, { cause: err });
    }
    return new ProblemError('internal', 500, `the Kubernetes API ${client.server} refused the TokenReview (${err.status}${err.reason ? ` ${err.reason}` : ''})`, { cause: err });
  }
  if (err instanceof KubeUnreachableError) {
    return new ProblemError('kube_unavailable', 503, `the Kubernetes API ${client.server} is unreachable (${err.reason ?? 'no answer'}); try again later`, { cause: err });
  }
  if (err instanceof KubeConfigError) return new ProblemError('internal', 500, 'the auth service cannot read its own Kubernetes credentials; see the auth service log', { cause: err });
  return new ProblemError('internal', 500, 'TokenReview failed; see the auth service log', { cause: err });
}

/**
 * `in_cluster`: the Kubernetes API decides. Legacy tokens and lifetimes over the cap are refused from the
 * payload first; then a TokenReview with `spec.audiences = [clusterName]`; the
 * answer must be authenticated, confirm that audience, name a ServiceAccount (username and group), and
 * carry the pod binding extras (a projected token, not a legacy Secret-based one). Positive answers are
 * reused for a few seconds, keyed by the token's SHA-256 (the token itself is never kept).
 */
export function createInClusterValidator(options: InClusterValidatorOptions): TokenValidator {
  const { audience, client, now } = options;
  const cache = new Map<string, { identity: KubeIdentity; until: number }>();

  function remember(key: string, identity: KubeIdentity, exp: number | undefined): void {
    if (exp === undefined) return;
    const until = Math.min(now() + REVIEW_CACHE_TTL_MS, exp * 1000);
    if (until <= now()) return;
    cache.delete(key);
    while (cache.size >= REVIEW_CACHE_MAX_ENTRIES) {
      const oldest = cache.keys().next().value as string;
      cache.delete(oldest);
    }
    cache.set(key, { identity, until });
  }

  function judge(status: TokenReviewStatus, payload: JWTPayload, kubeToken: string): KubeIdentity {
    if (status.authenticated !== true) {
      if (!audiencesOf(payload).includes(audience)) throw new ProblemError('audience_mismatch', 401, `ServiceAccount token audience does not include "${audience}"`);
      throw invalid(`the Kubernetes API did not authenticate the ServiceAccount token${status.error ? `: ${sanitizeReviewError(status.error, kubeToken)}` : ''}`);
    }
    if (!(status.audiences ?? []).includes(audience)) {
      throw new ProblemError('audience_mismatch', 401, `the TokenReview did not confirm the audience "${audience}" (confirmed: ${(status.audiences ?? []).join(', ') || 'none'})`);
    }
    const username = status.user?.username ?? '';
    const sa = parseServiceAccountUsername(username);
    if (sa === undefined) throw invalid('the token does not belong to a ServiceAccount (system:serviceaccount:NS:NAME)');
    if (!(status.user?.groups ?? []).includes(SERVICE_ACCOUNTS_GROUP)) throw invalid(`the token's user is not in the group ${SERVICE_ACCOUNTS_GROUP}`);
    const podName = single(status.user?.extra, POD_NAME_EXTRA);
    const podUid = single(status.user?.extra, POD_UID_EXTRA);
    if (podName === undefined || podUid === undefined) {
      throw new ProblemError('legacy_token_rejected', 401, 'ServiceAccount token is not bound to a pod; mount a projected ServiceAccount token');
    }
    const identity = { ...sa, podName, podUid };
    checkKubeIdentity(identity);
    return identity;
  }

  return {
    type: 'in_cluster',
    async validate(kubeToken) {
      let payload: JWTPayload;
      try {
        payload = decodeJwt(kubeToken);
      } catch (err) {
        throw invalid('ServiceAccount token is not a JWT', err);
      }
      // Refusals the payload alone decides come before the review (cheap, and the right code): a legacy
      // token would otherwise read as a wrong audience, and the apiserver does not cap lifetimes.
      // The review then proves that this payload is the one the cluster signed.
      if (isLegacy(payload)) throw new ProblemError('legacy_token_rejected', 401, LEGACY_TOKEN_DETAIL);
      checkTokenLifetime(payload, Math.floor(now() / 1000));
      const key = createHash('sha256').update(audience).update('\0').update(kubeToken).digest('hex');
      const hit = cache.get(key);
      if (hit !== undefined) {
        if (hit.until > now()) return { ...hit.identity };
        cache.delete(key);
      }
      if (client === undefined) {
        throw new ProblemError('internal', 500, 'this auth service has no Kubernetes API access for in_cluster tokens: run it in a pod with a ServiceAccount, or give --kubeconfig');
      }
      let status: TokenReviewStatus;
      try {
        status = await client.tokenReview(kubeToken, [audience]);
      } catch (err) {
        throw apiProblem(err, client);
      }
      const identity = judge(status, payload, kubeToken);
      remember(key, identity, typeof payload.exp === 'number' ? payload.exp : undefined);
      return { ...identity };
    },
  };
}
