/**
 * OID of the leaf extension that lists the roles as a DER SEQUENCE OF UTF8String. Roles also appear as
 * one subject OU each, for tools that only read the subject; the extension is the unambiguous source.
 * The arc is Teleport's experimental 1.3.9999 arc, used there for the same kind of attribute.
 */
export const ROLES_EXTENSION_OID = '1.3.9999.2.1';

/** The workload's SPIFFE ID, as the leaf's URI SAN carries it. */
export function spiffeIdFor(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}
