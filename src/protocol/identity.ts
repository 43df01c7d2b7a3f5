/**
 * OID of the leaf extension that lists the roles as a DER SEQUENCE OF UTF8String. Roles also appear as
 * one subject OU each, for tools that only read the subject; the extension is the unambiguous source.
 * The arc is Teleport's experimental 1.3.9999 arc, used there for the same kind of attribute.
 */
export const ROLES_EXTENSION_OID = '1.3.9999.2.1';

/**
 * OID of the leaf extension that binds a certificate to the join it came from: a DER SEQUENCE of the
 * pod UID and the provision token name (UTF8Strings). A renewal presents the certificate, and the new
 * ServiceAccount token must prove this same pod; the SPIFFE ID alone names only the ServiceAccount.
 */
export const JOIN_BINDING_EXTENSION_OID = '1.3.9999.2.3';

/**
 * A cluster name: a lower-case DNS name, as it is the SPIFFE trust domain of every identity and the
 * audience of ServiceAccount tokens. Both sides check it the same way.
 */
export const CLUSTER_NAME_PATTERN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** The workload's SPIFFE ID, as the leaf's URI SAN carries it. */
export function spiffeIdFor(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/**
 * The auth service's own SPIFFE ID, carried as a URI SAN by its serving certificate and by nothing
 * else the CA signs. Agents check it before a token leaves the pod: a workload certificate chains to
 * the same CA, so the chain alone does not tell the auth service from a workload. Workload IDs always
 * have the path `/ns/<namespace>/sa/<name>`, so no workload can be issued this one.
 */
export function authSpiffeIdFor(trustDomain: string): string {
  return `spiffe://${trustDomain}/kube-join/auth`;
}
