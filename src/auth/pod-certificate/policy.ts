// The whole decision on one PodCertificateRequest, as a pure function: what the signer read from the API
// and storage goes in, an issuance or a refusal (condition reason + message) comes out.
import type { AppSpec } from '../../protocol/index.ts';
import { parseAppSpec } from '../../protocol/index.ts';
import { ANNOTATIONS } from '../../protocol/annotations.ts';
import { renewAt } from '../../common/renewal.ts';
import { grantRoles, isServiceAccountAllowed } from '../allow.ts';
import { canonicalRole, isTokenExpired, KNOWN_ROLES, type ProvisionToken } from '../tokens.ts';

/** userAnnotations keys the signer reads (the injector's names for the same things); any other key is refused, as KEP-4317 asks of signers. */
export const TOKEN_ANNOTATION = ANNOTATIONS.tokenName;
export const ROLES_ANNOTATION = ANNOTATIONS.roles;
export const APPS_ANNOTATION = ANNOTATIONS.apps;
const KNOWN_ANNOTATIONS: readonly string[] = [TOKEN_ANNOTATION, ROLES_ANNOTATION, APPS_ANNOTATION];

/** The shortest and longest lifetimes kube-apiserver accepts for a podCertificate, and its refresh window margin. */
export const MIN_POD_CERT_LIFETIME_MS = 3600_000;
const REFRESH_MARGIN_MS = 10 * 60_000;

/** The request as the kubelet wrote it (spec fields; the API server has checked them against the pod and node). */
export interface PcrFacts {
  namespace: string;
  podName: string;
  podUid: string;
  serviceAccount: string;
  nodeName: string;
  maxExpirationSeconds: number;
  userAnnotations: Readonly<Record<string, string>>;
}

/** The request's public key: accepted, or why not (reason `UnsupportedKeyType` or `InvalidProofOfPossession`). */
export type KeyVerdict = { ok: true } | { ok: false; reason: 'UnsupportedKeyType' | 'InvalidProofOfPossession'; message: string };

export interface PcrPolicyInput {
  pcr: PcrFacts;
  key: KeyVerdict;
  /** The provision token the request names (undefined: none of that name). */
  token: ProvisionToken | undefined;
  /** The pod as a GET found it now; undefined when it is gone. */
  pod: { uid: string; nodeName: string | undefined } | undefined;
  /** The inventory holds this very pod (same UID) through the same token: a refresh, as an agent's renewal. */
  refresh: boolean;
  now: number;
  /** --cert-ttl and --max-cert-ttl of the auth service. */
  certTtlMs: number;
  maxCertTtlMs: number;
  /** How much earlier than now the signer dates notBefore (it counts in the lifetime kube-apiserver checks). */
  backdateMs: number;
}

export type PcrDecision =
  | { outcome: 'issue'; tokenName: string; roles: string[]; apps: AppSpec[]; ttlMs: number }
  | { outcome: 'Denied' | 'Failed'; reason: string; message: string };

const deny = (reason: string, message: string): PcrDecision => ({ outcome: 'Denied', reason, message });

/**
 * Decides one request, in this order: the key type and proof of possession; the userAnnotations (only
 * known keys; a token named); the provision token exists, is of type pod_certificate and, for a pod's first
 * certificate, has not expired (as with agents, expiry gates first issuance; deleting the token revokes
 * refreshes); the pod still exists with that UID on that node; its ServiceAccount is on the allow list; the
 * requested roles (unverified input) only narrow the token's; the lifetime fits the request and the auth's
 * limits and is at least the hour kube-apiserver requires.
 */
export function decidePodCertificate(input: PcrPolicyInput): PcrDecision {
  const { pcr, token } = input;
  const who = `pod ${pcr.namespace}/${pcr.podName}`;
  if (!input.key.ok) return deny(input.key.reason, input.key.message);

  const unknown = Object.keys(pcr.userAnnotations).filter((k) => !KNOWN_ANNOTATIONS.includes(k)).sort();
  if (unknown.length > 0) {
    return deny('InvalidUnverifiedUserAnnotations', `unknown userAnnotations key${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}: kube-join reads only ${KNOWN_ANNOTATIONS.join(', ')}`);
  }
  const tokenName = pcr.userAnnotations[TOKEN_ANNOTATION]?.trim();
  if (!tokenName) return deny('InvalidUnverifiedUserAnnotations', `set userAnnotations "${TOKEN_ANNOTATION}: <provision token name>" in the podCertificate volume of ${who}`);
  const requested = parseList(pcr.userAnnotations[ROLES_ANNOTATION]);
  const unknownRoles = requested.filter((r) => canonicalRole(r) === undefined);
  if (unknownRoles.length > 0) return deny('InvalidUnverifiedUserAnnotations', `${ROLES_ANNOTATION}: ${unknownRoles.join(', ')} ${unknownRoles.length > 1 ? 'are not roles' : 'is not a role'} (known: ${KNOWN_ROLES.join(', ')})`);
  const appTexts = parseList(pcr.userAnnotations[APPS_ANNOTATION]);
  const apps = appTexts.map(parseAppSpec);
  const badApp = appTexts.find((_, i) => apps[i] === undefined);
  if (badApp !== undefined) return deny('InvalidUnverifiedUserAnnotations', `${APPS_ANNOTATION}: entries must be name=uri with a DNS-1123 name, comma-separated (got ${JSON.stringify(badApp)})`);

  if (token === undefined) return deny('TokenNotFound', `provision token "${tokenName}" (${TOKEN_ANNOTATION}) does not exist on the auth service`);
  if (token.spec.kubernetes.type !== 'pod_certificate') {
    return deny('JoinMethodMismatch', `provision token "${tokenName}" is of type ${token.spec.kubernetes.type}, for agents; podCertificate requests need a token of type pod_certificate`);
  }
  if (!input.refresh && isTokenExpired(token, input.now)) return deny('TokenExpired', `provision token "${tokenName}" expired at ${token.metadata.expires.toISOString()}; ${who} has no certificate through it yet`);

  if (input.pod === undefined) return deny('PodNotFound', `${who} no longer exists`);
  if (input.pod.uid !== pcr.podUid) return deny('PodMismatch', `${who} now has UID ${input.pod.uid}, not ${pcr.podUid}: the request is for an earlier pod of that name`);
  if (input.pod.nodeName !== pcr.nodeName) return deny('PodMismatch', `${who} runs on node ${input.pod.nodeName ?? '(none)'}, not on ${pcr.nodeName}, which made the request`);

  if (!isServiceAccountAllowed(token, pcr.namespace, pcr.serviceAccount)) {
    return deny('ServiceAccountNotAllowed', `ServiceAccount ${pcr.namespace}:${pcr.serviceAccount} is not in the allow list of provision token "${tokenName}"`);
  }
  const roles = grantRoles(token, requested);
  if ('denied' in roles) {
    return deny('RolesNotAllowed', `provision token "${tokenName}" does not grant role${roles.denied.length > 1 ? 's' : ''} ${roles.denied.join(', ')} (it grants ${token.spec.roles.join(', ')}); narrow ${ROLES_ANNOTATION}`);
  }

  // kube-apiserver checks notAfter - notBefore, which includes the backdating.
  const ttlMs = Math.min(Math.max(input.certTtlMs, MIN_POD_CERT_LIFETIME_MS - input.backdateMs), input.maxCertTtlMs, pcr.maxExpirationSeconds * 1000 - input.backdateMs);
  if (ttlMs + input.backdateMs < MIN_POD_CERT_LIFETIME_MS) {
    return { outcome: 'Failed', reason: 'LifetimeTooShort', message: `the auth service's --max-cert-ttl (${input.maxCertTtlMs / 1000}s) is below the 1h a podCertificate must live; raise it to at least 1h` };
  }
  return { outcome: 'issue', tokenName, roles: roles.granted, apps: apps as AppSpec[], ttlMs };
}

function parseList(text: string | undefined): string[] {
  return (text ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** The agent's renewal policy (fraction 0.5, ±10 % jitter, at the latest 10 minutes before expiry). */
export const POD_CERT_REFRESH = { fraction: 0.5, jitter: 0.1, renewBeforeMs: 10 * 60_000 } as const;

/**
 * `status.beginRefreshAt`: the agent's renewal time for the same validity, kept inside the window
 * kube-apiserver accepts ([notBefore + 10 min, notAfter - 10 min]). `rand` is in [0, 1).
 */
export function beginRefreshAt(validity: { notBefore: number; notAfter: number }, rand: number): number {
  const at = renewAt(validity, rand, POD_CERT_REFRESH);
  return Math.min(Math.max(at, validity.notBefore + REFRESH_MARGIN_MS), validity.notAfter - REFRESH_MARGIN_MS);
}
