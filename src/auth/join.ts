import type { Identity, JoinRequest, JoinResponse } from '../protocol/index.ts';
import { spiffeIdFor } from '../protocol/index.ts';
import { grantRoles, isServiceAccountAllowed } from './allow.ts';
import { issueLeaf, type CertificateAuthority, type PresentedLeaf } from './ca.ts';
import { JOIN_STORAGE_DETAIL, ProblemError, problemOf } from './errors.ts';
import { recordJoin, type RecordPolicy } from './inventory.ts';
import type { AuthStorage } from './storage/types.ts';
import { isTokenExpired } from './tokens.ts';
import type { KubeIdentity, ValidatorSet } from './validators/types.ts';

export interface JoinContext {
  storage: AuthStorage;
  validators: ValidatorSet;
  /** The CA that signs now and the bundle peers must trust (both change during a CA rotation). */
  authority: () => { signing: CertificateAuthority; bundlePem: string };
  /** Trust domain of SPIFFE IDs and the audience ServiceAccount tokens must carry. */
  clusterName: string;
  certTtlMs: number;
  maxCertTtlMs: number;
  now: () => number;
  /** How long inventory records stay, and how many one ServiceAccount may hold. */
  inventory: RecordPolicy;
}

/** What the audit log records of a decided join: who, with which token; never the token itself. */
export interface JoinAudit {
  tokenName: string;
  agentVersion?: string;
  namespace?: string;
  serviceAccount?: string;
  podName?: string;
  hostId?: string;
  roles?: string[];
  serial?: string;
  /** A renewal by identity (a valid certificate presented), or a first join. */
  kind?: 'join' | 'renewal';
  /** What became of the inventory record: written, refused by the per-ServiceAccount cap, or failed. */
  inventory?: 'recorded' | 'full' | 'failed';
  inventoryError?: string;
  /** Inventory keys of older pods whose apps this pod took over (a redeploy). */
  superseded?: string[];
}

/** A decided join: the answer to send and the one audit record to log, whichever way it went. */
export type JoinDecision =
  | { outcome: 'issued'; response: JoinResponse; audit: JoinAudit }
  | { outcome: 'refused'; problem: ProblemError; audit: JoinAudit };

/**
 * Decides one join, in this order: provision token exists, is not expired, is for the kubernetes
 * method; the ServiceAccount token proves an identity (signature before claims); that identity is on
 * the allow list; the requested roles are on the token; a hostId in the request names the token's pod;
 * the CSR proves possession. Only then is a certificate signed, and the pod recorded in the inventory
 * (best effort: a certificate is never withheld for the inventory's sake). Never throws: a refusal is
 * a decision too, with its problem, and the audit is filled as far as the decision got.
 *
 * A renewal by identity (`presented`: the agent's still-valid certificate, verified by TLS) differs in
 * three places: the provision token's expiry is not checked (it gates first joins only; deleting the
 * token still revokes), the ServiceAccount token must prove the very pod and join of the certificate,
 * and the roles cannot grow past the certificate's.
 */
export async function decideJoin(ctx: JoinContext, request: JoinRequest, presented?: PresentedLeaf): Promise<JoinDecision> {
  const audit: JoinAudit = { tokenName: request.tokenName, agentVersion: request.agentVersion, kind: presented ? 'renewal' : 'join' };
  try {
    const response = await issue(ctx, request, audit, presented);
    await record(ctx, request, response, audit);
    return { outcome: 'issued', response, audit };
  } catch (err) {
    return { outcome: 'refused', problem: problemOf(err, () => JOIN_STORAGE_DETAIL), audit };
  }
}

/** Writes the inventory record of an issued join into the audit: recorded, full, or failed (why). */
async function record(ctx: JoinContext, request: JoinRequest, response: JoinResponse, audit: JoinAudit): Promise<void> {
  const facts = { ...response.identity, nodeName: request.nodeName, apps: request.apps ?? [], tokenName: request.tokenName, agentVersion: request.agentVersion, notAfter: new Date(response.notAfter) };
  try {
    const result = await recordJoin(ctx.storage, facts, ctx.now(), ctx.inventory);
    audit.inventory = result.recorded ? 'recorded' : 'full';
    if (result.superseded.length > 0) audit.superseded = result.superseded;
  } catch (err) {
    audit.inventory = 'failed';
    audit.inventoryError = (err as Error).message;
  }
}

/** The checks and the signature of decideJoin; throws ProblemError for a refusal. */
async function issue(ctx: JoinContext, request: JoinRequest, audit: JoinAudit, presented: PresentedLeaf | undefined): Promise<JoinResponse> {
  const token = await ctx.storage.getToken(request.tokenName);
  if (token === undefined) throw new ProblemError('token_not_found', 401, `provision token "${request.tokenName}" does not exist`);
  if (presented === undefined && isTokenExpired(token, ctx.now())) throw new ProblemError('token_expired', 401, `provision token "${request.tokenName}" expired at ${token.metadata.expires.toISOString()}`);
  if (request.joinMethod !== token.spec.join_method) {
    throw new ProblemError('join_method_mismatch', 401, `provision token "${request.tokenName}" is for join method "${token.spec.join_method}", not "${request.joinMethod}"`);
  }
  if (token.spec.kubernetes.type === 'pod_certificate') {
    throw new ProblemError('join_method_mismatch', 401, `provision token "${request.tokenName}" is for podCertificate requests (type pod_certificate), which the kubelet makes; an agent cannot join with it`);
  }
  const validator = ctx.validators[token.spec.kubernetes.type];
  if (validator === undefined) throw new ProblemError('internal', 500, `this auth service is not configured for kubernetes type "${token.spec.kubernetes.type}"`);
  const who = await validator.validate(request.kubernetesToken, token);
  Object.assign(audit, { namespace: who.namespace, serviceAccount: who.serviceAccount, podName: who.podName });
  if (presented !== undefined) checkSameJoin(presented, who, request.tokenName);

  if (!isServiceAccountAllowed(token, who.namespace, who.serviceAccount)) {
    throw new ProblemError('service_account_not_allowed', 403, `ServiceAccount ${who.namespace}:${who.serviceAccount} is not in the allow list of provision token "${request.tokenName}"`);
  }
  // A renewal asks by default for what it holds, less what the token no longer grants.
  const requested = request.roles ?? presented?.roles.filter((r) => token.spec.roles.includes(r));
  const roles = grantRoles(token, requested);
  if ('denied' in roles) {
    throw new ProblemError('roles_not_allowed', 403, `provision token "${request.tokenName}" does not grant role${roles.denied.length > 1 ? 's' : ''} ${roles.denied.join(', ')} (it grants ${token.spec.roles.join(', ')})`);
  }
  const grown = presented === undefined ? [] : roles.granted.filter((r) => !presented.roles.includes(r));
  if (grown.length > 0 || roles.granted.length === 0) {
    throw new ProblemError('roles_not_allowed', 403, `a renewal cannot add roles: ${grown.join(', ') || 'none left'} (the certificate holds ${presented?.roles.join(', ')}); join anew without the certificate for more`);
  }
  // The host is the pod the token proves, never a name the request chooses: a chosen name would let one
  // workload take another's CN or inventory entry. An agent that still sends hostId must agree.
  const hostId = who.podName;
  if (request.hostId !== undefined && request.hostId !== hostId) {
    throw new ProblemError('host_id_mismatch', 403, `hostId "${request.hostId}" is not the pod the ServiceAccount token is bound to ("${hostId}"); the host ID comes from the token, so leave it out`);
  }
  const ttlMs = Math.min(request.ttlSeconds !== undefined ? request.ttlSeconds * 1000 : ctx.certTtlMs, ctx.maxCertTtlMs);
  Object.assign(audit, { hostId, roles: roles.granted });

  const now = ctx.now();
  // One reading for both: the leaf must chain to a CA of the bundle it is sent with.
  const { signing, bundlePem } = ctx.authority();
  const leaf = await issueLeaf(signing, {
    csrPem: request.csr,
    hostId,
    namespace: who.namespace,
    serviceAccount: who.serviceAccount,
    roles: roles.granted,
    binding: { podUid: who.podUid, tokenName: request.tokenName },
    trustDomain: ctx.clusterName,
    ttlMs,
    now,
  });
  audit.serial = leaf.serialNumber;
  const identity: Identity = {
    hostId,
    namespace: who.namespace,
    serviceAccount: who.serviceAccount,
    podName: who.podName,
    podUid: who.podUid,
    roles: roles.granted,
    spiffeId: spiffeIdFor(ctx.clusterName, who.namespace, who.serviceAccount),
  };
  return {
    certificateChain: leaf.toString('pem') + '\n',
    caBundle: bundlePem,
    notAfter: leaf.notAfter.toISOString(),
    identity,
  };
}

/**
 * A renewal's ServiceAccount token must prove the pod the presented certificate was issued to (name and
 * UID, so not a later pod of the same name), and name the same provision token.
 */
function checkSameJoin(presented: PresentedLeaf, who: KubeIdentity, tokenName: string): void {
  const same = presented.namespace === who.namespace && presented.serviceAccount === who.serviceAccount && presented.podName === who.podName && presented.podUid === who.podUid;
  if (!same) {
    throw new ProblemError('renewal_identity_mismatch', 403, `the certificate presented for renewal belongs to pod ${presented.namespace}/${presented.podName} (${presented.serviceAccount}), not to the pod the ServiceAccount token proves (${who.namespace}/${who.podName}, ${who.serviceAccount})`);
  }
  if (presented.tokenName !== tokenName) {
    throw new ProblemError('renewal_identity_mismatch', 403, `the certificate presented for renewal was issued through provision token "${presented.tokenName}", not "${tokenName}"`);
  }
}
