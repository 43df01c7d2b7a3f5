import { ProblemError } from './errors.ts';
import type { KubeIdentity } from './validators/types.ts';

/** A namespace is a DNS-1123 label. */
export const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** ServiceAccount and pod names are DNS-1123 subdomains. */
export const SUBDOMAIN_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
/** A pod UID as the apiserver makes them (a UUID); bounded, for the inventory key and the audit line. */
const POD_UID = /^[0-9a-zA-Z-]{1,64}$/;

/**
 * Every validator checks the identity it proved with this before returning it: it must be made of
 * Kubernetes names before it becomes a CN, a SPIFFE ID or an inventory key: a signed token is trusted for who it names, not for the shape of the names, and
 * an oidc or static_jwks issuer is not necessarily a Kubernetes apiserver. Throws kube_token_invalid.
 */
export function checkKubeIdentity(who: KubeIdentity): void {
  const bad =
    !NAMESPACE_NAME.test(who.namespace) ? 'namespace'
      : !SUBDOMAIN_NAME.test(who.serviceAccount) ? 'ServiceAccount name'
        : !SUBDOMAIN_NAME.test(who.podName) ? 'pod name'
          : !POD_UID.test(who.podUid) ? 'pod UID'
            : undefined;
  if (bad !== undefined) throw new ProblemError('kube_token_invalid', 401, `the ServiceAccount token's ${bad} is not a valid Kubernetes ${bad === 'pod UID' ? 'UID' : 'name'}`);
}
