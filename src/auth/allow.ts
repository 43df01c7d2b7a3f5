import type { ProvisionToken } from './tokens.ts';

/**
 * Whether a ServiceAccount may join with `token`: one allow rule must name exactly `namespace:name`.
 * Exact matching only, as SPIRE and Teleport do; a rule is a grant of identity, not a pattern.
 */
export function isServiceAccountAllowed(token: ProvisionToken, namespace: string, serviceAccount: string): boolean {
  const wanted = `${namespace}:${serviceAccount}`;
  return token.spec.kubernetes.allow.some((rule) => rule.service_account === wanted);
}

/**
 * The roles to grant: the requested ones if all are on the token (the token's list when none are
 * requested), else the roles that are not allowed, as requested. Names match case-insensitively (an
 * agent's `--roles app` asks for App) and are granted in the token's spelling, the canonical one.
 */
export function grantRoles(token: ProvisionToken, requested: readonly string[] | undefined): { granted: string[] } | { denied: string[] } {
  if (requested === undefined || requested.length === 0) return { granted: [...token.spec.roles] };
  const onToken = new Map(token.spec.roles.map((r) => [r.toLowerCase(), r]));
  const denied = requested.filter((r) => !onToken.has(r.toLowerCase()));
  return denied.length > 0 ? { denied } : { granted: [...new Set(requested.map((r) => onToken.get(r.toLowerCase()) as string))] };
}

/** Splits `system:serviceaccount:NS:SA`, the username Kubernetes gives a ServiceAccount. */
export function parseServiceAccountUsername(username: string): { namespace: string; serviceAccount: string } | undefined {
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username);
  return m ? { namespace: m[1] as string, serviceAccount: m[2] as string } : undefined;
}
