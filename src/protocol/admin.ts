import { join } from 'node:path';
import { z } from 'zod';
import { AppSpecSchema, IdentitySchema } from './schemas.ts';

/**
 * The auth service's state directory as the admin commands find it: the service writes the address it
 * listens on and the admin identity there, and `kube-join token ...` inside its pod reads them back. One
 * contract for both sides, so neither can rename a file the other still looks for.
 */
export const DEFAULT_STATE_DIR = '/var/lib/kube-join';
/** File in the state directory holding `host:port` of the running auth service. */
export const AUTH_ADDRESS_FILE = 'auth.addr';
/** Folder in the state directory holding the admin identity (a copy of it is what `--identity` names). */
export const ADMIN_IDENTITY_DIR = 'admin';

/** The files of an admin identity folder: client key, client certificate, CA bundle. */
export interface AdminIdentityFiles {
  key: string;
  cert: string;
  ca: string;
}

/** The files of the admin identity folder `dir` (`<state-dir>/admin`, or a copy given with `--identity`). */
export function adminIdentityFiles(dir: string): AdminIdentityFiles {
  return { key: join(dir, 'tls.key'), cert: join(dir, 'tls.crt'), ca: join(dir, 'ca.crt') };
}

/** Where the auth service writes, and the admin commands read, its address and admin identity. */
export function stateDirPaths(stateDir: string): { authAddress: string; adminIdentity: string } {
  return { authAddress: join(stateDir, AUTH_ADDRESS_FILE), adminIdentity: join(stateDir, ADMIN_IDENTITY_DIR) };
}

/** Admin API paths; every one needs an admin client certificate (mutual TLS). */
export const ADMIN_TOKENS_PATH = '/v1/admin/tokens';
export const ADMIN_INVENTORY_PATH = '/v1/admin/inventory';

/**
 * OID of the extension that marks an admin client certificate. The auth service writes it only into
 * the admin identity it makes for itself; certificates issued to agents never carry it.
 */
export const ADMIN_EXTENSION_OID = '1.3.9999.2.2';

/** One joined agent, as the inventory keeps it and `apps ls` reads it. */
export const AgentRecordSchema = IdentitySchema.omit({ spiffeId: true })
  .extend({
    nodeName: z.string().optional(),
    apps: z.array(AppSpecSchema),
    tokenName: z.string(),
    agentVersion: z.string(),
    firstJoin: z.iso.datetime(),
    lastJoin: z.iso.datetime(),
    notAfter: z.iso.datetime(),
    /** When the entry leaves the inventory: notAfter plus the grace period. */
    expiresAt: z.iso.datetime(),
    /**
     * The key of a newer pod of the same workload that took over this pod's apps (a redeploy):
     * `apps ls` no longer lists this one, which stays until it expires.
     */
    supersededBy: z.string().optional(),
    /** When the auth service found this pod gone (--inventory-check-pods): `apps ls` no longer lists it. */
    podGoneAt: z.iso.datetime().optional(),
  })
  .strict();
export type AgentRecord = z.infer<typeof AgentRecordSchema>;

export const InventorySchema = z.object({ agents: z.array(AgentRecordSchema) }).strict();
export type Inventory = z.infer<typeof InventorySchema>;

/** An expiry as the admin API and commands write it: RFC 3339 in UTC, without milliseconds (`2026-12-01T20:00:00Z`). */
export function formatExpiry(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A provision token as `token ls` shows it (the YAML itself comes from GET /v1/admin/tokens/NAME). */
export const TokenSummarySchema = z
  .object({
    name: z.string(),
    type: z.string(),
    roles: z.array(z.string()),
    allow: z.array(z.string()),
    expires: z.iso.datetime(),
    expired: z.boolean(),
    /** Live agents in the inventory that joined through this token (renewals keep them there). */
    agents: z.number().int().nonnegative(),
  })
  .strict();
export type TokenSummary = z.infer<typeof TokenSummarySchema>;
export const TokenListSchema = z.object({ tokens: z.array(TokenSummarySchema) }).strict();

/** The CA and its rotation: GET shows them (`kube-join ca`), POST …/rotate steps a rotation. */
export const ADMIN_CA_PATH = '/v1/admin/ca';
export const ADMIN_CA_ROTATE_PATH = '/v1/admin/ca/rotate';

/** The phases of a CA rotation, in order (Teleport's, with dashes). */
export const CA_ROTATION_PHASES = ['standby', 'init', 'update-clients', 'update-servers'] as const;

/** One CA of the rotation state, as `kube-join ca` shows it. */
export const CaEntrySchema = z
  .object({
    /** current: in use at standby, or being replaced; next: being rotated in; previous: replaced, leaving the bundle. */
    role: z.enum(['current', 'next', 'previous']),
    subject: z.string(),
    /** `sha256:<hex>` of its SubjectPublicKeyInfo, the form of the agent's --ca-pin. */
    pin: z.string(),
    notBefore: z.iso.datetime(),
    notAfter: z.iso.datetime(),
    inBundle: z.boolean(),
    /** previous only: when it leaves the bundle (every leaf it signed has expired by then). */
    retireAt: z.iso.datetime().optional(),
  })
  .strict();
export type CaEntry = z.infer<typeof CaEntrySchema>;

export const CaStatusSchema = z
  .object({
    clusterName: z.string(),
    phase: z.enum(CA_ROTATION_PHASES),
    /** How the latest rotation ran: phased (step by step) or manual (all at once). */
    mode: z.enum(['phased', 'manual']),
    changedAt: z.iso.datetime(),
    /** Pin of the CA that signs agents' certificates now. */
    signing: z.string(),
    /** Pin of the CA that signed the auth service's serving certificate now. */
    serving: z.string(),
    /** Pins of every CA in the bundle (GET /v1/ca, the join answer's caBundle, the ConfigMap). */
    bundlePins: z.array(z.string()),
    /** An automatic rotation (--auto): when it steps to the next phase by itself. */
    nextStepAt: z.iso.datetime().optional(),
    /**
     * Live agents in the inventory, and how many of them joined since the phase began (so hold the
     * bundle of this phase, or a leaf of its signing CA): step on when they are all there.
     */
    agents: z.object({ live: z.number().int().nonnegative(), joinedSinceChange: z.number().int().nonnegative() }).strict().optional(),
    cas: z.array(CaEntrySchema),
  })
  .strict();
export type CaStatus = z.infer<typeof CaStatusSchema>;

/**
 * POST …/rotate: one phase step; an immediate rotation (`manual`) whose old CA leaves after
 * `graceSeconds`; or an automatic one (`auto`) that steps through every phase within `graceSeconds`.
 */
export const CaRotateRequestSchema = z.union([
  z.object({ phase: z.enum(CA_ROTATION_PHASES) }).strict(),
  z.object({ manual: z.literal(true), graceSeconds: z.number().int().nonnegative() }).strict(),
  z.object({ auto: z.literal(true), graceSeconds: z.number().int().positive() }).strict(),
]);
export type CaRotateRequest = z.infer<typeof CaRotateRequestSchema>;
